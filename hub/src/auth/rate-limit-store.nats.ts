/**
 * A rate-limiter-flexible store on a NATS JetStream key-value bucket, so that hub replicas
 * count against one limit: each key's count and window end are one entry, changed only by a
 * compare-and-set on the entry's revision (`create` for a new key, `update` from the revision
 * read), retried when another hub wrote first. The increment is therefore atomic across hubs,
 * as the limiter's other shared stores make it, and needs nothing beyond the NATS server the
 * replicas already share. Entries outlive their window by the bucket's age limit at most.
 *
 * Written by hand: rate-limiter-flexible ships no NATS store; this one implements the three
 * storage calls its store base class asks for (`_upsert`, `_get`, `_delete`).
 */
import { createRequire } from 'node:module';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterStoreAbstract as StoreBase } from 'rate-limiter-flexible';
import type { KV, KvEntry } from 'nats';

// The store base class is declared by the package's types but not exported by its index.
const RateLimiterStoreAbstract = createRequire(import.meta.url)(
  'rate-limiter-flexible/lib/RateLimiterStoreAbstract.js',
) as typeof StoreBase;

type StoreOptions = ConstructorParameters<typeof RateLimiterStoreAbstract>[0];

/** One key's state: points taken in the window, and when the window ends (null: never). */
interface Counter {
  points: number;
  expire: number | null;
}

/** JetStream's "wrong last sequence": another writer changed the entry since it was read. */
const WRONG_LAST_SEQUENCE = 10071;

/** Compare-and-set attempts before giving up; each loses only to a write that succeeded. */
const MAX_ATTEMPTS = 64;

export class RateLimiterNatsKv extends RateLimiterStoreAbstract {
  readonly #kv: KV;

  constructor(options: Omit<StoreOptions, 'storeClient'> & { kv: KV }) {
    super({ ...options, storeClient: options.kv });
    this.#kv = options.kv;
  }

  async _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<Counter> {
    const key = entryKey(rlKey);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.#kv.get(key);
      const now = Date.now();
      const current = live(entry, now);
      const next: Counter =
        forceExpire || !current
          ? { points, expire: msDuration > 0 ? now + msDuration : null }
          : { points: current.points + points, expire: current.expire };
      const data = new TextEncoder().encode(JSON.stringify(next));
      try {
        if (entry && entry.operation === 'PUT') await this.#kv.update(key, data, entry.revision);
        else await this.#kv.create(key, data);
        return next;
      } catch (err) {
        if (!lostRace(err)) throw err;
      }
    }
    throw new Error(`rate limit counter ${rlKey}: too many concurrent writers`);
  }

  async _get(rlKey: string): Promise<Counter | null> {
    return live(await this.#kv.get(entryKey(rlKey)), Date.now());
  }

  async _delete(rlKey: string): Promise<boolean> {
    const key = entryKey(rlKey);
    const existed = live(await this.#kv.get(key), Date.now()) !== null;
    await this.#kv.delete(key);
    return existed;
  }

  _getRateLimiterRes(_rlKey: string, changedPoints: number, counter: Counter): RateLimiterRes {
    return new RateLimiterRes(
      Math.max(this.points - counter.points, 0),
      counter.expire !== null ? Math.max(counter.expire - Date.now(), 0) : -1,
      counter.points,
      counter.points === changedPoints,
    );
  }
}

/** The counter an entry holds, unless it was deleted or its window has ended. */
function live(entry: KvEntry | null, now: number): Counter | null {
  if (!entry || entry.operation !== 'PUT') return null;
  const counter = entry.json<Counter>();
  return counter.expire !== null && counter.expire <= now ? null : counter;
}

/** Keys hold addresses and e-mail addresses; a bucket key allows only `[-/_=.a-zA-Z0-9]`. */
function entryKey(rlKey: string): string {
  return Buffer.from(rlKey, 'utf8').toString('base64url');
}

function lostRace(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; message?: string };
  return e.api_error?.err_code === WRONG_LAST_SEQUENCE || /wrong last sequence|key exists/i.test(e.message ?? '');
}
