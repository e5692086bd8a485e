/**
 * Coordination of hub replicas on a real nats-server: work done `exclusively` runs on one
 * replica at a time, and a lock whose holder died without releasing it expires.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { startNats, type NatsServer } from '../../../test/helpers/topology.ts';
import { loadConfig } from '../config.ts';
import { openCoordination, type Coordination } from './coordination.nats.ts';

describe('coordination through NATS', () => {
  let nats: NatsServer;
  const open: Coordination[] = [];
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    for (const c of open) await c.close().catch(() => undefined);
    await nats?.stop();
  });

  async function replica(prefix: string, lockMaxAgeMs?: number): Promise<Coordination> {
    const config = loadConfig({ BUS: 'nats', NATS_URL: nats.url, NATS_PREFIX: prefix });
    const c = await openCoordination(config, pino({ level: 'silent' }), { lockMaxAgeMs });
    open.push(c);
    return c;
  }

  it('runs work on one of several replicas asking at once, and on another once it is done', async () => {
    const prefix = `co-${randomUUID().slice(0, 8)}`;
    const replicas = await Promise.all([1, 2, 3, 4].map(() => replica(prefix)));
    let running = 0;
    let most = 0;
    const work = async () => {
      running += 1;
      most = Math.max(most, running);
      await sleep(300);
      running -= 1;
    };
    const ran = await Promise.all(replicas.map((r) => r.exclusively('recovery', work)));
    assert.equal(ran.filter(Boolean).length, 1, 'exactly one replica ran it');
    assert.equal(most, 1);
    assert.equal(await replicas[3]!.exclusively('recovery', work), true, 'released: the next asker runs it');
    assert.equal(await replicas[0]!.exclusively('other-work', work), true, 'locks are by name');
  });

  it('lets another replica take a lock whose holder died holding it, once it expires', async () => {
    const prefix = `co-${randomUUID().slice(0, 8)}`;
    const [dying, next] = [await replica(prefix, 1_500), await replica(prefix, 1_500)];
    let release!: () => void;
    const held = dying.exclusively('recovery', () => new Promise<void>((r) => (release = r)));
    await sleep(200);
    // The holder's connection goes away without releasing anything.
    await dying.close();
    assert.equal(await next.exclusively('recovery', async () => {}), false, 'still held');
    await sleep(2_000);
    assert.equal(await next.exclusively('recovery', async () => {}), true, 'expired, taken');
    release();
    await held.catch(() => undefined);
  });
});
