/**
 * Failing documents: a document whose processing cannot succeed fails at once with its stage
 * and code; one whose failure may be transient is retried with backoff, then fails; other
 * documents keep flowing meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { FIXTURES, fixturePath } from './fixtures/manifest.ts';
import { ensureFixtures } from './fixtures/generate.ts';
import { startHub, waitFor, type HubProcess } from './helpers/hub.ts';

const STATE = `query($id: ID!) { document(id: $id) {
  status error { code message stage } job { status attempts error { code stage } }
} }`;

async function settled(hub: HubProcess, id: string) {
  return waitFor(
    async () => {
      const { data } = await hub.gql(STATE, { id });
      const doc = data.document;
      return doc && (doc.status === 'PROCESSED' || doc.status === 'FAILED') ? doc : undefined;
    },
    240_000,
    `document ${id} settled`,
  );
}

test('failures are recorded with stage and code, transient ones retried, others keep flowing', { timeout: 400_000 }, async (t) => {
  await ensureFixtures();
  const hub = await startHub({ seedOwner: true, env: { JOB_MAX_ATTEMPTS: '2', JOB_RETRY_BASE_MS: '200', JOB_TIMEOUT_MS: '4000' } });
  t.after(() => hub.stop());

  // Passes the upload checks (PDF header and end marker) but is no PDF inside.
  const broken = new TextEncoder().encode('%PDF-1.7\n1 0 obj\n<< this is not a pdf body >>\nendobj\n%%EOF\n');
  const bad = await hub.upload({ name: 'broken.pdf', data: broken });
  assert.equal(bad.status, 202);
  // Thirty scanned pages cannot finish within the 4 s job timeout: a retryable failure.
  const slow = await hub.upload({ name: 'slow.pdf', data: await readFile(fixturePath(FIXTURES['scanned-30-pages.pdf'].file)) });
  assert.equal(slow.status, 202);
  const fine = await hub.upload({ name: 'notes.txt', data: await readFile(fixturePath(FIXTURES['notes.txt'].file)) });
  assert.equal(fine.status, 202);

  const badDoc = await settled(hub, bad.body.documentId);
  assert.equal(badDoc.status, 'FAILED');
  assert.equal(badDoc.error.code, 'PDF_UNREADABLE');
  assert.ok(badDoc.error.stage, 'the failing stage is named');
  assert.equal(badDoc.job.status, 'FAILED');
  assert.equal(badDoc.job.attempts, 1, 'a document that cannot be read is not retried');

  const fineDoc = await settled(hub, fine.body.documentId);
  assert.equal(fineDoc.status, 'PROCESSED');

  const slowDoc = await settled(hub, slow.body.documentId);
  assert.equal(slowDoc.status, 'FAILED');
  assert.equal(slowDoc.error.code, 'JOB_TIMEOUT');
  assert.equal(slowDoc.job.attempts, 2, 'a transient failure is retried up to JOB_MAX_ATTEMPTS');

  // A failed document can be processed again on request.
  const again = await hub.gql('mutation($id: ID!) { reprocessDocument(id: $id) { document { status } } }', {
    id: bad.body.documentId,
  });
  assert.equal(again.data.reprocessDocument.document.status, 'QUEUED');
});
