/**
 * The hostile corpus (test/hostile/) against one real hub: every upload must end as
 * test/hostile/corpus.ts expects (refused with its status and code, failed with one of its
 * codes, or processed), while the hub stays one live process that answers /healthz in under
 * 100 ms, its memory stays bounded, stored HTML and SVG are served inert, file names are
 * stored clean, deleting a document stops its job, and a normal document is processed and
 * found afterwards.
 *
 * The run prints one row per upload (expected, actual, times) and the counts, so the state
 * of every case can be read off the output. `HOSTILE_CASES=id,id` runs only those cases.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { HOSTILE_CASES, type HostileCase, type Outcome } from './hostile/corpus.ts';
import { ensureHostileCorpus, hostilePath, SEARCH_WORDS, UPLOAD_LIMIT_MB, type HostileFile } from './hostile/generate.ts';
import { startHub, type HubProcess } from './helpers/hub.ts';

/** The hub's limits for this run; corpus.ts's expectations assume them. */
const JOB_TIMEOUT_MS = 60_000;
/** The pipeline processes' memory limit, and how far past it one may get between two measurements. */
const WORKER_MAX_MEMORY_MB = 1536;
const WORKER_OVERSHOOT_MB = 256;

const HUB_ENV = {
  UPLOAD_MAX_BYTES: `${UPLOAD_LIMIT_MB}mb`,
  JOB_TIMEOUT_MS: String(JOB_TIMEOUT_MS),
  // A job that times out is not tried again: the run stays short, the outcome is the same.
  JOB_MAX_ATTEMPTS: '1',
  UPLOADS_PER_TEAM_PER_MINUTE: '10000',
  PROCESSOR_WORKERS: '1',
  MAX_PAGES: '2000',
  MAX_CHUNKS: '10000',
  WORKER_MAX_MEMORY_MB: String(WORKER_MAX_MEMORY_MB),
};
/** Uploads in flight at once. */
const UPLOAD_CONCURRENCY = 3;
/** Longest one document may be processing (not counting its wait in the queue). */
const CASE_PROCESSING_CAP_MS = JOB_TIMEOUT_MS + 30_000;
/** Longest the whole corpus may take to settle after the last upload. */
const SETTLE_CAP_MS = 240_000;
/** Longest a /healthz answer may take. */
const HEALTH_MAX_MS = 100;
/** Highest peak resident memory of the hub process itself (about 650 MB are seen). */
const HUB_PEAK_RSS_MAX_MB = 1024;
/** After a document is deleted mid-job, the next document must be processed within this. */
const AFTER_DELETE_MAX_MS = 20_000;

/** What became of one upload. */
interface CaseResult {
  case: HostileCase;
  /** HTTP status of the upload; undefined when the request itself failed. */
  status?: number;
  /** Refusal code (error.code of a 4xx/5xx answer). */
  code?: string;
  /** The request failed without an answer (connection reset, …). */
  requestError?: string;
  documentId?: string;
  duplicateOf?: string;
  /** Last status seen: QUEUED, PROCESSING, PROCESSED, FAILED. */
  docStatus?: string;
  errorCode?: string;
  errorMessage?: string;
  errorStage?: string;
  /** The job's stage when last seen. */
  lastStage?: string;
  filename?: string;
  uploadMs?: number;
  acceptedAt?: number;
  processingSince?: number;
  settledAt?: number;
  /** Why waiting stopped short of an end state. */
  gaveUp?: string;
  /** Checks beyond the outcome that failed, and notes for the table. */
  problems: string[];
  notes: string[];
}

/** What the monitor thread saw. */
interface MonitorSummary {
  polls: number;
  maxMs: number;
  p50Ms: number;
  slow: { at: number; ms: number }[];
  failures: { at: number; error: string }[];
  pidLostAt: number | null;
  hubPeakRssKb: number;
  childrenPeakRssKb: number;
  childPeakRssKb: number;
  childPids: number[];
  procAvailable: boolean;
}

const selected = process.env.HOSTILE_CASES?.split(',').filter(Boolean);
const CASES = selected ? HOSTILE_CASES.filter((c) => selected.includes(c.id)) : HOSTILE_CASES;

let hub: HubProcess;
let hubPid: number;
let monitor: { stop(): Promise<MonitorSummary> } | undefined;
let monitorSummary: MonitorSummary | undefined;
let hubHwmKb: number | undefined;
let results: CaseResult[] = [];
let runStarted = 0;
let runSeconds = 0;
let deleteCheck: { ok: boolean; detail: string } | undefined;
let finalCheck: { ok: boolean; detail: string } | undefined;

before(
  async () => {
    runStarted = Date.now();
    const generatedStart = performance.now();
    const wrote = await ensureHostileCorpus();
    console.log(`hostile corpus ${wrote ? `generated in ${Math.round(performance.now() - generatedStart)} ms` : 'current'}`);
    hub = await startHub({ seedOwner: true, env: HUB_ENV });
    hubPid = hub.child.pid!;
    monitor = startMonitor(hub.url, hubPid);

    results = await runCorpus(CASES);
    await checkStoredDocuments(results);
    if (hubAlive()) deleteCheck = await checkDeleteStopsJob();
    if (hubAlive()) finalCheck = await checkNormalDocument();

    hubHwmKb = readStatusKb(hubPid, 'VmHWM');
    monitorSummary = await monitor.stop();
    monitor = undefined;
    runSeconds = (Date.now() - runStarted) / 1000;
    printReport();
  },
  { timeout: 600_000 },
);

after(async () => {
  if (monitor) await monitor.stop().catch(() => undefined);
  await hub?.stop();
});

test('every hostile upload ends as the corpus expects', () => {
  const deviations = results.filter((r) => !matches(r) || r.problems.length > 0).map((r) => `${r.case.id}: ${describeDeviation(r)}`);
  assert.deepEqual(deviations, [], `uploads that did not end as expected:\n${deviations.join('\n')}`);
});

test('the hub stays one live process that answers /healthz quickly throughout', () => {
  assert.ok(monitorSummary, 'the monitor ran');
  assert.equal(hub.child.exitCode, null, `the hub exited with ${hub.child.exitCode}:\n${hub.output().slice(-3000)}`);
  assert.equal(hub.child.signalCode, null, `the hub was killed by ${hub.child.signalCode}:\n${hub.output().slice(-3000)}`);
  assert.equal(hub.child.pid, hubPid, 'the hub process is the one started');
  assert.equal(monitorSummary.pidLostAt, null, `process ${hubPid} was gone ${monitorSummary.pidLostAt} s into the run`);
  assert.ok(monitorSummary.polls > 0, 'the monitor polled /healthz');
  assert.deepEqual(monitorSummary.failures, [], '/healthz answered every poll');
  assert.deepEqual(
    monitorSummary.slow,
    [],
    `every /healthz answer under ${HEALTH_MAX_MS} ms (slowest ${monitorSummary.maxMs.toFixed(0)} ms of ${monitorSummary.polls})`,
  );
});

test(`the hub's peak memory stays under ${HUB_PEAK_RSS_MAX_MB} MB`, (t) => {
  if (hubHwmKb === undefined) {
    t.skip('no /proc here to read the peak from');
    return;
  }
  assert.ok(hubHwmKb / 1024 < HUB_PEAK_RSS_MAX_MB, `hub peak RSS ${(hubHwmKb / 1024).toFixed(0)} MB`);
});

test(`each pipeline process stays near its ${WORKER_MAX_MEMORY_MB} MB limit`, (t) => {
  assert.ok(monitorSummary, 'the monitor ran');
  if (!monitorSummary.procAvailable) {
    t.skip('no /proc here to sample the pipeline processes from');
    return;
  }
  const peakMb = monitorSummary.childPeakRssKb / 1024;
  assert.ok(peakMb > 0, 'the pipeline processes were sampled');
  assert.ok(peakMb < WORKER_MAX_MEMORY_MB + WORKER_OVERSHOOT_MB, `a pipeline process reached ${peakMb.toFixed(0)} MB`);
});

test('deleting a document stops its running job', () => {
  assert.ok(deleteCheck, 'the check ran (the hub was alive)');
  assert.ok(deleteCheck.ok, deleteCheck.detail);
});

test('after the corpus, a normal document is processed and found by search', () => {
  assert.ok(finalCheck, 'the check ran (the hub was alive)');
  assert.ok(finalCheck.ok, finalCheck.detail);
});

// ---------------------------------------------------------------------------------------
// The run

async function runCorpus(cases: readonly HostileCase[]): Promise<CaseResult[]> {
  const all = cases.map((c): CaseResult => ({ case: c, problems: [], notes: [] }));
  const pending = new Set<CaseResult>();
  let uploading = true;

  const uploads = (async () => {
    let next = 0;
    await Promise.all(
      Array.from({ length: UPLOAD_CONCURRENCY }, async () => {
        while (next < all.length && hubAlive()) {
          const result = all[next++]!;
          await uploadCase(result);
          if (result.documentId && !result.duplicateOf) pending.add(result);
        }
      }),
    );
    uploading = false;
  })();

  let settleDeadline = Infinity;
  while (uploading || pending.size > 0) {
    await sleep(500);
    if (!uploading && settleDeadline === Infinity) settleDeadline = Date.now() + SETTLE_CAP_MS;
    if (!hubAlive()) {
      for (const r of pending) r.gaveUp = `hub exited (${hub.child.exitCode ?? hub.child.signalCode}) while ${r.docStatus ?? 'QUEUED'}`;
      pending.clear();
      break;
    }
    await pollDocuments([...pending]);
    const now = Date.now();
    for (const r of [...pending]) {
      if (r.docStatus === 'PROCESSED' || r.docStatus === 'FAILED') {
        r.settledAt = now;
        pending.delete(r);
      } else if (r.processingSince !== undefined && now - r.processingSince > CASE_PROCESSING_CAP_MS) {
        r.gaveUp = `still PROCESSING after ${CASE_PROCESSING_CAP_MS / 1000} s`;
        pending.delete(r);
      } else if (now > settleDeadline) {
        r.gaveUp = `still ${r.docStatus ?? 'QUEUED'} ${SETTLE_CAP_MS / 1000} s after the last upload`;
        pending.delete(r);
      }
    }
  }
  await uploads;
  for (const r of all) if (r.status === undefined && !r.requestError) r.gaveUp = 'not uploaded: the hub had exited';
  return all;
}

async function uploadCase(r: CaseResult): Promise<void> {
  const data = await readFile(hostilePath(r.case.file));
  const started = performance.now();
  try {
    const res = await send(r.case.name, data, r.case.send ?? 'form');
    r.status = res.status;
    r.uploadMs = performance.now() - started;
    if (res.status === 202 || res.status === 200) {
      r.documentId = res.body?.documentId;
      r.duplicateOf = res.body?.duplicateOf;
      r.acceptedAt = Date.now();
      if (r.duplicateOf) r.problems.push(`answered as a duplicate of ${r.duplicateOf}: the corpus must not repeat bytes`);
    } else {
      r.code = res.body?.error?.code ?? `(no code: ${res.text.slice(0, 80)})`;
    }
  } catch (error) {
    r.uploadMs = performance.now() - started;
    r.requestError = describeError(error);
  }
}

/** Sends one multipart upload as the owner; answers status, parsed body and raw text. */
async function send(name: string, data: Buffer, mode: 'form' | 'raw' | 'chunked'): Promise<{ status: number; body: any; text: string }> {
  let res: Response;
  if (mode === 'form') {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(data)], { type: 'application/octet-stream' }), name);
    res = await fetch(`${hub.url}/api/documents`, { method: 'POST', body: form, headers: hub.ownerAuth });
  } else {
    const boundary = 'quire-hostile-boundary-7c1e';
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name.replace(/[\\"]/g, (c) => `\\${c}`)}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
      'utf8',
    );
    const body = Buffer.concat([head, data, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const headers = { ...hub.ownerAuth, 'content-type': `multipart/form-data; boundary=${boundary}` };
    if (mode === 'raw') {
      res = await fetch(`${hub.url}/api/documents`, { method: 'POST', body, headers });
    } else {
      // A stream has no length: the body goes out chunked, and only the streaming limit can refuse it.
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let at = 0; at < body.length; at += 1024 * 1024) controller.enqueue(body.subarray(at, at + 1024 * 1024));
          controller.close();
        },
      });
      res = await fetch(`${hub.url}/api/documents`, { method: 'POST', body: stream, headers, duplex: 'half' } as RequestInit);
    }
  }
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

const DOCUMENT_FIELDS = 'status filename error { code message stage } job { stage }';

/** Aliases per request: the hub allows 30 in one operation. */
const POLL_BATCH = 25;

/** Reads the state of many documents, {@link POLL_BATCH} per GraphQL request. */
async function pollDocuments(batch: CaseResult[]): Promise<void> {
  for (let i = 0; i < batch.length; i += POLL_BATCH) {
    const part = batch.slice(i, i + POLL_BATCH);
    const query = `{ ${part.map((r, j) => `d${j}: document(id: ${JSON.stringify(r.documentId)}) { ${DOCUMENT_FIELDS} }`).join(' ')} }`;
    let answer: { data?: any; errors?: any[] };
    try {
      answer = await hub.gql(query);
    } catch (error) {
      // A hub that went away is reported by the caller; anything else is this test's fault.
      if (!hubAlive()) return;
      throw error;
    }
    if (answer.errors?.length) throw new Error(`polling documents failed: ${JSON.stringify(answer.errors)}`);
    part.forEach((r, j) => {
      const doc = answer.data?.[`d${j}`];
      if (!doc) return;
      r.docStatus = doc.status;
      r.filename = doc.filename;
      r.errorCode = doc.error?.code;
      r.errorMessage = doc.error?.message;
      r.errorStage = doc.error?.stage ?? undefined;
      if (doc.job?.stage) r.lastStage = doc.job.stage;
      if (doc.status === 'PROCESSING' && r.processingSince === undefined) r.processingSince = Date.now();
    });
  }
}

// ---------------------------------------------------------------------------------------
// Checks after the corpus settled

/** Stored names, how HTML and SVG are served, and search, for the documents the hub kept. */
async function checkStoredDocuments(all: CaseResult[]): Promise<void> {
  for (const r of all) {
    if (!r.documentId || r.duplicateOf || !hubAlive()) continue;
    if (r.filename === undefined) await pollDocuments([r]);
    const stored = r.filename ?? '';
    if (/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(stored)) {
      r.problems.push(`stored name has control or bidi characters: ${JSON.stringify(stored)}`);
    }
    if (/[\\/]/.test(stored)) r.problems.push(`stored name has a path separator: ${JSON.stringify(stored)}`);
    if (r.case.storedName !== undefined && stored !== r.case.storedName) {
      r.problems.push(`stored name ${JSON.stringify(stored)}, expected ${JSON.stringify(r.case.storedName)}`);
    }
    if (r.case.group === 'name')
      r.notes.push(`stored ${JSON.stringify(stored.length > 40 ? `${stored.slice(0, 20)}…(${stored.length})` : stored)}`);

    if (r.case.servedInert) {
      const res = await fetch(`${hub.url}/api/documents/${r.documentId}/file?inline`, { headers: hub.ownerAuth });
      await res.arrayBuffer();
      const type = res.headers.get('content-type') ?? '';
      const csp = res.headers.get('content-security-policy') ?? '';
      r.notes.push(`served ${type.split(';')[0]}${/\bsandbox\b/.test(csp) ? ' sandboxed' : ''}`);
      if (res.status !== 200) r.problems.push(`download answered ${res.status}`);
      if (/html|svg|xml|javascript/i.test(type)) r.problems.push(`served as ${type}`);
      if (res.headers.get('x-content-type-options') !== 'nosniff') r.problems.push('served without nosniff');
      // A PDF is not sandboxed (a sandboxed page may run no PDF viewer) but may load nothing.
      const pdf = type.startsWith('application/pdf');
      if (pdf ? !/default-src 'none'/.test(csp) : !/\bsandbox\b/.test(csp)) r.problems.push(`served with CSP ${JSON.stringify(csp)}`);
    }

    if (r.case.searchFor && r.docStatus === 'PROCESSED') {
      const found = await searchFinds(r.case.searchFor, r.documentId);
      r.notes.push(`search "${r.case.searchFor}": ${found ? 'found' : 'NOT found'}`);
      if (!found) r.problems.push(`a search for "${r.case.searchFor}" does not find it`);
    }
  }
}

async function searchFinds(word: string, documentId: string): Promise<boolean> {
  const { data, errors } = await hub.gql(`query($q: String!) { search(query: $q, mode: TEXT, first: 10) { document { id } } }`, {
    q: word,
  });
  if (errors?.length) throw new Error(`search failed: ${JSON.stringify(errors)}`);
  return (data.search as { document: { id: string } }[]).some((hit) => hit.document.id === documentId);
}

/**
 * A 40-page scan is deleted while it is being recognised; the next document, behind it for the
 * one pipeline worker, must then be processed at once rather than after the deleted job ends.
 */
async function checkDeleteStopsJob(): Promise<{ ok: boolean; detail: string }> {
  const data = await readFile(hostilePath('delete-me.tif' satisfies HostileFile));
  const res = await send('long-report.tif', data, 'form');
  if (res.status !== 202) return { ok: false, detail: `the long scan was not accepted: ${res.status} ${res.text.slice(0, 200)}` };
  const id: string = res.body.documentId;
  const started = Date.now();
  for (;;) {
    const { data: state } = await hub.gql(`query($id: ID!) { document(id: $id) { status job { stage done } } }`, { id });
    const doc = state?.document;
    if (doc?.status === 'PROCESSING' && doc.job?.stage === 'ocr' && doc.job.done >= 1) break;
    if (doc?.status === 'PROCESSED' || doc?.status === 'FAILED')
      return { ok: false, detail: `the long scan ended (${doc.status}) before it could be deleted` };
    if (Date.now() - started > 90_000) return { ok: false, detail: `the long scan did not reach OCR in 90 s (${JSON.stringify(doc)})` };
    await sleep(250);
  }
  // The next document waits behind the scan for the one pipeline worker; once the scan is
  // deleted it must start at once, not when the deleted job would have ended.
  const next = await send(
    'after-delete.txt',
    Buffer.from(`Written while a long scan was processed.\n${SEARCH_WORDS.finalCheck.split('').reverse().join('')}\n`),
    'form',
  );
  if (next.status !== 202) return { ok: false, detail: `the next upload was not accepted: ${next.status}` };
  const nextId: string = next.body.documentId;
  await sleep(1500);
  const before = (await hub.gql(`query($id: ID!) { document(id: $id) { status } }`, { id: nextId })).data?.document?.status;
  if (before !== 'QUEUED') {
    return { ok: false, detail: `inconclusive: the next document was ${before} while the scan ran (the check needs one pipeline worker)` };
  }
  const deleted = await hub.gql(`mutation($id: ID!) { deleteDocument(id: $id) }`, { id });
  if (deleted.errors?.length || deleted.data?.deleteDocument !== true)
    return { ok: false, detail: `delete failed: ${JSON.stringify(deleted)}` };
  const deletedAt = Date.now();
  for (;;) {
    const { data: state } = await hub.gql(`query($id: ID!) { document(id: $id) { status error { code } } }`, { id: nextId });
    const status = state?.document?.status;
    const ms = Date.now() - deletedAt;
    if (status === 'PROCESSED' || status === 'FAILED') {
      const ok = status === 'PROCESSED' && ms <= AFTER_DELETE_MAX_MS;
      return {
        ok,
        detail: `the document queued behind the deleted scan was ${status} ${(ms / 1000).toFixed(1)} s after the delete (at most ${AFTER_DELETE_MAX_MS / 1000} s)`,
      };
    }
    if (ms > JOB_TIMEOUT_MS + 30_000 || !hubAlive())
      return {
        ok: false,
        detail: `the document queued behind the deleted scan was still ${status} ${(ms / 1000).toFixed(0)} s after the delete`,
      };
    await sleep(250);
  }
}

/** A normal document after the corpus: processed and found by a text search. */
async function checkNormalDocument(): Promise<{ ok: boolean; detail: string }> {
  const data = await readFile(hostilePath('final-check.txt' satisfies HostileFile));
  const started = Date.now();
  const res = await send('final-check.txt', data, 'form');
  if (res.status !== 202) return { ok: false, detail: `not accepted: ${res.status} ${res.text.slice(0, 200)}` };
  const id: string = res.body.documentId;
  for (;;) {
    const { data: state } = await hub.gql(`query($id: ID!) { document(id: $id) { status error { code message } } }`, { id });
    const doc = state?.document;
    if (doc?.status === 'FAILED') return { ok: false, detail: `failed ${doc.error?.code}: ${doc.error?.message}` };
    if (doc?.status === 'PROCESSED') break;
    if (Date.now() - started > 60_000 || !hubAlive()) return { ok: false, detail: `still ${doc?.status} after 60 s` };
    await sleep(250);
  }
  const found = await searchFinds(SEARCH_WORDS.finalCheck, id);
  return {
    ok: found,
    detail: `processed in ${((Date.now() - started) / 1000).toFixed(1)} s; search ${found ? 'found it' : 'did NOT find it'}`,
  };
}

// ---------------------------------------------------------------------------------------
// Outcomes

function actualOutcome(r: CaseResult): string {
  if (r.requestError) return `error: ${r.requestError}`;
  if (r.status === undefined) return r.gaveUp ?? 'not uploaded';
  if (r.status !== 202 && r.status !== 200) return `refused ${r.status} ${r.code}`;
  if (r.duplicateOf) return 'duplicate';
  if (r.docStatus === 'PROCESSED') return 'processed';
  if (r.docStatus === 'FAILED') return `failed ${r.errorCode}`;
  return r.gaveUp ?? `${r.docStatus ?? 'QUEUED'}`;
}

function describeOutcome(o: Outcome): string {
  switch (o.state) {
    case 'refused':
      return `refused ${o.status} ${o.codes.join('/')}`;
    case 'failed':
      return o.codes.length ? `failed ${o.codes.join('/')}` : 'failed (any)';
    case 'processed':
      return 'processed';
  }
}

function matchesOutcome(r: CaseResult, o: Outcome): boolean {
  switch (o.state) {
    case 'refused':
      return r.status === o.status && o.codes.includes(r.code ?? '');
    case 'failed':
      return r.docStatus === 'FAILED' && r.settledAt !== undefined && (o.codes.length === 0 || o.codes.includes(r.errorCode ?? ''));
    case 'processed':
      return r.docStatus === 'PROCESSED' && r.settledAt !== undefined;
  }
}

const matches = (r: CaseResult): boolean => !r.duplicateOf && r.case.expect.some((o) => matchesOutcome(r, o));

function describeDeviation(r: CaseResult): string {
  const parts: string[] = [];
  if (!matches(r)) {
    parts.push(`expected ${r.case.expect.map(describeOutcome).join(' | ')}, got ${actualOutcome(r)}`);
    if (r.errorMessage) parts.push(`(${r.errorMessage.slice(0, 160)})`);
  }
  parts.push(...r.problems);
  return parts.join('; ');
}

// ---------------------------------------------------------------------------------------
// Report

function printReport(): void {
  const rows = results.map((r, i) => {
    const took = r.settledAt && r.acceptedAt ? ((r.settledAt - r.acceptedAt) / 1000).toFixed(1) : '';
    const busy = r.settledAt ? (r.processingSince ? ((r.settledAt - r.processingSince) / 1000).toFixed(1) : '<0.5') : '';
    return [
      String(i + 1),
      r.case.id,
      r.case.expect.map(describeOutcome).join(' | '),
      actualOutcome(r),
      matches(r) && r.problems.length === 0 ? 'ok' : 'DEVIATES',
      r.uploadMs === undefined ? '' : r.uploadMs.toFixed(0),
      took,
      busy,
      [
        ...r.problems.map((p) => `! ${p}`),
        ...(r.errorStage ? [`failed in ${r.errorStage}`] : []),
        ...(r.lastStage && (r.gaveUp || r.errorCode === 'JOB_TIMEOUT') ? [`last seen in ${r.lastStage}`] : []),
        ...r.notes,
      ].join('; '),
    ];
  });
  const header = ['no', 'case', 'expected', 'actual', 'verdict', 'upload ms', 'settled s', 'busy s', 'notes'];
  const widths = header.map((h, c) => Math.min(c === 8 ? 200 : 60, Math.max(h.length, ...rows.map((row) => row[c]!.length))));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd();
  const out = [
    '',
    `Hostile corpus: ${results.length} uploads against ${hub.url} (pid ${hubPid})`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
  ];
  const legend =
    'settled s: from the upload answer to the end state, queue included; busy s: from first seen PROCESSING (<0.5: never seen processing)';
  out.push(...rows.map(line), legend);

  const count = (key: (r: CaseResult) => string | undefined) => {
    const counts = new Map<string, number>();
    for (const r of results) {
      const k = key(r);
      if (k) counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return [...counts].map(([k, n]) => `${k} ×${n}`).join(', ') || 'none';
  };
  const refusedCount = results.filter((r) => r.status !== undefined && r.status !== 200 && r.status !== 202).length;
  const failedCount = results.filter((r) => r.docStatus === 'FAILED').length;
  const processedCount = results.filter((r) => r.docStatus === 'PROCESSED').length;
  const deviating = results.filter((r) => !matches(r) || r.problems.length > 0);
  out.push('');
  out.push(`refused at upload: ${refusedCount} (${count((r) => (r.code ? `${r.status} ${r.code}` : undefined))})`);
  out.push(`failed: ${failedCount} (${count((r) => (r.docStatus === 'FAILED' ? r.errorCode : undefined))})`);
  out.push(`processed: ${processedCount}`);
  const other = results.filter((r) => r.requestError || r.gaveUp || r.duplicateOf);
  out.push(`other: ${other.length}${other.length ? ` (${other.map((r) => `${r.case.id}: ${actualOutcome(r)}`).join('; ')})` : ''}`);
  out.push(
    `as expected: ${results.length - deviating.length} of ${results.length}; deviating: ${deviating.map((r) => r.case.id).join(', ') || 'none'}`,
  );
  const busyMs = (r: CaseResult) => (r.settledAt && r.processingSince ? r.settledAt - r.processingSince : 0);
  const slowest = [...results].sort((a, b) => busyMs(b) - busyMs(a))[0];
  if (slowest && busyMs(slowest) > 0) {
    out.push(`slowest case: ${slowest.case.id}, ${(busyMs(slowest) / 1000).toFixed(1)} s processing (${actualOutcome(slowest)})`);
  }
  const m = monitorSummary;
  if (m) {
    out.push(
      `/healthz: ${m.polls} polls, median ${m.p50Ms.toFixed(1)} ms, slowest ${m.maxMs.toFixed(1)} ms, ${m.slow.length} over ${HEALTH_MAX_MS} ms, ${m.failures.length} failed` +
        (m.slow.length
          ? ` (slow at ${m.slow
              .slice(0, 8)
              .map((s) => `${s.at.toFixed(0)} s: ${s.ms.toFixed(0)} ms`)
              .join(', ')})`
          : '') +
        (m.failures.length ? ` (first failure at ${m.failures[0]!.at.toFixed(0)} s: ${m.failures[0]!.error})` : ''),
    );
    out.push(
      `hub pid ${hubPid}: ${m.pidLostAt === null ? 'alive throughout' : `gone at ${m.pidLostAt.toFixed(0)} s`}; exit ${hub.child.exitCode ?? hub.child.signalCode ?? 'none'}`,
    );
    if (m.procAvailable) {
      out.push(
        `peak RSS: hub ${hubHwmKb === undefined ? 'n/a' : `${(hubHwmKb / 1024).toFixed(0)} MB (VmHWM)`}, sampled ${(m.hubPeakRssKb / 1024).toFixed(0)} MB; ` +
          `child processes ${(m.childrenPeakRssKb / 1024).toFixed(0)} MB together at peak, ${(m.childPeakRssKb / 1024).toFixed(0)} MB the largest one, ${m.childPids.length} seen`,
      );
    }
  }
  if (deleteCheck) out.push(`delete mid-job: ${deleteCheck.ok ? 'ok' : 'DEVIATES'}: ${deleteCheck.detail}`);
  if (finalCheck) out.push(`normal document afterwards: ${finalCheck.ok ? 'ok' : 'DEVIATES'}: ${finalCheck.detail}`);
  out.push(`run took ${runSeconds.toFixed(0)} s`);
  if (!hubAlive()) out.push(`hub output (last 3000 characters):\n${hub.output().slice(-3000)}`);
  console.log(out.join('\n'));
}

// ---------------------------------------------------------------------------------------
// Monitor: /healthz latency, the hub's pid, memory of the hub and its children

/**
 * Runs on its own thread, so its timings are the hub's and not this test's event loop:
 * every 250 ms it times GET /healthz, checks the hub's pid is alive, and sums the resident
 * memory of the hub's descendants from /proc.
 */
const MONITOR_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { url, pid, intervalMs, slowMs, startedAt } = workerData;
const latencies = [];
const summary = { polls: 0, maxMs: 0, p50Ms: 0, slow: [], failures: [], pidLostAt: null, hubPeakRssKb: 0,
  childrenPeakRssKb: 0, childPeakRssKb: 0, childPids: [], procAvailable: fs.existsSync('/proc/self/status') };
const seen = new Set();
let stopping = false;
parentPort.on('message', (m) => { if (m === 'stop') stopping = true; });
const since = () => (Date.now() - startedAt) / 1000;
function rssKb(p) {
  try { const m = /VmRSS:\\s+(\\d+)/.exec(fs.readFileSync('/proc/' + p + '/status', 'utf8')); return m ? Number(m[1]) : 0; } catch { return 0; }
}
function descendants(root) {
  const children = new Map();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(name)) continue;
    let stat;
    try { stat = fs.readFileSync('/proc/' + name + '/stat', 'utf8'); } catch { continue; }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const out = [];
  const queue = [...(children.get(root) || [])];
  while (queue.length) { const p = queue.shift(); out.push(p); queue.push(...(children.get(p) || [])); }
  return out;
}
async function tick() {
  const t0 = performance.now();
  try {
    const res = await fetch(url + '/healthz', { signal: AbortSignal.timeout(5000) });
    await res.text();
    const ms = performance.now() - t0;
    summary.polls += 1;
    latencies.push(ms);
    if (ms > summary.maxMs) summary.maxMs = ms;
    if (res.status !== 200) summary.failures.push({ at: since(), error: 'status ' + res.status });
    else if (ms >= slowMs) summary.slow.push({ at: since(), ms });
  } catch (error) {
    summary.polls += 1;
    summary.failures.push({ at: since(), error: String(error && error.cause ? error.cause.code || error.cause.message : error && error.message) });
  }
  try { process.kill(pid, 0); } catch { if (summary.pidLostAt === null) summary.pidLostAt = since(); }
  if (summary.procAvailable) {
    summary.hubPeakRssKb = Math.max(summary.hubPeakRssKb, rssKb(pid));
    let total = 0;
    for (const child of descendants(pid)) {
      const kb = rssKb(child);
      seen.add(child);
      total += kb;
      summary.childPeakRssKb = Math.max(summary.childPeakRssKb, kb);
    }
    summary.childrenPeakRssKb = Math.max(summary.childrenPeakRssKb, total);
  }
}
(async () => {
  while (!stopping) {
    const started = Date.now();
    await tick();
    await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (Date.now() - started))));
  }
  latencies.sort((a, b) => a - b);
  summary.p50Ms = latencies.length ? latencies[Math.floor(latencies.length / 2)] : 0;
  summary.childPids = [...seen];
  parentPort.postMessage(summary);
})();
`;

function startMonitor(url: string, pid: number): { stop(): Promise<MonitorSummary> } {
  const worker = new Worker(MONITOR_SOURCE, {
    eval: true,
    workerData: { url, pid, intervalMs: 250, slowMs: HEALTH_MAX_MS, startedAt: runStarted },
  });
  const done = new Promise<MonitorSummary>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return {
    async stop() {
      worker.postMessage('stop');
      const summary = await done;
      await worker.terminate();
      return summary;
    },
  };
}

/** A `kB` line of /proc/<pid>/status (VmHWM, VmRSS); undefined where there is no /proc. */
function readStatusKb(pid: number, key: string): number | undefined {
  try {
    const m = new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------

const hubAlive = (): boolean => hub.child.exitCode === null && hub.child.signalCode === null;

function describeError(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  return `${e.message ?? String(error)}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
}
