/**
 * Durability of the embedded default: a hub killed with SIGKILL right after answering 202
 * loses nothing; after a restart on the same data directory every accepted document is
 * processed and searchable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { FIXTURES, fixturePath } from './fixtures/manifest.ts';
import { ensureFixtures } from './fixtures/generate.ts';
import { startHub, waitFor } from './helpers/hub.ts';

test('kill -9 after the 202 loses nothing: the jobs run after a restart', { timeout: 400_000 }, async (t) => {
  await ensureFixtures();
  const files = [FIXTURES['scanned-invoice.png'], FIXTURES['scanned-order.pdf'], FIXTURES['notes.txt']];
  const first = await startHub({ seedOwner: true });
  t.after(() => rm(first.dataDir, { recursive: true, force: true }));

  const accepted: { documentId: string; phrase: string }[] = [];
  for (const fx of files) {
    const res = await first.upload({ name: fx.file, data: await readFile(fixturePath(fx.file)) });
    assert.equal(res.status, 202);
    accepted.push({ documentId: res.body.documentId, phrase: fx.phrase! });
  }
  // No chance to finish: the first upload is still being processed when the process dies.
  const before = await first.gql('{ documents(first: 10) { nodes { id status } } }');
  assert.ok(
    before.data.documents.nodes.some((n: any) => n.status !== 'PROCESSED'),
    'some work was still pending at the kill',
  );
  await first.kill9();

  const second = await startHub({ dataDir: first.dataDir, seedOwner: true });
  t.after(() => second.stop({ keepData: true }));
  for (const { documentId, phrase } of accepted) {
    const doc = await waitFor(
      async () => {
        const { data } = await second.gql('query($id: ID!) { document(id: $id) { status error { code message } } }', {
          id: documentId,
        });
        return data.document?.status === 'PROCESSED' || data.document?.status === 'FAILED' ? data.document : undefined;
      },
      240_000,
      `document ${documentId} processed after restart`,
    );
    assert.equal(doc.status, 'PROCESSED', JSON.stringify(doc.error));
    const { data } = await second.gql('query($q: String!) { search(query: $q, mode: TEXT, first: 1) { document { id } } }', {
      q: phrase,
    });
    assert.equal(data.search[0]?.document.id, documentId, `"${phrase}" finds its document after the restart`);
  }
});
