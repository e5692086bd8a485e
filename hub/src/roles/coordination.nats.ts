/**
 * What hub replicas coordinate through their NATS server, on one connection: rate-limit
 * counters (a key-value bucket, see `RateLimiterNatsKv`) and short locks for work that one
 * replica at a time must do, such as start-up recovery. A lock is a key created only if
 * absent (atomic on the server) in a bucket whose entries expire, so a hub that dies holding
 * one holds it no longer than the bucket's age limit.
 */
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { RateLimiterNatsKv } from '../auth/rate-limit-store.nats.ts';
import type { LimiterFactory } from '../auth/rate-limits.ts';
import type { Config } from '../config.ts';
import { natsServers } from './shared.ts';

/** Time a counter's entry is kept after its last change, at most (longer than any window). */
const COUNTER_MAX_AGE_MS = 24 * 3_600_000;

/** How long a lock outlives a holder that died without releasing it. */
const LOCK_MAX_AGE_MS = 60_000;

export interface Coordination {
  limiters: LimiterFactory;
  /**
   * Runs `work` if no other replica holds the lock `name`, holding it meanwhile; answers false,
   * running nothing, when another holds it.
   */
  exclusively(name: string, work: () => Promise<void>): Promise<boolean>;
  close(): Promise<void>;
}

export async function openCoordination(config: Config, logger: Logger, options: { lockMaxAgeMs?: number } = {}): Promise<Coordination> {
  const { connect } = await import('nats');
  const { servers, auth } = natsServers(config);
  const nc: NatsConnection = await connect({ servers, name: 'quire-hub-coordination', ...auth });
  try {
    const js = nc.jetstream();
    const prefix = config.bus.natsPrefix;
    const counters = await js.views.kv(`${prefix}-rate-limits`, { history: 1, ttl: COUNTER_MAX_AGE_MS });
    const locks = await js.views.kv(`${prefix}-locks`, { history: 1, ttl: options.lockMaxAgeMs ?? LOCK_MAX_AGE_MS });
    const holder = randomUUID();
    return {
      limiters: (options) => new RateLimiterNatsKv({ ...options, kv: counters }),
      async exclusively(name, work) {
        try {
          await locks.create(name, new TextEncoder().encode(holder));
        } catch (err) {
          logger.info({ lock: name, err: (err as Error).message }, 'another hub holds the lock; leaving the work to it');
          return false;
        }
        try {
          await work();
        } finally {
          await locks.delete(name).catch((err: unknown) => logger.warn({ err, lock: name }, 'releasing a lock failed; it expires'));
        }
        return true;
      },
      close: () => nc.drain(),
    };
  } catch (err) {
    await nc.close();
    throw err;
  }
}
