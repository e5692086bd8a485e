/**
 * End to end through a real hub process: upload a scanned PNG, a PDF with a text layer and a
 * scanned PDF; follow each job live with socket.io-client and a graphql-ws client until it is
 * processed; read the results over GraphQL; then find each document by an exact phrase (TEXT)
 * and by a paraphrase that shares no content word with it (VECTOR and HYBRID).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createClient, type Client } from 'graphql-ws';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { FIXTURES, fixturePath, type Fixture } from './fixtures/manifest.ts';
import { ensureFixtures } from './fixtures/generate.ts';
import { startHub, waitFor, type HubProcess } from './helpers/hub.ts';

const DOCS = [FIXTURES['scanned-invoice.png'], FIXTURES['text-report.pdf'], FIXTURES['scanned-order.pdf']] as Fixture[];

let hub: HubProcess;
let socket: Socket;
let ws: Client;
const socketEvents: { name: string; payload: any }[] = [];
const ids = new Map<string, { documentId: string; jobId: string }>();
const gqlProgress = new Map<string, any[]>();

/** Collects every message of a graphql-ws subscription until it completes. */
function subscribeAll(client: Client, query: string, variables: Record<string, unknown>): Promise<any[]> {
  const seen: any[] = [];
  return new Promise((resolve, reject) => {
    client.subscribe(
      { query, variables },
      {
        next: (msg) => (msg.errors ? reject(new Error(JSON.stringify(msg.errors))) : seen.push(msg.data)),
        error: reject,
        complete: () => resolve(seen),
      },
    );
  });
}

const JOB_PROGRESS = `subscription($jobId: ID!) {
  jobProgress(jobId: $jobId) { jobId documentId stage done total percent etaMs status error { code message } }
}`;

const normalise = (s: string) => s.toLowerCase().replace(/\s+/g, ' ');

before(async () => {
  await ensureFixtures();
  hub = await startHub({ seedOwner: true });
  socket = io(hub.url, { transports: ['websocket'], auth: { token: hub.ownerToken } });
  socket.onAny((name, payload) => socketEvents.push({ name, payload }));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const ack = await socket.emitWithAck('subscribe', { team: true });
  assert.deepEqual(ack, { ok: true });
  ws = createClient({
    url: hub.url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    lazy: false,
    connectionParams: { token: hub.ownerToken },
  });
});

after(async () => {
  socket?.disconnect();
  await ws?.dispose();
  await hub?.stop();
});

describe('upload → live progress → processed → search', () => {
  test('uploads are accepted at once and every job is followed live to processed', { timeout: 300_000 }, async () => {
    const followers: Promise<void>[] = [];
    for (const fx of DOCS) {
      const res = await hub.upload({ name: fx.file, data: await readFile(fixturePath(fx.file)) });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      ids.set(fx.file, res.body);
      followers.push(
        subscribeAll(ws, JOB_PROGRESS, { jobId: res.body.jobId }).then((msgs) => {
          gqlProgress.set(
            fx.file,
            msgs.map((m) => m.jobProgress),
          );
        }),
      );
    }
    await Promise.all(followers);

    for (const fx of DOCS) {
      const { documentId, jobId } = ids.get(fx.file)!;
      const progress = gqlProgress.get(fx.file)!;
      const last = progress.at(-1);
      assert.equal(last.status, 'SUCCEEDED', `${fx.file}: ${JSON.stringify(last)}`);
      assert.equal(last.percent, 100);
      assert.equal(last.jobId, jobId);
      assert.equal(last.documentId, documentId);
      const percents = progress.map((p) => p.percent);
      assert.deepEqual(
        percents,
        [...percents].sort((a, b) => a - b),
        `${fx.file}: percent never goes down`,
      );
      for (const p of progress) assert.ok(p.done <= p.total || p.total === 0, `${fx.file}: done ≤ total`);

      // The team's Socket.IO room was joined before the uploads, so it sees every stage change;
      // the document's change to processed is published just after the job's last progress.
      // Behind a balancer the socket's hub may deliver the last stage after graphql-ws did.
      await waitFor(
        async () => socketEvents.some((e) => e.name === 'job:progress' && e.payload.jobId === jobId && e.payload.stage === 'done'),
        10_000,
        `${fx.file}: last stage over Socket.IO`,
      );
      const viaSocket = socketEvents.filter((e) => e.name === 'job:progress' && e.payload.jobId === jobId).map((e) => e.payload);
      const stages = new Set(viaSocket.map((p) => p.stage));
      for (const stage of ['detect', 'chunk', 'embed', 'classify', 'fields', 'done']) {
        assert.ok(stages.has(stage), `${fx.file}: saw stage ${stage} in ${[...stages]}`);
      }
      assert.ok(stages.has(fx.kind === 'scan' ? 'ocr' : 'extract'), `${fx.file}: text came from the right stage`);
      const socketPercents = viaSocket.map((p) => p.percent);
      assert.deepEqual(
        socketPercents,
        [...socketPercents].sort((a, b) => a - b),
        `${fx.file}: percent never goes down`,
      );
      await waitFor(
        async () =>
          socketEvents.some(
            (e) => e.name === 'document:changed' && e.payload.documentId === documentId && e.payload.status === 'processed',
          ),
        10_000,
        `${fx.file}: processed event over Socket.IO`,
      );
    }
  });

  test('a late subscriber first receives the current state', async () => {
    const { documentId, jobId } = ids.get('scanned-invoice.png')!;
    const msgs = await subscribeAll(ws, JOB_PROGRESS, { jobId });
    assert.equal(msgs.length, 1);
    assert.equal(msgs[0].jobProgress.status, 'SUCCEEDED');
    assert.equal(msgs[0].jobProgress.percent, 100);

    const late = io(hub.url, { transports: ['websocket'], auth: { token: hub.ownerToken } });
    try {
      const ack = await late.emitWithAck('subscribe', { documentId });
      assert.equal(ack.ok, true);
      assert.equal(ack.state.document.status, 'processed');
      assert.equal(ack.state.job.status, 'succeeded');
      const missing = await late.emitWithAck('subscribe', { documentId: 'no-such-document' });
      assert.deepEqual(missing.ok, false);
      assert.equal(missing.error.code, 'NOT_FOUND');
    } finally {
      late.disconnect();
    }
  });

  test('results are readable over GraphQL: pages, text, classification and fields', async () => {
    for (const fx of DOCS) {
      const { documentId } = ids.get(fx.file)!;
      const { data, errors } = await hub.gql(
        `query($id: ID!) { document(id: $id) {
          status pageCount chunkCount text mimeType
          pages { number source words { text box { x y w h } confidence } }
          classification { type { label confidence } sensitivity { label confidence } method }
          fields { number { value page box { x y w h } } total { value } currency { value } date { value } }
        } }`,
        { id: documentId },
      );
      assert.equal(errors, undefined, JSON.stringify(errors));
      const doc = data.document;
      assert.equal(doc.status, 'PROCESSED');
      assert.equal(doc.pageCount, fx.pages);
      assert.ok(doc.chunkCount >= 1);
      assert.ok(normalise(doc.text).includes(normalise(fx.phrase!)), `${fx.file}: text holds "${fx.phrase}"`);
      assert.equal(doc.pages[0].source, fx.kind === 'scan' ? 'ocr' : 'text-layer');
      assert.ok(doc.pages[0].words.length > 10);
      assert.equal(doc.classification.type.label, fx.docType, `${fx.file}: type`);
      assert.ok(doc.classification.type.confidence > 0 && doc.classification.type.confidence <= 1);
      if (fx.fields) {
        for (const key of ['number', 'total', 'currency', 'date'] as const) {
          assert.equal(doc.fields[key]?.value, fx.fields[key], `${fx.file}: field ${key}`);
        }
        assert.equal(doc.fields.number.page, 1);
        assert.ok(doc.fields.number.box.w > 0 && doc.fields.number.box.h > 0, 'field has a box');
      }
    }
  });

  const SEARCH = `query($q: String!, $mode: SearchMode!) {
    search(query: $q, mode: $mode, first: 3) {
      document { id filename } page boxes { x y w h } snippet highlights { start end } scores { text vector hybrid } rank
    }
  }`;

  test('TEXT search finds each document by an exact phrase, with highlights and provenance', async () => {
    for (const fx of DOCS) {
      const { data, errors } = await hub.gql(SEARCH, { q: fx.phrase, mode: 'TEXT' });
      assert.equal(errors, undefined, JSON.stringify(errors));
      const top = data.search[0];
      assert.equal(
        top?.document.id,
        ids.get(fx.file)!.documentId,
        `${fx.file}: "${fx.phrase}" → ${JSON.stringify(data.search.map((h: any) => h.document.filename))}`,
      );
      assert.equal(top.page, fx.phrasePage);
      assert.ok(top.boxes.length > 0, 'hit has boxes');
      assert.ok(top.highlights.length > 0, 'hit has highlights');
      assert.ok(top.scores.text > 0);
      const marked = top.highlights.map((h: any) => top.snippet.slice(h.start, h.end).toLowerCase());
      assert.ok(
        marked.some((m: string) => normalise(fx.phrase!).includes(m)),
        `highlights ${marked} are words of the phrase`,
      );
    }
  });

  for (const mode of ['VECTOR', 'HYBRID'] as const) {
    test(`${mode} search finds each document by a paraphrase sharing no content word`, async () => {
      for (const fx of DOCS) {
        const { data, errors } = await hub.gql(SEARCH, { q: fx.query, mode });
        assert.equal(errors, undefined, JSON.stringify(errors));
        const top = data.search[0];
        assert.equal(
          top?.document.id,
          ids.get(fx.file)!.documentId,
          `${fx.file}: "${fx.query}" → ${JSON.stringify(data.search.map((h: any) => [h.document.filename, h.scores]))}`,
        );
        assert.ok(mode === 'VECTOR' ? top.scores.vector > 0 : top.scores.hybrid > 0);
      }
    });
  }

  test('documents are listed with cursor pagination, and deleting one removes it from search', async () => {
    const first = await hub.gql('{ documents(first: 2) { totalCount pageInfo { endCursor hasNextPage } nodes { id } } }');
    assert.equal(first.data.documents.totalCount, DOCS.length);
    assert.equal(first.data.documents.pageInfo.hasNextPage, true);
    const rest = await hub.gql('query($after: String) { documents(first: 2, after: $after) { pageInfo { hasNextPage } nodes { id } } }', {
      after: first.data.documents.pageInfo.endCursor,
    });
    const all = [...first.data.documents.nodes, ...rest.data.documents.nodes].map((n: any) => n.id).sort();
    assert.deepEqual(all, [...ids.values()].map((v) => v.documentId).sort());

    const report = FIXTURES['text-report.pdf'];
    const { documentId } = ids.get(report.file)!;
    const del = await hub.gql('mutation($id: ID!) { deleteDocument(id: $id) }', { id: documentId });
    assert.equal(del.data.deleteDocument, true);
    const again = await hub.gql('mutation($id: ID!) { deleteDocument(id: $id) }', { id: documentId });
    assert.equal(again.data.deleteDocument, false);
    const gone = await hub.gql(SEARCH, { q: report.phrase, mode: 'TEXT' });
    assert.ok(gone.data.search.every((h: any) => h.document.id !== documentId));
    const doc = await hub.gql('query($id: ID!) { document(id: $id) { id } }', { id: documentId });
    assert.equal(doc.data.document, null);
  });

  test('reprocessing runs the document again to processed', { timeout: 120_000 }, async () => {
    const { documentId } = ids.get('scanned-order.pdf')!;
    const res = await hub.gql('mutation($id: ID!) { reprocessDocument(id: $id) { job { id status } document { status } } }', {
      id: documentId,
    });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    assert.equal(res.data.reprocessDocument.document.status, 'QUEUED');
    const jobId = res.data.reprocessDocument.job.id;
    const msgs = await subscribeAll(ws, JOB_PROGRESS, { jobId });
    assert.equal(msgs.at(-1).jobProgress.status, 'SUCCEEDED');
    // The job succeeds first; the document becomes processed once its matches are proposed.
    const chunks = await waitFor(
      async () => {
        const doc = (await hub.gql('query($id: ID!) { document(id: $id) { status chunkCount } }', { id: documentId })).data.document;
        return doc?.status === 'PROCESSED' && doc;
      },
      10_000,
      'document processed',
    );
    assert.ok(chunks.chunkCount > 0);
  });

  test('GraphQL errors carry extensions.code', async () => {
    const bad = await hub.gql('{ documents(first: 5000) { totalCount } }');
    assert.equal(bad.errors?.[0]?.extensions?.code, 'BAD_PAGE_SIZE');
    const missing = await hub.gql('mutation { reprocessDocument(id: "nope") { job { id } } }');
    assert.equal(missing.errors?.[0]?.extensions?.code, 'NOT_FOUND');
    const cursor = await hub.gql('{ documents(first: 5, after: "garbage") { totalCount } }');
    assert.equal(cursor.errors?.[0]?.extensions?.code, 'BAD_CURSOR');
  });
});
