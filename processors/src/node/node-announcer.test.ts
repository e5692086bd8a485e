/**
 * NodeAnnouncer over the in-process bus: a heartbeat at start and every interval with the
 * node's fields and current stats, none after stop, and a last one marked `leaving`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InMemoryJobStorage, MemoryBus, subscribeSystemEvent, type Subscription } from '@quire/bus';
import { SystemEvents, type NodeHeartbeat } from '@quire/kernel';
import type { ExecutionProvider } from '../engines/embedder.transformers.ts';
import { NodeAnnouncer } from './node-announcer.ts';

let bus: MemoryBus;
let subscription: Subscription;
const received: NodeHeartbeat[] = [];

before(async () => {
  bus = new MemoryBus({ storage: new InMemoryJobStorage() });
  await bus.start();
  subscription = await subscribeSystemEvent(bus, SystemEvents.NodeHeartbeat, (beat) => received.push(beat));
});

after(async () => {
  await subscription.close();
  await bus.close();
});

describe('NodeAnnouncer', () => {
  test('publishes at start and every interval, then once more marked leaving on stop, and nothing after', async () => {
    const stats = { executionProvider: 'cpu' as ExecutionProvider | null, activeJobs: 0, jobsDone: 0 };
    const announcer = new NodeAnnouncer({
      bus,
      nodeId: 'host-a:101',
      roles: ['hub', 'processor'],
      models: ['Xenova/all-MiniLM-L6-v2'],
      concurrency: 2,
      stats: () => stats,
      intervalMs: 50,
      version: '1.2.3',
      host: 'host-a',
      pid: 101,
    });
    const startedAt = Date.now();
    await announcer.start();
    assert.equal(received.length, 1, 'the first heartbeat is sent at once');
    const [first] = received;
    assert.deepEqual(
      { ...first, at: 0, startedAt: 0 },
      {
        nodeId: 'host-a:101',
        host: 'host-a',
        pid: 101,
        roles: ['hub', 'processor'],
        device: 'cpu',
        executionProvider: 'cpu',
        models: ['Xenova/all-MiniLM-L6-v2'],
        concurrency: 2,
        activeJobs: 0,
        jobsDone: 0,
        version: '1.2.3',
        startedAt: 0,
        at: 0,
        intervalMs: 50,
      },
    );
    assert.ok(first!.startedAt >= startedAt - 5 && first!.at >= first!.startedAt);

    Object.assign(stats, { executionProvider: 'cuda', activeJobs: 2, jobsDone: 7 });
    await sleep(180);
    assert.ok(received.length >= 3 && received.length <= 5, `${received.length} heartbeats in about 3 intervals`);
    const latest = received.at(-1)!;
    assert.deepEqual([latest.device, latest.executionProvider, latest.activeJobs, latest.jobsDone], ['gpu', 'cuda', 2, 7]);
    assert.equal(latest.leaving, undefined);

    await announcer.stop();
    const count = received.length;
    assert.equal(received.at(-1)!.leaving, true, 'the last heartbeat says the node is leaving');
    await announcer.stop();
    await sleep(150);
    assert.equal(received.length, count, 'nothing after stop');
  });

  test('a node stopped before it started sends nothing; a bad interval is refused', async () => {
    const before = received.length;
    const announcer = new NodeAnnouncer({
      bus,
      nodeId: 'host-b:202',
      roles: ['processor'],
      models: [],
      concurrency: 1,
      stats: () => ({ executionProvider: null, activeJobs: 0, jobsDone: 0 }),
    });
    await announcer.stop();
    await announcer.start();
    assert.equal(received.length, before);
    assert.equal(announcer.heartbeat().intervalMs, 2000, 'the default interval');
    assert.match(announcer.heartbeat().version, /^\d+\.\d+\.\d+/, "the package's version by default");
    assert.throws(
      () =>
        new NodeAnnouncer({
          bus,
          nodeId: 'x',
          roles: [],
          models: [],
          concurrency: 1,
          stats: () => ({ executionProvider: null, activeJobs: 0, jobsDone: 0 }),
          intervalMs: 0,
        }),
      RangeError,
    );
  });
});
