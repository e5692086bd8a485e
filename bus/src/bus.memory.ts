/**
 * The in-process bus of the embedded mode: events dispatched inside the process, jobs kept
 * in a {@link JobStorage} (the hub's SQLite store, so they survive a kill -9), claimed with
 * a lease that a heartbeat extends and that, once expired, makes the job runnable again.
 *
 * Stored objects (originals for the workers) are kept in process memory only, unlike jobs:
 * after a restart a job survives but its object does not (`capabilities.durableObjects` is
 * false), so the hub puts the original again when it re-enqueues a job after a restart.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';
import type {
  Bus,
  BusCapabilities,
  ConsumeOptions,
  DeadLetter,
  EventEnvelope,
  JobEnvelope,
  JobHandler,
  JobStorage,
  ObjectReader,
  ObjectSource,
  PutObjectOptions,
  StoredJob,
  StoredObject,
  Subscription,
} from './bus.ts';
import { DEFAULT_OBJECT_TTL_MS } from './bus.ts';
import { assertObjectKey, assertObjectTtlSetting, resolveObjectTtl, sourceChunks } from './objects.ts';
import { JobConsumer, resolveConsumeOptions } from './job-consumer.ts';
import type { ClaimedJob, ResolvedConsumeOptions } from './job-consumer.ts';
import { Subjects, assertSubject, subjectMatches } from '@quire/kernel';
import { Lifecycle, assertEventSubject, assertQueueName, decodeJob, encodeEvent, encodeJob } from './wire.ts';

/** Options of {@link MemoryBus}. */
export interface MemoryBusOptions {
  /** Where jobs live: the hub's store, or an {@link InMemoryJobStorage} for tests and tools. */
  storage: JobStorage;
  /** Parent logger; the bus logs through a `component: 'bus'` child. Default: silent. */
  logger?: Logger;
  /** How long `close()` waits for in-flight handlers before releasing their jobs. Default 10 s. */
  closeTimeoutMs?: number;
  /**
   * Longest sleep of an idle consumer between looks at the storage. Consumers wake at once
   * on an enqueue through this bus and at the next retry or lease expiry; the poll only
   * matters for jobs written into the storage by something else. Default 1 s.
   */
  pollIntervalMs?: number;
  /**
   * Lifetime of a stored object, and the longest a put may ask for, in ms (at least 1 s).
   * Default {@link DEFAULT_OBJECT_TTL_MS} (24 h).
   */
  objectTtlMs?: number;
}

/** Objects are read back in slices of this size, as a network would deliver them. */
const READ_SLICE_BYTES = 256 * 1024;

interface MemoryObject {
  bytes: Uint8Array;
  expiresAt: number;
  timer: NodeJS.Timeout;
}

/** The in-process {@link Bus}. Not distributed; durable when its storage is. */
export class MemoryBus implements Bus {
  readonly capabilities: BusCapabilities;
  readonly #storage: JobStorage;
  readonly #log: Logger;
  readonly #closeTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #lifecycle = new Lifecycle('MemoryBus');
  readonly #consumers = new Map<string, Set<MemoryJobConsumer>>();
  readonly #subscribers = new Set<EventSubscriber>();
  readonly #objectTtlMs: number;
  readonly #objects = new Map<string, MemoryObject>();

  connected(): boolean {
    return this.#lifecycle.state === 'started';
  }

  constructor(options: MemoryBusOptions) {
    this.#storage = options.storage;
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'bus', adapter: 'memory' });
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#objectTtlMs = assertObjectTtlSetting(options.objectTtlMs ?? DEFAULT_OBJECT_TTL_MS, 'MemoryBus');
    this.capabilities = Object.freeze({ durableJobs: options.storage.durable, distributed: false, durableObjects: false });
  }

  /**
   * Opens the bus. Jobs left in the storage by a previous process need nothing special:
   * waiting ones are claimable at once, those it held when it died once their lease expires.
   */
  async start(): Promise<void> {
    this.#lifecycle.begin();
  }

  async close(): Promise<void> {
    if (!this.#lifecycle.beginClose()) return;
    const consumers = [...this.#consumers.values()].flatMap((set) => [...set]);
    await Promise.all(consumers.map((c) => c.close()));
    this.#consumers.clear();
    for (const subscriber of this.#subscribers) subscriber.active = false;
    this.#subscribers.clear();
    for (const object of this.#objects.values()) clearTimeout(object.timer);
    this.#objects.clear();
    this.#lifecycle.end();
  }

  async enqueue<T>(job: JobEnvelope<T>): Promise<void> {
    this.#lifecycle.assertOpen({ duringClose: true });
    const envelope = encodeJob(job);
    if (this.#storage.insertJob({ id: job.id, queue: job.queue, envelope, runAt: Date.now() })) {
      this.#wake(job.queue);
    }
  }

  async consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions): Promise<Subscription> {
    this.#lifecycle.assertOpen();
    assertQueueName(queue);
    const consumer = new MemoryJobConsumer(
      this.#storage,
      queue,
      handler as JobHandler<unknown>,
      resolveConsumeOptions(options),
      this.#log,
      this.#closeTimeoutMs,
      this.#pollIntervalMs,
      {
        wake: (q) => this.#wake(q),
        publishDeadLetter: (dead) =>
          this.#dispatch(Subjects.deadLetter(dead.envelope.queue), encodeEvent('dead-letter', dead), dead.envelope.correlationId),
      },
    );
    let set = this.#consumers.get(queue);
    if (!set) this.#consumers.set(queue, (set = new Set()));
    set.add(consumer);
    consumer.pump();
    return {
      close: async () => {
        await consumer.close();
        this.#consumers.get(queue)?.delete(consumer);
      },
    };
  }

  async depth(queue: string): Promise<number> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertQueueName(queue);
    return this.#storage.countPending(queue, Date.now());
  }

  async publish<T>(subject: string, payload: T, correlationId?: string): Promise<void> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertEventSubject(subject);
    this.#dispatch(subject, encodeEvent(subject, payload), correlationId);
  }

  async subscribe<T>(pattern: string, handler: (event: EventEnvelope<T>) => void): Promise<Subscription> {
    this.#lifecycle.assertOpen();
    assertSubject(pattern, { wildcards: true });
    const subscriber: EventSubscriber = { pattern, handler: handler as EventSubscriber['handler'], active: true };
    this.#subscribers.add(subscriber);
    return {
      close: async () => {
        subscriber.active = false;
        this.#subscribers.delete(subscriber);
      },
    };
  }

  /** Reads the whole source first, so a source that fails leaves the key as it was. */
  async putObject(key: string, data: ObjectSource, options?: PutObjectOptions): Promise<StoredObject> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertObjectKey(key);
    const ttlMs = resolveObjectTtl(options?.ttlMs, this.#objectTtlMs);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of sourceChunks(data)) {
      chunks.push(chunk);
      size += chunk.byteLength;
    }
    this.#lifecycle.assertOpen({ duringClose: true });
    // A copy, as a server would keep: the caller may reuse its buffers. concat copies already.
    const bytes = chunks.length === 1 ? chunks[0]!.slice() : concat(chunks, size);
    const expiresAt = Date.now() + ttlMs;
    this.#dropObject(key);
    const timer = setTimeout(() => this.#dropObject(key, expiresAt), ttlMs);
    // An original waiting for its job must not keep the process alive.
    timer.unref();
    this.#objects.set(key, { bytes, expiresAt, timer });
    return { key, size, expiresAt };
  }

  async getObject(key: string): Promise<Uint8Array | null> {
    const object = this.#liveObject(key);
    return object ? object.bytes.slice() : null;
  }

  async openObject(key: string): Promise<ObjectReader | null> {
    const object = this.#liveObject(key);
    if (!object) return null;
    const { bytes, expiresAt } = object;
    async function* body(): AsyncGenerator<Uint8Array> {
      for (let offset = 0; offset < bytes.byteLength; offset += READ_SLICE_BYTES) {
        yield bytes.slice(offset, offset + READ_SLICE_BYTES);
      }
    }
    return { key, size: bytes.byteLength, expiresAt, body: body() };
  }

  async deleteObject(key: string): Promise<boolean> {
    const live = this.#liveObject(key) !== undefined;
    this.#dropObject(key);
    return live;
  }

  /** The object under `key` unless it has expired (its timer may not have fired yet). */
  #liveObject(key: string): MemoryObject | undefined {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertObjectKey(key);
    const object = this.#objects.get(key);
    if (!object || object.expiresAt <= Date.now()) return undefined;
    return object;
  }

  /** Removes the object under `key`; with `expiresAt`, only if it is still that put's. */
  #dropObject(key: string, expiresAt?: number): void {
    const object = this.#objects.get(key);
    if (!object || (expiresAt !== undefined && object.expiresAt !== expiresAt)) return;
    clearTimeout(object.timer);
    this.#objects.delete(key);
  }

  /** Every subscriber gets its own parsed copy, as it would from a server. */
  #dispatch(subject: string, text: string, correlationId: string | undefined): void {
    for (const subscriber of this.#subscribers) {
      if (!subjectMatches(subscriber.pattern, subject)) continue;
      // Asynchronous, as over a network: a slow or throwing subscriber never holds up the publisher.
      queueMicrotask(() => {
        if (!subscriber.active) return;
        try {
          const event: EventEnvelope<unknown> = { subject, payload: JSON.parse(text) as unknown };
          if (correlationId !== undefined) event.correlationId = correlationId;
          subscriber.handler(event);
        } catch (err) {
          this.#log.error({ err, subject }, 'event subscriber threw');
        }
      });
    }
  }

  #wake(queue: string): void {
    for (const consumer of this.#consumers.get(queue) ?? []) consumer.pump();
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

interface EventSubscriber {
  pattern: string;
  handler: (event: EventEnvelope<unknown>) => void;
  active: boolean;
}

interface ConsumerHooks {
  wake(queue: string): void;
  publishDeadLetter(dead: DeadLetter): void;
}

/** Claims jobs from the storage while it has free slots; sleeps until the next runnable one. */
class MemoryJobConsumer extends JobConsumer<unknown> {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly storage: JobStorage,
    queue: string,
    handler: JobHandler<unknown>,
    options: ResolvedConsumeOptions,
    logger: Logger,
    closeTimeoutMs: number,
    private readonly pollIntervalMs: number,
    private readonly hooks: ConsumerHooks,
  ) {
    super(queue, handler, options, logger, closeTimeoutMs);
  }

  /** Claims until the slots are full or nothing is runnable, then sleeps until something may be. */
  pump(): void {
    if (this.closing) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.free > 0) {
      const now = Date.now();
      const stored = this.storage.claimJob(this.queue, now, now + this.options.leaseMs);
      if (!stored) break;
      this.#start(stored);
    }
    if (this.free <= 0) return;
    const next = this.storage.nextRunAt(this.queue);
    // At least a few ms, so that a storage whose clock disagrees cannot make this spin.
    const delay = next === undefined ? this.pollIntervalMs : Math.min(this.pollIntervalMs, Math.max(5, next - Date.now()));
    this.#timer = setTimeout(() => this.pump(), delay);
  }

  protected override onSlotFreed(): void {
    this.pump();
  }

  protected override async stopFetching(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(stored: StoredJob): void {
    const { id, attempts: attempt } = stored;
    const { storage, hooks, queue } = this;
    const leaseMs = this.options.leaseMs;
    let envelope: JobEnvelope<unknown>;
    let malformed: string | undefined;
    try {
      envelope = decodeJob(stored.envelope);
    } catch (err) {
      malformed = err instanceof Error ? err.message : String(err);
      envelope = { id, queue, payload: stored.envelope, correlationId: id, enqueuedAt: 0 };
    }
    const job: ClaimedJob<unknown> = {
      envelope,
      attempt,
      extend: () => storage.extendLease(id, attempt, Date.now() + leaseMs),
      complete: async () => {
        if (!storage.completeJob(id, attempt)) this.log.warn({ jobId: id, attempt }, 'completion ignored: the claim was lost');
      },
      retry: async (delayMs, error) => {
        storage.releaseJob(id, attempt, Date.now() + delayMs, `${error.code}: ${error.message}`);
        hooks.wake(queue);
      },
      release: async () => {
        storage.releaseJob(id, attempt, Date.now());
        hooks.wake(queue);
      },
      deadLetter: async (dead) => {
        if (!storage.deadLetterJob(id, attempt, dead.code, dead.message)) return false;
        hooks.publishDeadLetter(dead);
        return true;
      },
    };
    this.run(job, malformed);
  }
}

/** A dead letter as {@link InMemoryJobStorage} keeps it. */
export interface StoredDeadLetter {
  id: string;
  queue: string;
  envelope: string;
  attempts: number;
  code: string;
  message: string;
  deadAt: number;
}

interface JobRow {
  id: string;
  queue: string;
  envelope: string;
  runAt: number;
  attempts: number;
  leaseUntil: number | null;
  lastError: string | null;
  /** Insertion order, the tie-breaker between equal `runAt`s. */
  seq: number;
  /** Bumped on every heap push; a heap entry with an older version is stale. */
  version: number;
}

interface HeapEntry {
  row: JobRow;
  version: number;
  key: number;
}

/** A binary min-heap on `key`, then `row.seq`. */
class MinHeap {
  readonly #items: HeapEntry[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): HeapEntry | undefined {
    return this.#items[0];
  }

  push(entry: HeapEntry): void {
    const items = this.#items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): HeapEntry | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < items.length && this.#less(items[l]!, items[m]!)) m = l;
        if (r < items.length && this.#less(items[r]!, items[m]!)) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m]!, items[i]!];
        i = m;
      }
    }
    return top;
  }

  #less(a: HeapEntry, b: HeapEntry): boolean {
    return a.key < b.key || (a.key === b.key && a.row.seq < b.row.seq);
  }
}

/**
 * Per queue: `ready` holds jobs not under a lease, by `runAt`; `leased` holds leased jobs by
 * lease expiry. Entries are invalidated lazily (see {@link JobRow.version}), so every
 * operation is O(log n).
 */
interface QueueIndex {
  ready: MinHeap;
  leased: MinHeap;
}

/**
 * A {@link JobStorage} in memory: the reference implementation of its semantics, for tests,
 * tools and benchmarks. Not durable: jobs live as long as the object. A second
 * {@link MemoryBus} given the same object sees the same jobs, which is how tests simulate a
 * restart.
 */
export class InMemoryJobStorage implements JobStorage {
  readonly durable = false;
  readonly #queues = new Map<string, QueueIndex>();
  readonly #byId = new Map<string, JobRow>();
  readonly #dead: StoredDeadLetter[] = [];
  #seq = 0;

  insertJob(job: { id: string; queue: string; envelope: string; runAt: number }): boolean {
    if (this.#byId.has(job.id)) return false;
    const row: JobRow = { ...job, attempts: 0, leaseUntil: null, lastError: null, seq: this.#seq++, version: 0 };
    this.#byId.set(job.id, row);
    this.#pushReady(row);
    return true;
  }

  claimJob(queue: string, now: number, leaseUntil: number): StoredJob | undefined {
    const index = this.#queues.get(queue);
    if (!index) return undefined;
    // Expired leases make their jobs claimable again, in runAt order with the rest.
    for (let top = this.#validTop(index.leased); top && top.key <= now; top = this.#validTop(index.leased)) {
      index.leased.pop();
      this.#pushReady(top.row);
    }
    for (let top = this.#validTop(index.ready); top && top.key <= now; top = this.#validTop(index.ready)) {
      index.ready.pop();
      const row = top.row;
      if (row.leaseUntil !== null && row.leaseUntil > now) {
        // Its holder extended the lease after it expired and before anyone claimed it.
        this.#pushLeased(row);
        continue;
      }
      row.attempts += 1;
      row.leaseUntil = leaseUntil;
      this.#pushLeased(row);
      return { id: row.id, queue: row.queue, envelope: row.envelope, attempts: row.attempts };
    }
    return undefined;
  }

  extendLease(id: string, attempt: number, leaseUntil: number): boolean {
    const row = this.#held(id, attempt);
    if (!row) return false;
    row.leaseUntil = leaseUntil;
    this.#pushLeased(row);
    return true;
  }

  completeJob(id: string, attempt: number): boolean {
    const row = this.#held(id, attempt);
    if (row) this.#byId.delete(id);
    return row !== undefined;
  }

  releaseJob(id: string, attempt: number, runAt: number, lastError?: string): boolean {
    const row = this.#held(id, attempt);
    if (!row) return false;
    row.leaseUntil = null;
    row.runAt = runAt;
    row.lastError = lastError ?? null;
    this.#pushReady(row);
    return true;
  }

  deadLetterJob(id: string, attempt: number, code: string, message: string): boolean {
    const row = this.#held(id, attempt);
    if (!row) return false;
    this.#byId.delete(id);
    this.#dead.push({ id, queue: row.queue, envelope: row.envelope, attempts: row.attempts, code, message, deadAt: Date.now() });
    return true;
  }

  countPending(queue: string, now: number): number {
    let count = 0;
    for (const row of this.#byId.values()) {
      if (row.queue === queue && (row.leaseUntil === null || row.leaseUntil <= now)) count++;
    }
    return count;
  }

  nextRunAt(queue: string): number | undefined {
    const index = this.#queues.get(queue);
    if (!index) return undefined;
    const times = [this.#validTop(index.ready), this.#validTop(index.leased)].map((top) =>
      top ? Math.max(top.row.runAt, top.row.leaseUntil ?? top.row.runAt) : Infinity,
    );
    const next = Math.min(...times);
    return next === Infinity ? undefined : next;
  }

  /** Dead letters so far, oldest first, optionally of one queue. */
  deadLetters(queue?: string): readonly StoredDeadLetter[] {
    return this.#dead.filter((d) => queue === undefined || d.queue === queue);
  }

  /** Jobs not yet finished (waiting or leased), of every queue. */
  get size(): number {
    return this.#byId.size;
  }

  #held(id: string, attempt: number): JobRow | undefined {
    const row = this.#byId.get(id);
    return row && row.attempts === attempt && row.leaseUntil !== null ? row : undefined;
  }

  #index(queue: string): QueueIndex {
    let index = this.#queues.get(queue);
    if (!index) this.#queues.set(queue, (index = { ready: new MinHeap(), leased: new MinHeap() }));
    return index;
  }

  #pushReady(row: JobRow): void {
    this.#index(row.queue).ready.push({ row, version: ++row.version, key: row.runAt });
  }

  #pushLeased(row: JobRow): void {
    this.#index(row.queue).leased.push({ row, version: ++row.version, key: row.leaseUntil ?? row.runAt });
  }

  /** The heap's top after dropping stale entries (finished jobs, superseded pushes). */
  #validTop(heap: MinHeap): HeapEntry | undefined {
    for (let top = heap.peek(); top; top = heap.peek()) {
      if (top.version === top.row.version && this.#byId.get(top.row.id) === top.row) return top;
      heap.pop();
    }
    return undefined;
  }
}
