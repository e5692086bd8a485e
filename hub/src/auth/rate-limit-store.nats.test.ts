/**
 * Shared rate limits on a real nats-server: two RateLimits, each on its own connection as two
 * hubs would be, count against one limit.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AppError } from '@quire/kernel';
import { startNats, type NatsServer } from '../../../test/helpers/topology.ts';
import { RateLimiterNatsKv } from './rate-limit-store.nats.ts';
import { connect, type NatsConnection } from 'nats';
import { RateLimits } from './rate-limits.ts';

const limited = (err: unknown): boolean => err instanceof AppError && err.code === 'RATE_LIMITED';

describe('rate limits shared through NATS', () => {
  let nats: NatsServer;
  const opened: NatsConnection[] = [];
  before(async () => {
    nats = await startNats();
  });
  after(async () => {
    for (const nc of opened) await nc.close();
    await nats?.stop();
  });

  async function hubLimits(uploadsPerTeamPerMinute: number, windowMs = 60_000): Promise<RateLimits> {
    // A connection of its own, as each hub has.
    const nc = await connect({ servers: nats.url, name: `hub-${opened.length}` });
    opened.push(nc);
    const kv = await nc.jetstream().views.kv('quire-rate-limits', { history: 1 });
    return new RateLimits(
      { signIn: { failuresPerAccount: 3, failuresPerAddress: 50, windowMs }, uploadsPerTeamPerMinute },
      (options) => new RateLimiterNatsKv({ ...options, kv }),
    );
  }

  it('of 40 concurrent uploads through two hubs, exactly the limit of 10 get through', async () => {
    const [a, b] = [await hubLimits(10), await hubLimits(10)];
    const team = `team-${randomUUID()}`;
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).upload(team)));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 10);
    assert.ok(
      outcomes.every((o) => o.status === 'fulfilled' || limited(o.reason)),
      'the others are refused RATE_LIMITED',
    );
    await a.upload(`team-${randomUUID()}`);
  });

  it("counts an account's failed sign-ins across hubs and starts afresh after a success on either", async () => {
    const [a, b] = [await hubLimits(10), await hubLimits(10)];
    const email = `p-${randomUUID()}@example.org`;
    await a.beginSignIn(email, '203.0.113.1');
    await b.beginSignIn(email, '203.0.113.2');
    await a.beginSignIn(email, '203.0.113.3');
    await assert.rejects(b.beginSignIn(email, '203.0.113.4'), limited, 'the fourth, on the other hub, is refused');
    await a.signedIn(email, '203.0.113.3');
    await b.beginSignIn(email, '203.0.113.5');
  });

  it('gives the points back when the window ends', async () => {
    const a = await hubLimits(10, 1_000);
    const email = `p-${randomUUID()}@example.org`;
    for (let i = 0; i < 3; i++) await a.beginSignIn(email, '198.51.100.7');
    await assert.rejects(a.beginSignIn(email, '198.51.100.7'), limited);
    await new Promise((r) => setTimeout(r, 1_100));
    await a.beginSignIn(email, '198.51.100.7');
  });
});
