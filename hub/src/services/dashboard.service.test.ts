/**
 * DashboardService over a real SqliteStore and real live events on the in-process bus: the
 * per-team view of processing nodes from progress events, nodes announced by heartbeats (shown
 * to every team until they leave or miss three intervals), whole-minute throughput buckets,
 * and when live dashboards are sent again (folded to one a second; every five seconds while
 * anything is queued, without events; when the nodes change).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { MemoryBus, publishSystemEvent } from '@quire/bus';
import { SystemEvents, type NodeHeartbeat, type ProgressEvent } from '@quire/kernel';
import { buildDocument } from '../store/contract.ts';
import { SqliteStore } from '../store/sqlite/store.sqlite.ts';
import type { TeamScope } from '../store/store.ts';
import {
  BUSY_UPDATE_INTERVAL_MS,
  DashboardService,
  MIN_UPDATE_INTERVAL_MS,
  MISSED_HEARTBEATS,
  NODE_WINDOW_MS,
} from './dashboard.service.ts';
import { LiveEvents } from './live-events.ts';

const A: TeamScope = { teamId: 'team-a' };
const B: TeamScope = { teamId: 'team-b' };

let dir: string;
let store: SqliteStore;
let bus: MemoryBus;
let events: LiveEvents;
/** The service's clock: real time plus whatever a test skips ahead. */
let skipped = 0;
let dashboard: DashboardService;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quire-dashboard-'));
  store = new SqliteStore({ filename: join(dir, 'quire.sqlite') });
  await store.start();
  for (const t of [A, B]) await store.ensureTeam({ id: t.teamId, name: t.teamId });
  bus = new MemoryBus({ storage: store.jobStorage });
  await bus.start();
  events = new LiveEvents({ bus, logger: pino({ level: 'silent' }) });
  await events.start();
  dashboard = new DashboardService({ store, events, bus, now: () => Date.now() + skipped });
  await dashboard.start();
});

after(async () => {
  await dashboard.close();
  await events.close();
  await bus.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(fn: () => T | undefined | false, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = fn();
    if (v) return v;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function progress(scope: TeamScope, jobId: string, stage: string, node?: string): Promise<void> {
  const e: ProgressEvent = {
    jobId,
    documentId: `doc-${jobId}`,
    teamId: scope.teamId,
    stage,
    done: 1,
    total: 2,
    percent: 50,
    etaMs: null,
    at: Date.now(),
    node,
  };
  return events.progress(e);
}

/** A heartbeat of a GPU node, sent now unless `overrides` says otherwise. */
function heartbeat(overrides: Partial<NodeHeartbeat> = {}): Promise<void> {
  const beat: NodeHeartbeat = {
    nodeId: 'gpu-host:7',
    host: 'gpu-host',
    pid: 7,
    roles: ['processor'],
    device: 'gpu',
    executionProvider: 'cuda',
    models: ['Xenova/all-MiniLM-L6-v2'],
    concurrency: 4,
    activeJobs: 0,
    jobsDone: 0,
    version: '0.1.0',
    startedAt: 1_700_000_000_000,
    at: Date.now(),
    intervalMs: 2000,
    ...overrides,
  };
  return publishSystemEvent(bus, SystemEvents.NodeHeartbeat, beat);
}

const ids = (scope: TeamScope) => dashboard.nodes(scope).map((n) => n.id);

/** Collects the moments `updates` says to send again, until the returned stop is called. */
function collectUpdates(scope: TeamScope) {
  const controller = new AbortController();
  const started = Date.now();
  const at: number[] = [];
  const done = (async () => {
    for await (const _ of dashboard.updates(scope, controller.signal)) at.push(Date.now() - started);
  })();
  return {
    at,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

describe('DashboardService', () => {
  test('knows processing nodes per team from progress events: active jobs until done or failed, then gone after the window', async () => {
    await progress(A, 'job-1', 'ocr', 'host-a:101');
    await progress(A, 'job-2', 'embed', 'host-a:101');
    await progress(A, 'job-3', 'ocr', 'host-b:202');
    await progress(B, 'job-4', 'ocr', 'host-a:101');
    // From a node that does not say which: not counted anywhere.
    await progress(A, 'job-5', 'ocr');
    await until(() => dashboard.nodes(B).length === 1, 'the progress events');

    assert.deepEqual(
      dashboard.nodes(A).map((n) => [n.id, n.activeJobs, n.jobsDone]),
      [
        ['host-a:101', 2, 0],
        ['host-b:202', 1, 0],
      ],
    );
    assert.deepEqual(
      dashboard.nodes(B).map((n) => [n.id, n.activeJobs, n.jobsDone]),
      [['host-a:101', 1, 0]],
      'a shared node shows each team only its own jobs',
    );

    await progress(A, 'job-1', 'done', 'host-a:101');
    await progress(A, 'job-2', 'failed', 'host-a:101');
    await until(() => dashboard.nodes(A)[0]!.activeJobs === 0, 'the final stages');
    assert.deepEqual(
      dashboard.nodes(A).map((n) => [n.id, n.activeJobs, n.jobsDone]),
      [
        ['host-a:101', 0, 1],
        ['host-b:202', 1, 0],
      ],
    );
    assert.ok(Math.abs(dashboard.nodes(A)[0]!.lastSeenAt - Date.now()) < 1000);

    skipped += NODE_WINDOW_MS + 1;
    assert.deepEqual(dashboard.nodes(A), [], 'nodes unheard of for the window are left out');
    assert.deepEqual(dashboard.nodes(B), []);
    await progress(A, 'job-6', 'chunk', 'host-b:202');
    await until(() => dashboard.nodes(A).length === 1, 'the node heard of again');
    assert.deepEqual(
      dashboard.nodes(A).map((n) => [n.id, n.activeJobs, n.jobsDone]),
      [['host-b:202', 1, 0]],
      'its lost job is not active any more',
    );
  });

  test('throughput has one bucket per whole minute, oldest first, counting jobs that finished in it', async () => {
    const minute = 60_000;
    const current = Math.floor((Date.now() + skipped) / minute) * minute;
    const finish = async (status: 'succeeded' | 'failed', at: number) => {
      const doc = await store.insertDocument(A, buildDocument());
      await store.updateJob(A, doc.jobId, { status, finishedAt: at });
    };
    await finish('succeeded', current + 1);
    await finish('failed', current - 2 * minute + 59_999);
    await finish('succeeded', current - 2 * minute);
    await finish('succeeded', current - 3 * minute);
    const buckets = await dashboard.throughput(A, 3);
    assert.deepEqual(buckets, [
      { at: current - 2 * minute, processed: 1, failed: 1 },
      { at: current - minute, processed: 0, failed: 0 },
      { at: current, processed: 1, failed: 0 },
    ]);
    assert.deepEqual(
      (await dashboard.throughput(B, 3)).map((b) => b.processed + b.failed),
      [0, 0, 0],
    );
    for (const bad of [0, 1441, 2.5]) await assert.rejects(dashboard.throughput(A, bad), { code: 'BAD_MINUTES' });
  });

  test("updates fold a burst of the team's events into one, a second after the last dashboard, and ignore other teams", async () => {
    const updates = collectUpdates(B);
    // Another team's events wake nothing.
    for (let i = 0; i < 3; i++) await progress(A, `job-a${i}`, 'ocr', 'host-a:101');
    await sleep(300);
    for (let i = 0; i < 5; i++) await progress(B, `job-b${i}`, 'ocr', 'host-a:101');
    await until(() => updates.at.length === 1, 'one update');
    assert.ok(updates.at[0]! >= MIN_UPDATE_INTERVAL_MS - 20, `sent ${updates.at[0]} ms after the first dashboard`);
    await sleep(MIN_UPDATE_INTERVAL_MS + 300);
    assert.equal(updates.at.length, 1, 'the burst is one update');
    for (let i = 0; i < 5; i++) await progress(B, `job-b${i}`, 'done', 'host-a:101');
    await until(() => updates.at.length === 2, 'the next update');
    assert.ok(updates.at[1]! - updates.at[0]! >= MIN_UPDATE_INTERVAL_MS - 20);
    await updates.stop();
  });

  test('while documents are queued, updates come every five seconds without events; when idle, none', async () => {
    const scope: TeamScope = { teamId: 'team-c' };
    await store.ensureTeam({ id: scope.teamId, name: 'C' });
    const idle = collectUpdates(scope);
    await sleep(BUSY_UPDATE_INTERVAL_MS + 500);
    assert.deepEqual(idle.at, [], 'nothing to show, nothing sent');
    await idle.stop();

    // Queued straight in the store: no event announces it, only the heartbeat shows it.
    await store.insertDocument(scope, buildDocument());
    const busy = collectUpdates(scope);
    await sleep(BUSY_UPDATE_INTERVAL_MS + 700);
    assert.equal(busy.at.length, 1, `updates at ${busy.at.join(', ')} ms`);
    assert.ok(busy.at[0]! >= BUSY_UPDATE_INTERVAL_MS - 20);
    await busy.stop();
  });

  test('a heartbeat makes a node appear to every team with what it is; its progress for a team merges into the same entry', async () => {
    await heartbeat();
    await until(() => ids(A).includes('gpu-host:7'), 'the announced node');
    const seen = dashboard.nodes(B).find((n) => n.id === 'gpu-host:7')!;
    assert.deepEqual(
      { ...seen, lastSeenAt: 0 },
      {
        id: 'gpu-host:7',
        host: 'gpu-host',
        device: 'gpu',
        executionProvider: 'cuda',
        models: ['Xenova/all-MiniLM-L6-v2'],
        concurrency: 4,
        version: '0.1.0',
        startedAt: 1_700_000_000_000,
        activeJobs: 0,
        jobsDone: 0,
        lastSeenAt: 0,
      },
      'a team it has not worked for sees it idle',
    );
    assert.ok(Math.abs(seen.lastSeenAt - (Date.now() + skipped)) < 1000);

    await progress(A, 'job-g1', 'embed', 'gpu-host:7');
    await progress(A, 'job-g2', 'done', 'gpu-host:7');
    // A node that does not announce itself still shows, from its progress alone.
    await progress(A, 'job-o1', 'ocr', 'old-host:9');
    await until(() => ids(A).includes('old-host:9'), 'the progress');
    const nodes = dashboard.nodes(A).filter((n) => n.id === 'gpu-host:7' || n.id === 'old-host:9');
    assert.deepEqual(
      nodes.map((n) => [n.id, n.device, n.executionProvider, n.concurrency, n.activeJobs, n.jobsDone]),
      [
        ['gpu-host:7', 'gpu', 'cuda', 4, 1, 1],
        ['old-host:9', null, null, null, 1, 0],
      ],
      'one entry per node id',
    );
    assert.deepEqual(dashboard.nodes(A).find((n) => n.id === 'old-host:9')!.models, []);
    assert.deepEqual(
      dashboard
        .nodes(B)
        .filter((n) => n.id === 'gpu-host:7')
        .map((n) => [n.activeJobs, n.jobsDone]),
      [[0, 0]],
      "another team does not see the team's jobs",
    );

    // It leaves: gone at once, for every team.
    const leftAt = Date.now();
    await heartbeat({ leaving: true, at: leftAt });
    await until(() => !ids(A).includes('gpu-host:7'), 'the node gone');
    assert.ok(!ids(B).includes('gpu-host:7'));
    // Its last words and a heartbeat delivered late do not bring it back; a new one does.
    await progress(A, 'job-g1', 'failed', 'gpu-host:7');
    await heartbeat({ at: leftAt - 1 });
    await sleep(50);
    assert.ok(!ids(A).includes('gpu-host:7'), 'still gone');
    await heartbeat({ at: leftAt + 1 });
    await until(() => ids(B).includes('gpu-host:7'), 'the node back');
    assert.deepEqual(
      dashboard
        .nodes(A)
        .filter((n) => n.id === 'gpu-host:7')
        .map((n) => [n.activeJobs, n.jobsDone]),
      [[0, 0]],
      'its jobs went with it',
    );
    await heartbeat({ leaving: true, at: leftAt + 2 });
    await until(() => !ids(B).includes('gpu-host:7'), 'the node gone again');
  });

  test('a node that misses three heartbeats disappears, and live dashboards hear when nodes come and go', async () => {
    const intervalMs = 100;
    const updates = collectUpdates(B);
    const started = Date.now();
    // Heartbeats on time keep it, however long it lives.
    let lastBeat = 0;
    for (let i = 0; i < 5; i++) {
      await heartbeat({ nodeId: 'cpu-host:8', device: 'cpu', executionProvider: 'cpu', intervalMs });
      lastBeat = Date.now();
      await sleep(intervalMs);
      assert.ok(ids(B).includes('cpu-host:8'), `alive after ${Date.now() - started} ms`);
    }
    await until(() => !ids(B).includes('cpu-host:8'), 'the silent node gone');
    const silence = Date.now() - lastBeat;
    assert.ok(silence >= MISSED_HEARTBEATS * intervalMs - 60, `gone after ${silence} ms of silence`);
    assert.ok(!ids(A).includes('cpu-host:8'));
    // Its coming and going is one update, a second after the first dashboard.
    await until(() => updates.at.length === 1, 'the update');
    assert.ok(updates.at[0]! >= MIN_UPDATE_INTERVAL_MS - 20);
    await sleep(MIN_UPDATE_INTERVAL_MS + 200);
    assert.equal(updates.at.length, 1, 'heartbeats that change nothing send nothing');
    await updates.stop();
  });

  test('a malformed heartbeat is ignored', async () => {
    await bus.publish(SystemEvents.NodeHeartbeat.subject, { nodeId: 'bad:1', concurrency: 'many' });
    await sleep(50);
    assert.ok(!ids(A).includes('bad:1'));
  });
});
