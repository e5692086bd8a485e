/**
 * Scale-out on real processes: a NATS server with JetStream, `quire hub` (no pipeline) and two
 * `quire processor` nodes that have no store, index or blob store. Uploads are processed by
 * both nodes and followed live over Socket.IO and graphql-ws; the dashboard lists the nodes; a
 * team's labelled examples reach a remote node; and the topology survives its faults: a node
 * killed or stopped mid-job, the hub killed while nodes work, NATS restarted during ingest.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { ensureFixtures } from './fixtures/generate.ts';
import { fixturePath } from './fixtures/manifest.ts';
import { ensureHostileCorpus, hostilePath, type HostileFile } from './hostile/generate.ts';
import { repoRoot, settledDocument, startHub, waitFor, type HubProcess } from './helpers/hub.ts';
import { startNats, startProcessor, type NatsServer, type ProcessorProcess } from './helpers/topology.ts';

let nats: NatsServer;
let hub: HubProcess;
const nodes: ProcessorProcess[] = [];
let socket: Socket;
let ws: Client;
const socketEvents: { name: string; payload: any }[] = [];
const prefix = `topo-${randomUUID().slice(0, 8)}`;

const hubModules = join(tmpdir(), `quire-hub-modules-${prefix}.json`);
const hubOptions = () => ({
  seedOwner: true,
  role: 'hub' as const,
  env: { BUS: 'nats', NATS_URL: nats.url, NATS_PREFIX: prefix, QUIRE_LOADED_MODULES_FILE: hubModules },
  nodeArgs: ['--import', join(repoRoot, 'test/helpers/module-report.mjs')],
});

const DOCUMENT = `query($id: ID!) {
  document(id: $id) {
    status type pageCount chunkCount error { code stage }
    classification { type { label } method }
    fields { number { value } total { value } }
    pages { number text }
  }
}`;

/** Progress events seen over Socket.IO for a job, and the nodes they came from. */
const progressOf = (jobId: string) =>
  socketEvents.filter((e) => e.name === 'job:progress' && e.payload.jobId === jobId).map((e) => e.payload);
const processedEvents = (documentId: string) =>
  socketEvents.filter((e) => e.name === 'document:changed' && e.payload.documentId === documentId && e.payload.status === 'processed');

async function connectClients(): Promise<void> {
  socket = io(hub.url, { transports: ['websocket'], auth: { token: hub.ownerToken } });
  socket.onAny((name, payload) => socketEvents.push({ name, payload }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  assert.deepEqual(await socket.emitWithAck('subscribe', { team: true }), { ok: true });
  ws = createClient({
    url: hub.url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    lazy: false,
    connectionParams: { token: hub.ownerToken },
  });
}

async function disconnectClients(): Promise<void> {
  socket?.disconnect();
  await ws?.dispose();
}

/** Uploads a fixture (under another name, so the same bytes can go twice) and answers its ids. */
async function uploadFixture(file: string, options: { as?: string; suffix?: string } = {}): Promise<{ documentId: string; jobId: string }> {
  let data: Uint8Array = await readFile(fixturePath(file));
  // The same bytes twice are one document: a text file gets a last line of its own, a PDF a
  // comment after its end.
  if (options.suffix)
    data = Buffer.concat([data, Buffer.from(file.endsWith('.pdf') ? `\n% ${options.suffix}\n` : `\n${options.suffix}\n`)]);
  const res = await hub.upload({ name: options.as ?? file, data });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body;
}

/** Follows a job over graphql-ws until its subscription completes; answers every message. */
function followJob(jobId: string): Promise<any[]> {
  const seen: any[] = [];
  return new Promise((resolve, reject) => {
    ws.subscribe(
      { query: `subscription($jobId: ID!) { jobProgress(jobId: $jobId) { stage percent status } }`, variables: { jobId } },
      {
        next: (msg) => (msg.errors ? reject(new Error(JSON.stringify(msg.errors))) : seen.push(msg.data!.jobProgress)),
        error: reject,
        complete: () => resolve(seen),
      },
    );
  });
}

const dashboardNodes = async () =>
  (await hub.gql(`{ dashboard { nodes { id host device executionProvider models concurrency activeJobs jobsDone } } }`)).data.dashboard
    .nodes as any[];

before(async () => {
  await ensureFixtures();
  nats = await startNats();
  hub = await startHub(hubOptions());
  nodes.push(...(await Promise.all([0, 1].map(() => startProcessor({ natsUrl: nats.url, prefix })))));
  await connectClients();
});

after(async () => {
  // Each step runs even when one before it failed, so nothing is left behind.
  const steps: (() => Promise<unknown>)[] = [
    disconnectClients,
    ...nodes.map((node) => async () => {
      await node.stop({ graceMs: 5000 });
      await node.cleanUp();
    }),
    async () => hub?.stop(),
    async () => nats?.stop(),
    () => rm(hubModules, { force: true }),
  ];
  const failures = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw new AggregateError(failures, 'clean-up failed');
});

describe('quire hub with two quire processor nodes on NATS', () => {
  test('the dashboard lists both nodes with what they are', { timeout: 60_000 }, async () => {
    const listed = await waitFor(
      async () => {
        const seen = await dashboardNodes();
        return nodes.every((n) => seen.some((s) => s.id === n.nodeId)) ? seen : undefined;
      },
      30_000,
      'both nodes on the dashboard',
    );
    for (const node of nodes) {
      const shown = listed.find((s) => s.id === node.nodeId);
      assert.equal(shown.device, 'CPU');
      assert.equal(shown.executionProvider, 'cpu');
      assert.deepEqual(shown.models, ['Xenova/all-MiniLM-L6-v2']);
      assert.equal(shown.concurrency, 1);
    }
    assert.ok(!listed.some((s) => s.id.endsWith(`:${hub.child.pid}`)), 'the hub runs no pipeline, so it is no node');
  });

  test('uploads are processed by both nodes, followed live to processed, with full results', { timeout: 400_000 }, async () => {
    const files = ['scanned-invoice.png', 'text-report.pdf', 'notes.md', 'notes.txt', 'scanned-order.pdf', 'scanned-letter.tiff'];
    const uploaded: { file: string; documentId: string; jobId: string }[] = [];
    for (const file of files) uploaded.push({ file, ...(await uploadFixture(file)) });
    const followed = await Promise.all(uploaded.map((u) => followJob(u.jobId)));

    const ranOn = new Set<string>();
    for (const [i, u] of uploaded.entries()) {
      assert.equal(followed[i]!.at(-1).status, 'SUCCEEDED', `${u.file}: ${JSON.stringify(followed[i]!.at(-1))}`);
      const doc = (await hub.gql(DOCUMENT, { id: u.documentId })).data.document;
      assert.equal(doc.status, 'PROCESSED', u.file);
      assert.ok(doc.pageCount >= 1 && doc.chunkCount >= 1, `${u.file}: pages and chunks`);
      assert.equal(doc.pages.length, doc.pageCount);
      assert.ok(doc.classification.type.label, `${u.file} classified`);
      const progress = progressOf(u.jobId);
      const stages = new Set(progress.map((p) => p.stage));
      for (const stage of ['detect', 'chunk', 'embed', 'classify', 'fields', 'done']) assert.ok(stages.has(stage), `${u.file}: ${stage}`);
      const workers = new Set(progress.filter((p) => p.stage !== 'done').map((p) => p.node));
      assert.equal(workers.size, 1, `${u.file} ran on one node: ${[...workers]}`);
      const [worker] = workers;
      assert.ok(
        nodes.some((n) => n.nodeId === worker),
        `${u.file} ran on a processor node, not ${worker}`,
      );
      assert.equal(progress.find((p) => p.stage === 'done')?.node, worker, 'the done event names the node that ran it');
      ranOn.add(worker!);
      await waitFor(async () => processedEvents(u.documentId).length === 1, 10_000, `${u.file}: processed event`);
    }
    assert.equal(ranOn.size, 2, 'each node processed some of the uploads');

    // What the pipeline found, as `quire all` finds it (test/e2e.test.ts checks the same fixtures).
    const invoice = (await hub.gql(DOCUMENT, { id: uploaded[0]!.documentId })).data.document;
    assert.equal(invoice.classification.type.label, 'invoice');
    assert.equal(invoice.fields.number?.value, 'INV-2024-0193');
    assert.ok(/northwind office supply/i.test(invoice.pages[0].text), 'OCR text');
    const found = await hub.gql(`query($q: String!) { search(query: $q, mode: HYBRID, first: 5) { document { id } } }`, {
      q: 'Northwind Office Supply',
    });
    assert.equal(found.errors, undefined, JSON.stringify(found.errors));
    assert.ok(
      found.data.search.some((h: any) => h.document.id === uploaded[0]!.documentId),
      'indexed and searchable on the hub',
    );

    // A rescan of the invoice, processed on a node, is proposed as its duplicate by the hub.
    const rescan = await uploadFixture('rescanned-invoice.jpg');
    assert.equal((await settledDocument(hub, rescan.documentId, 120_000)).status, 'PROCESSED');
    const matches = await hub.gql(`query($d: ID) { matches(documentId: $d) { kind documentAId documentBId score } }`, {
      d: rescan.documentId,
    });
    assert.equal(matches.errors, undefined, JSON.stringify(matches.errors));
    const duplicate = matches.data.matches.find((m: any) => m.kind === 'DUPLICATE');
    assert.deepEqual([duplicate?.documentAId, duplicate?.documentBId], [uploaded[0]!.documentId, rescan.documentId]);
    assert.ok(duplicate.score >= 0.95, `document similarity ${duplicate.score}`);

    const seen = await dashboardNodes();
    const done = nodes.map((n) => seen.find((s) => s.id === n.nodeId)?.jobsDone ?? 0);
    assert.equal(
      done.reduce((a, b) => a + b, 0),
      files.length + 1,
      `jobs done per node: ${done}`,
    );
  });

  test("a team's labelled examples change a remote node's classification", { timeout: 300_000 }, async () => {
    const first = await uploadFixture('notes.txt', { as: 'notes-a.txt', suffix: 'a' });
    const before = await settledDocument(hub, first.documentId, 120_000, 'classification { type { label } method }');
    assert.equal((before as any).classification.method, 'zero-shot', 'no labelled examples yet');
    const labelled = await hub.gql(`mutation($id: ID!) { setDocumentLabel(documentId: $id, kind: TYPE, label: "report") { id } }`, {
      id: first.documentId,
    });
    assert.equal(labelled.errors, undefined, JSON.stringify(labelled.errors));

    const second = await uploadFixture('notes.txt', { as: 'notes-b.txt', suffix: 'b' });
    const fields = 'classification { type { label confidence } sensitivity { label confidence } method }';
    const onNode = ((await settledDocument(hub, second.documentId, 120_000, fields)) as any).classification;
    assert.equal(onNode.method, 'few-shot', 'the node classified with the team example');

    // The hub classifies stored documents with the same settings as `quire all` does: it
    // finds what the node found.
    const re = await hub.gql(`mutation { reclassifyDocuments { documents examples } }`);
    assert.equal(re.errors, undefined, JSON.stringify(re.errors));
    assert.equal(re.data.reclassifyDocuments.examples, 1);
    const inHub = (await hub.gql(`query($id: ID!) { document(id: $id) { ${fields} } }`, { id: second.documentId })).data.document
      .classification;
    assert.equal(inHub.type.label, onNode.type.label);
    assert.equal(inHub.sensitivity.label, onNode.sensitivity.label);
    assert.ok(Math.abs(inHub.type.confidence - onNode.type.confidence) < 1e-3, `${inHub.type.confidence} ≈ ${onNode.type.confidence}`);
  });

  test('hostile documents fail alone, with a code, and the nodes keep working', { timeout: 300_000 }, async () => {
    await ensureHostileCorpus();
    const hostile: { file: HostileFile; codes: string[] | null }[] = [
      { file: 'broken-garbage.pdf', codes: ['PDF_UNREADABLE'] },
      { file: 'encrypted-user-password.pdf', codes: ['PDF_ENCRYPTED'] },
      // A decompression bomb: any code, as long as it ends and the node survives it.
      { file: 'png-inflates-100mb.png', codes: null },
    ];
    const sent = [];
    for (const h of hostile) {
      const res = await hub.upload({ name: h.file, data: await readFile(hostilePath(h.file)) });
      assert.equal(res.status, 202, `${h.file}: ${JSON.stringify(res.body)}`);
      sent.push({ ...h, documentId: res.body.documentId as string });
    }
    const ordinary = await uploadFixture('notes.md', { as: 'after-hostile.md', suffix: 'after hostile' });
    for (const h of sent) {
      const doc = await settledDocument(hub, h.documentId, 180_000, 'error { code }');
      if (doc.status === 'FAILED') {
        const code = (doc as any).error.code as string;
        assert.ok(h.codes === null ? /^[A-Z_]+$/.test(code) : h.codes.includes(code), `${h.file}: ${code}`);
      } else {
        assert.equal(h.codes, null, `${h.file} should have failed`);
      }
    }
    assert.equal((await settledDocument(hub, ordinary.documentId, 120_000)).status, 'PROCESSED');
    const alive = await dashboardNodes();
    for (const node of nodes)
      assert.ok(
        alive.some((n) => n.id === node.nodeId),
        `${node.nodeId} still works`,
      );
  });

  test('a node killed mid-job: the other node completes it, and the document is processed once', { timeout: 300_000 }, async () => {
    const { documentId, jobId } = await uploadFixture('scanned-30-pages.pdf');
    const running = await waitFor(
      async () => progressOf(jobId).find((p) => p.stage === 'ocr')?.node as string | undefined,
      120_000,
      'OCR started',
    );
    const victim = nodes.find((n) => n.nodeId === running)!;
    await victim.kill9();
    const survivor = nodes.find((n) => n !== victim)!;

    const doc = await settledDocument(hub, documentId, 240_000, 'chunkCount pages { number }');
    assert.equal(doc.status, 'PROCESSED');
    assert.equal((doc as any).pages.length, 30);
    assert.deepEqual(
      (doc as any).pages.map((p: any) => p.number),
      Array.from({ length: 30 }, (_, i) => i + 1),
      'one set of pages',
    );
    assert.equal(progressOf(jobId).find((p) => p.stage === 'done')?.node, survivor.nodeId, 'finished on the other node');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(processedEvents(documentId).length, 1, 'processed once');

    await victim.cleanUp();
    nodes.splice(nodes.indexOf(victim), 1);
    await waitFor(async () => !(await dashboardNodes()).some((n) => n.id === victim.nodeId), 15_000, 'the dead node leaves the dashboard');
  });

  test('a node stopped mid-job releases it; a processor never loads SQLite nor writes a data directory', { timeout: 300_000 }, async () => {
    const [node] = nodes;
    const { documentId, jobId } = await uploadFixture('scanned-30-pages.pdf', { as: 'again-30.pdf', suffix: 'again' });
    await waitFor(async () => progressOf(jobId).some((p) => p.node === node!.nodeId), 120_000, 'the job started on the node');
    const stoppedAt = Date.now();
    assert.equal(await node!.stop(), 0, 'a graceful exit');
    assert.ok(Date.now() - stoppedAt < 30_000, 'it did not wait for the job to end');

    const modules = await node!.loadedModules();
    assert.ok(modules && modules.length > 0, 'the module list was written');
    assert.ok(!modules!.some((m) => m.includes('better-sqlite3') || m.includes('sqlite-vec')), 'no SQLite module');
    assert.ok(
      modules!.some((m) => m.includes('/nats/')),
      'it did load the NATS client',
    );
    assert.ok(!modules!.some((m) => m.includes('onnxruntime-node')), 'its main process runs no model: its pipeline processes do');
    assert.deepEqual(await readdir(node!.cwd), [], 'no data directory or other file');
    await node!.cleanUp();
    nodes.splice(0, 1);

    // The released job waits on the bus for the next node.
    const next = await startProcessor({ natsUrl: nats.url, prefix });
    nodes.push(next);
    const doc = await settledDocument(hub, documentId, 240_000);
    assert.equal(doc.status, 'PROCESSED');
    assert.equal(progressOf(jobId).find((p) => p.stage === 'done')?.node, next.nodeId);
  });

  test('the hub killed while nodes work: after its restart every accepted upload is processed once', { timeout: 300_000 }, async () => {
    const accepted: { documentId: string; jobId: string }[] = [];
    for (const n of [1, 2, 3]) accepted.push(await uploadFixture('notes.md', { as: `kill-${n}.md`, suffix: `kill ${n}` }));
    await waitFor(
      async () => socketEvents.some((e) => e.name === 'job:progress' && e.payload.jobId === accepted[0]!.jobId),
      60_000,
      'work began',
    );
    await disconnectClients();
    const dataDir = hub.dataDir;
    await hub.kill9();
    hub = await startHub({ ...hubOptions(), dataDir });
    await connectClients();
    for (const a of accepted) {
      const doc = await settledDocument(hub, a.documentId, 120_000);
      assert.equal(doc.status, 'PROCESSED');
    }
  });

  test('NATS restarted during ingest: no accepted upload is lost', { timeout: 300_000 }, async () => {
    const accepted: { documentId: string }[] = [];
    let refused = 0;
    const uploading = (async () => {
      for (let n = 0; n < 12; n++) {
        const res = await hub.upload({
          name: `nats-${n}.txt`,
          data: Buffer.from(`Minutes of the garden committee, meeting ${n}.\n${randomUUID()}\n`),
        });
        if (res.status === 202) accepted.push(res.body);
        else refused += 1;
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    await nats.restart({ downMs: 500 });
    await uploading;
    assert.ok(accepted.length > 0, 'uploads were accepted');
    for (const a of accepted) {
      const doc = await settledDocument(hub, a.documentId, 180_000);
      assert.equal(doc.status, 'PROCESSED', `${a.documentId} after ${refused} refused`);
    }
  });

  test('a hub never loads the OCR engine, nor a model runtime on its main thread', { timeout: 60_000 }, async () => {
    await disconnectClients();
    await hub.stop({ keepData: true });
    const modules = JSON.parse(await readFile(hubModules, 'utf8')) as string[];
    assert.ok(
      modules.some((m) => m.includes('better-sqlite3')),
      'the list is of the hub, with its store',
    );
    assert.ok(!modules.some((m) => m.includes('tesseract.js')), 'no tesseract.js');
    assert.ok(
      !modules.some((m) => m.includes('onnxruntime-node')),
      'no model runtime on its main thread (queries are embedded in a worker)',
    );
  });
});
