/**
 * One upload never takes the hub down or holds its worker: a job stopped in the middle of an
 * embedding call ends its pipeline process only, a document too long to embed fails before it
 * starts, and deleting a document stops its running job at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { settledDocument, startHub, waitFor, type HubProcess } from './helpers/hub.ts';

/** A plain text of about `passages` chunks (about 13 lines each), unique to `seed`. */
function longText(seed: string, passages: number): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < passages * 13; i += 1)
    lines.push(`Line ${i} of ${seed}: the quarterly report shows revenue growth in region ${i % 97}.`);
  return new TextEncoder().encode(lines.join('\n'));
}

const FIELDS = 'error { code stage } job { status stage attempts }';
const STATE = `query($id: ID!) { document(id: $id) { status ${FIELDS} } }`;

interface DocumentState {
  status: string;
  error: { code: string; stage: string } | null;
  job: { status: string; stage: string | null; attempts: number };
}

async function state(hub: HubProcess, id: string) {
  const { data } = await hub.gql(STATE, { id });
  return data?.document as DocumentState | null;
}

const settled = (hub: HubProcess, id: string, timeoutMs: number) => settledDocument<DocumentState>(hub, id, timeoutMs, FIELDS);

async function healthy(hub: HubProcess, pid: number): Promise<void> {
  assert.equal(hub.child.pid, pid);
  assert.equal(hub.child.exitCode, null, `the hub exited:\n${hub.output().slice(-3000)}`);
  assert.equal(hub.child.signalCode, null, `the hub was killed:\n${hub.output().slice(-3000)}`);
  const res = await fetch(`${hub.url}/healthz`);
  assert.equal(res.status, 200);
}

test('long jobs are bounded and stoppable, and never take the hub down', { timeout: 300_000 }, async (t) => {
  const hub = await startHub({
    seedOwner: true,
    env: { JOB_TIMEOUT_MS: '12000', MAX_CHUNKS: '3000', JOB_MAX_ATTEMPTS: '1', LOG_LEVEL: 'info' },
  });
  t.after(() => hub.stop());
  const pid = hub.child.pid!;

  await t.test('a document that would need more passages than MAX_CHUNKS fails before it is embedded', async () => {
    const up = await hub.upload({ name: 'too-long.txt', data: longText('too-long', 4000) });
    assert.equal(up.status, 202);
    const started = Date.now();
    const doc = await settled(hub, up.body.documentId, 60_000);
    assert.equal(doc.status, 'FAILED');
    assert.deepEqual([doc.error?.code, doc.error?.stage], ['DOCUMENT_TOO_LONG', 'chunk']);
    assert.ok(Date.now() - started < 30_000, 'it failed without embedding');
    await healthy(hub, pid);
  });

  await t.test('a timeout in the middle of embedding fails that document and leaves the hub up', async () => {
    const up = await hub.upload({ name: 'slow.txt', data: longText('slow', 2500) });
    assert.equal(up.status, 202);
    await waitFor(async () => (await state(hub, up.body.documentId))?.job.stage === 'embed', 30_000, 'the embed stage');
    const doc = await settled(hub, up.body.documentId, 60_000);
    assert.deepEqual([doc.status, doc.error?.code], ['FAILED', 'JOB_TIMEOUT']);
    await healthy(hub, pid);
    const next = await hub.upload({
      name: 'after-timeout.txt',
      data: new TextEncoder().encode('Minutes of the board meeting after the timeout.'),
    });
    assert.equal((await settled(hub, next.body.documentId, 60_000)).status, 'PROCESSED');
  });

  await t.test('deleting a document stops its running job at once', async () => {
    const up = await hub.upload({ name: 'deleted.txt', data: longText('deleted', 2500) });
    assert.equal(up.status, 202);
    const id: string = up.body.documentId;
    await waitFor(async () => (await state(hub, id))?.job.stage === 'embed', 30_000, 'the embed stage');
    const deleted = await hub.gql('mutation($id: ID!) { deleteDocument(id: $id) }', { id });
    assert.equal(deleted.errors, undefined);
    const deletedAt = Date.now();

    // The worker is free at once, not after the deleted job's 12 s timeout.
    const next = await hub.upload({
      name: 'after-delete.txt',
      data: new TextEncoder().encode('Invoice 17 for the stationery order, due in March.'),
    });
    assert.equal((await settled(hub, next.body.documentId, 60_000)).status, 'PROCESSED');
    const freedAfter = Date.now() - deletedAt;
    t.diagnostic(`the next document was processed ${freedAfter} ms after the delete`);
    assert.ok(freedAfter < 8_000, `the worker stayed busy ${freedAfter} ms after the delete`);

    // Nothing of the deleted document's job is written or retried afterwards.
    await sleep(1500);
    const log = hub.output();
    assert.doesNotMatch(log, /progress not persisted/);
    assert.doesNotMatch(
      log
        .split('\n')
        .filter((l) => l.includes(id))
        .join('\n'),
      /processing failed|"final":false/,
    );
    assert.equal(await state(hub, id), null);
    const found = await hub.gql('query { search(query: "quarterly report deleted", mode: TEXT, first: 50) { document { id } } }');
    assert.equal(found.errors, undefined);
    assert.deepEqual(
      found.data.search.filter((hit: { document: { id: string } }) => hit.document.id === id),
      [],
      'no passage of the deleted document is found',
    );
    await healthy(hub, pid);
  });
});
