/**
 * The scale-out bus: jobs in a NATS JetStream work-queue stream, one durable pull consumer
 * per queue shared by every process consuming it; events on core NATS subjects; dead
 * letters in a second stream that core subscribers see as events too.
 *
 * Names, for a `prefix` p (default `quire`):
 *
 * | what                  | NATS                                  |
 * |-----------------------|---------------------------------------|
 * | job on queue q        | subject `p_jobs.q`, stream `p_jobs` (work queue) |
 * | consumer of queue q   | durable `q` with `.` → `_` on `p_jobs` |
 * | event on subject s    | core subject `p.s`                    |
 * | dead letter of q      | subject `p.dead-letter.q`, stream `p_dead` (limits, `deadLetterMaxAgeMs`) |
 * | object under key k    | object `k` in object store bucket `p_originals` (stream `OBJ_p_originals`, `max_age` = `objectTtlMs`) |
 *
 * Jobs live under their own root token, so an event subscription on `>` never sees them.
 * Objects are split by the object store into chunks of 128 KiB (below the server's maximum
 * payload) and kept on file storage, so they survive restarts of hubs, nodes and the server.
 */
import type * as NatsClient from 'nats';
import type {
  ConsumerMessages,
  JetStreamClient,
  ObjectStore as NatsObjectStore,
  JetStreamManager,
  JsMsg,
  NatsConnection,
  Consumer as NatsConsumer,
  StreamConfig,
  Subscription as NatsSubscription,
} from 'nats';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { MAX_MESSAGE_BYTES, Subjects, ValidationError, assertSubject } from '@quire/kernel';
import type {
  Bus,
  BusCapabilities,
  ConsumeOptions,
  DeadLetter,
  EventEnvelope,
  JobEnvelope,
  JobHandler,
  ObjectReader,
  ObjectSource,
  PutObjectOptions,
  StoredObject,
  Subscription,
} from './bus.ts';
import { DEFAULT_OBJECT_TTL_MS } from './bus.ts';
import { assertObjectKey, assertObjectTtlSetting, collectBody, resolveObjectTtl, sourceChunks } from './objects.ts';
import { JobConsumer, resolveConsumeOptions } from './job-consumer.ts';
import type { ClaimedJob, ResolvedConsumeOptions } from './job-consumer.ts';
import {
  BusUnavailableError,
  Lifecycle,
  assertEventSubject,
  assertQueueName,
  decodeJob,
  encodeEvent,
  encodeJob,
  headerValue,
} from './wire.ts';

/** Options of {@link NatsBus}. */
export interface NatsBusOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /**
   * Namespace of every stream and subject: lowercase letters, digits and `-`. Processes that
   * share jobs and events use the same prefix; tests use a unique one each. Default `quire`.
   */
  prefix?: string;
  /** Connection name shown by the server's monitoring (e.g. `hub-1`). Default `quire`. */
  name?: string;
  /** Parent logger; the bus logs through a `component: 'bus'` child. Default: silent. */
  logger?: Logger;
  /** How long `close()` waits for in-flight handlers before releasing their jobs. Default 10 s. */
  closeTimeoutMs?: number;
  /** How long the server remembers enqueued job ids to drop duplicates. Default 2 min. */
  duplicateWindowMs?: number;
  /** How long dead letters are kept. Default 14 days. */
  deadLetterMaxAgeMs?: number;
  /** Time to wait for the first connection and for each server reply. Default 5 s. */
  timeoutMs?: number;
  /**
   * How long one pull request waits for jobs before it is renewed (NATS requires ≥ 1 s). A
   * job is delivered the moment it arrives regardless. Default 10 s.
   */
  pullExpiresMs?: number;
  /**
   * Lifetime of a stored object, in ms (at least 1 s): the `max_age` of the object store
   * bucket, so the server removes every object this long after it was put, and the longest a
   * put may ask for (a shorter one is enforced when the object is read). Processes sharing a
   * prefix should agree; the last to start sets the bucket. Default
   * {@link DEFAULT_OBJECT_TTL_MS} (24 h).
   */
  objectTtlMs?: number;
  /** How the connection authenticates, when the server asks: a user and password, or a token. Default: none. */
  auth?: { user: string; pass: string } | { token: string };
}

/** Metadata key of an object's expiry (epoch ms, decimal). */
const EXPIRES_AT = 'quire-expires-at';

/**
 * A streamed put waits for the server to catch up after this many bytes, so that a large
 * source is not read into the client's outgoing buffer faster than the server stores it.
 */
const PUT_FLUSH_BYTES = 1024 * 1024;

const PREFIX = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Message headers the bus writes. */
export const NatsHeaders = {
  CorrelationId: 'Quire-Correlation-Id',
  JobId: 'Quire-Job-Id',
  Queue: 'Quire-Queue',
  ErrorCode: 'Quire-Error-Code',
  ErrorMessage: 'Quire-Error-Message',
  Attempts: 'Quire-Attempts',
} as const;

/** JetStream API error codes the bus reacts to. */
const JsErr = { StreamNotFound: 10059, ConsumerNotFound: 10014, StreamNameInUse: 10058, ConsumerNameExists: 10148 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

let client: typeof NatsClient | undefined;

/**
 * Loads the `nats` client on first use (from `start` or {@link deleteNatsBusStreams}), so a
 * process that runs on another bus never loads it.
 */
async function loadClient(): Promise<typeof NatsClient> {
  client ??= await import('nats');
  return client;
}

/** The loaded `nats` client; everything that calls this runs after {@link loadClient}. */
function nats(): typeof NatsClient {
  if (client === undefined) throw new BusUnavailableError('the NATS client is not loaded: start the bus first');
  return client;
}

/** What `start` opens: the connection and the JetStream handles over it. */
interface Connection {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  objects: NatsObjectStore;
}

/** The NATS JetStream {@link Bus}: durable, distributed. */
export class NatsBus implements Bus {
  readonly capabilities: BusCapabilities = Object.freeze({ durableJobs: true, distributed: true, durableObjects: true });
  readonly #options: Required<Omit<NatsBusOptions, 'logger' | 'auth'>> & Pick<NatsBusOptions, 'auth'>;
  readonly #log: Logger;
  readonly #lifecycle = new Lifecycle('NatsBus');
  /** Between a lost connection and its reconnection (the client retries by itself). */
  #disconnected = false;
  readonly #consumers = new Set<NatsJobConsumer>();
  readonly #subscriptions = new Set<NatsSubscription>();
  /** Set by `start`, all at once. */
  #conn: Connection | undefined;

  constructor(options: NatsBusOptions) {
    const prefix = options.prefix ?? 'quire';
    if (!PREFIX.test(prefix)) {
      throw new ValidationError(
        `NatsBus prefix ${JSON.stringify(prefix)} must be 1-64 of a-z, 0-9 and '-', starting with a letter or digit`,
      );
    }
    this.#options = {
      servers: options.servers,
      prefix,
      name: options.name ?? 'quire',
      closeTimeoutMs: options.closeTimeoutMs ?? 10_000,
      duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
      deadLetterMaxAgeMs: options.deadLetterMaxAgeMs ?? 14 * 24 * 3600 * 1000,
      timeoutMs: options.timeoutMs ?? 5000,
      pullExpiresMs: Math.max(1000, options.pullExpiresMs ?? 10_000),
      objectTtlMs: assertObjectTtlSetting(options.objectTtlMs ?? DEFAULT_OBJECT_TTL_MS, 'NatsBus'),
      auth: options.auth,
    };
    this.#log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'bus', adapter: 'nats', prefix });
  }

  /** The stream holding this prefix's jobs. */
  get jobsStream(): string {
    return `${this.#options.prefix}_jobs`;
  }

  /** The stream holding this prefix's dead letters. */
  get deadLetterStream(): string {
    return `${this.#options.prefix}_dead`;
  }

  /** The object store bucket holding this prefix's objects (its stream is `OBJ_<bucket>`). */
  get objectBucket(): string {
    return objectBucketName(this.#options.prefix);
  }

  /** Connects and creates (or updates) the streams and the object store bucket. Fails with `BUS_UNAVAILABLE` when the server or JetStream is unreachable. */
  async start(): Promise<void> {
    this.#lifecycle.assertNew();
    const { servers, name, timeoutMs, auth } = this.#options;
    const { connect } = await loadClient();
    let nc: NatsConnection;
    try {
      nc = await connect({ servers, name, timeout: timeoutMs, maxReconnectAttempts: -1, ...auth });
    } catch (cause) {
      throw new BusUnavailableError(`cannot connect to NATS at ${String(servers)}: ${errorMessage(cause)}`, { cause });
    }
    try {
      const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
      await ensureStream(jsm, streamConfig(this.#options));
      await ensureStream(jsm, deadLetterStreamConfig(this.#options));
      // The bucket's stream is created here, with the settings the bus owns; the object
      // store view then only binds to it.
      await ensureStream(jsm, objectStreamConfig(this.#options));
      const js = nc.jetstream({ timeout: timeoutMs });
      const objects = await js.views.os(this.objectBucket);
      this.#conn = { nc, js, jsm, objects };
    } catch (cause) {
      await nc.close().catch(() => undefined);
      throw new BusUnavailableError(`NATS at ${String(servers)} has no usable JetStream: ${errorMessage(cause)}`, { cause });
    }
    this.#lifecycle.begin();
    void this.#watch(nc);
  }

  async close(): Promise<void> {
    if (!this.#lifecycle.beginClose()) return;
    await Promise.all([...this.#consumers].map((c) => c.close()));
    this.#consumers.clear();
    for (const sub of this.#subscriptions) sub.unsubscribe();
    this.#subscriptions.clear();
    const nc = this.#conn?.nc;
    if (nc && !nc.isClosed()) {
      // drain() flushes the acks and naks the consumers just sent before closing.
      await nc.drain().catch(async (err: unknown) => {
        this.#log.warn({ err }, 'drain failed; closing');
        await nc.close();
      });
    }
    this.#lifecycle.end();
  }

  async enqueue<T>(job: JobEnvelope<T>): Promise<void> {
    this.#lifecycle.assertOpen({ duringClose: true });
    const text = encodeJob(job);
    const h = nats().headers();
    h.set(NatsHeaders.CorrelationId, job.correlationId);
    try {
      const { js } = this.#connection();
      await js.publish(this.#jobSubject(job.queue), encoder.encode(text), {
        msgID: job.id,
        expect: { streamName: this.jobsStream },
        headers: h,
      });
    } catch (cause) {
      throw new BusUnavailableError(`could not enqueue job ${job.id} on ${job.queue}: ${errorMessage(cause)}`, { cause });
    }
  }

  async consume<T>(queue: string, handler: JobHandler<T>, options?: ConsumeOptions): Promise<Subscription> {
    this.#lifecycle.assertOpen();
    assertQueueName(queue);
    const resolved = resolveConsumeOptions(options);
    const durable = durableName(queue);
    const { js, jsm } = this.#connection();
    await ensureConsumer(jsm, this.jobsStream, {
      durable,
      filterSubject: this.#jobSubject(queue),
      ackWaitMs: resolved.leaseMs,
      // One delivery beyond maxAttempts: if the last attempt's consumer dies, that extra
      // delivery dead-letters the job instead of leaving it stranded in the work queue.
      maxDeliver: resolved.maxAttempts + 1,
    });
    const natsConsumer = await js.consumers.get(this.jobsStream, durable);
    const consumer = new NatsJobConsumer(
      natsConsumer,
      queue,
      handler as JobHandler<unknown>,
      resolved,
      this.#log,
      this.#options.closeTimeoutMs,
      this.#options.pullExpiresMs,
      (dead, msg) => this.#deadLetter(dead, msg),
    );
    this.#consumers.add(consumer);
    consumer.pump();
    return {
      close: async () => {
        await consumer.close();
        this.#consumers.delete(consumer);
      },
    };
  }

  /** Jobs not yet delivered: the queue consumer's `num_pending`, or the stream's count before any consumer exists. */
  async depth(queue: string): Promise<number> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertQueueName(queue);
    const { jsm } = this.#connection();
    try {
      const info = await jsm.consumers.info(this.jobsStream, durableName(queue));
      return info.num_pending;
    } catch (err) {
      if (apiErrorCode(err) !== JsErr.ConsumerNotFound) throw err;
    }
    const subject = this.#jobSubject(queue);
    const info = await jsm.streams.info(this.jobsStream, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  async publish<T>(subject: string, payload: T, correlationId?: string): Promise<void> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertEventSubject(subject);
    const data = encoder.encode(encodeEvent(subject, payload));
    const { nc } = this.#connection();
    if (correlationId === undefined) {
      nc.publish(this.#eventSubject(subject), data);
    } else {
      const h = nats().headers();
      h.set(NatsHeaders.CorrelationId, headerValue(correlationId));
      nc.publish(this.#eventSubject(subject), data, { headers: h });
    }
  }

  async subscribe<T>(pattern: string, handler: (event: EventEnvelope<T>) => void): Promise<Subscription> {
    this.#lifecycle.assertOpen();
    assertSubject(pattern, { wildcards: true });
    const { nc } = this.#connection();
    const strip = this.#options.prefix.length + 1;
    const sub = nc.subscribe(this.#eventSubject(pattern), {
      callback: (err, msg) => {
        if (err) {
          this.#log.error({ err, pattern }, 'event subscription failed');
          return;
        }
        try {
          const event: EventEnvelope<T> = { subject: msg.subject.slice(strip), payload: JSON.parse(decoder.decode(msg.data)) as T };
          const correlationId = msg.headers?.get(NatsHeaders.CorrelationId);
          if (correlationId) event.correlationId = correlationId;
          handler(event);
        } catch (err) {
          this.#log.error({ err, subject: msg.subject }, 'event subscriber threw');
        }
      },
    });
    this.#subscriptions.add(sub);
    // Once the server has seen the SUB, an event published afterwards is delivered.
    await nc.flush();
    return {
      close: async () => {
        this.#subscriptions.delete(sub);
        if (sub.isClosed()) return;
        sub.unsubscribe();
        if (!nc.isClosed()) await nc.flush();
      },
    };
  }

  async putObject(key: string, data: ObjectSource, options?: PutObjectOptions): Promise<StoredObject> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertObjectKey(key);
    const ttlMs = resolveObjectTtl(options?.ttlMs, this.#options.objectTtlMs);
    // Taken before the first chunk is stored, so the server removes no chunk before this.
    const expiresAt = Date.now() + ttlMs;
    const { nc, objects } = this.#connection();
    const source = sourceChunks(data);
    let sourceError: unknown;
    let unflushed = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          if (unflushed >= PUT_FLUSH_BYTES) {
            unflushed = 0;
            await nc.flush();
          }
          const next = await source.next();
          if (next.done) {
            controller.close();
            return;
          }
          unflushed += next.value.byteLength;
          controller.enqueue(next.value);
        } catch (err) {
          sourceError ??= err;
          throw err;
        }
      },
      async cancel() {
        await source.return(undefined);
      },
    });
    try {
      const info = await objects.put({ name: key, metadata: { [EXPIRES_AT]: String(expiresAt) } }, stream, {
        timeout: this.#options.timeoutMs,
      });
      return { key, size: info.size, expiresAt };
    } catch (cause) {
      // The object store removed the chunks it had stored; the key keeps its previous object.
      if (sourceError !== undefined) throw sourceError;
      // Lets a Readable source go (its iterator's return destroys it).
      await source.return(undefined).catch(() => undefined);
      throw new BusUnavailableError(`could not store object ${key}: ${errorMessage(cause)}`, { cause });
    }
  }

  async getObject(key: string): Promise<Uint8Array | null> {
    const reader = await this.openObject(key);
    return reader ? collectBody(key, reader.size, reader.body) : null;
  }

  async openObject(key: string): Promise<ObjectReader | null> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertObjectKey(key);
    let result: Awaited<ReturnType<NatsObjectStore['get']>>;
    try {
      const { objects } = this.#connection();
      result = await objects.get(key);
    } catch (cause) {
      throw new BusUnavailableError(`could not read object ${key}: ${errorMessage(cause)}`, { cause });
    }
    if (result === null) return null;
    // Settles with the outcome of the read; observed here so that an abandoned read cannot
    // become an unhandled rejection.
    const outcome = result.error.then(
      (err) => err,
      (err: unknown) => err,
    );
    const expiresAt = objectExpiresAt(result.info, this.#options.objectTtlMs);
    if (!(expiresAt > Date.now())) {
      // Expired by its own lifetime (or about to be removed by the bucket's): its chunks may
      // already be gone, so it is not read at all.
      await result.data.cancel().catch(() => undefined);
      return null;
    }
    return { key, size: result.info.size, expiresAt, body: readObjectBody(key, result.data, outcome, this.#options.timeoutMs) };
  }

  async deleteObject(key: string): Promise<boolean> {
    this.#lifecycle.assertOpen({ duringClose: true });
    assertObjectKey(key);
    try {
      const { objects } = this.#connection();
      const info = await objects.info(key);
      if (info === null || info.deleted) return false;
      await objects.delete(key);
      return objectExpiresAt(info, this.#options.objectTtlMs) > Date.now();
    } catch (cause) {
      throw new BusUnavailableError(`could not delete object ${key}: ${errorMessage(cause)}`, { cause });
    }
  }

  /** Publishes a dead letter to the dead-letter stream (and so to its event subscribers), then removes the job. */
  async #deadLetter(dead: DeadLetter, msg: JsMsg): Promise<boolean> {
    const h = nats().headers();
    h.set(NatsHeaders.JobId, headerValue(dead.envelope.id));
    h.set(NatsHeaders.Queue, dead.envelope.queue);
    h.set(NatsHeaders.CorrelationId, headerValue(dead.envelope.correlationId));
    h.set(NatsHeaders.ErrorCode, headerValue(dead.code, 128));
    h.set(NatsHeaders.ErrorMessage, headerValue(dead.message));
    h.set(NatsHeaders.Attempts, String(dead.attempts));
    const data = encoder.encode(JSON.stringify(dead));
    if (data.byteLength >= MAX_MESSAGE_BYTES) {
      throw new ValidationError(`dead letter of job ${dead.envelope.id} is ${data.byteLength} bytes`);
    }
    const { js } = this.#connection();
    await js.publish(this.#eventSubject(Subjects.deadLetter(dead.envelope.queue)), data, {
      // A second dead-lettering of the same job (its first ack was lost) is dropped by the stream.
      msgID: `dead-letter:${dead.envelope.id}`,
      expect: { streamName: this.deadLetterStream },
      headers: h,
    });
    await msg.ackAck({ timeout: this.#options.timeoutMs });
    return true;
  }

  connected(): boolean {
    const nc = this.#conn?.nc;
    return this.#lifecycle.state === 'started' && !this.#disconnected && nc !== undefined && !nc.isClosed();
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') this.#disconnected = true;
      if (status.type === 'reconnect') this.#disconnected = false;
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        this.#log.warn({ status: status.type, data: String(status.data) }, 'NATS connection status');
      }
    }
  }

  #jobSubject(queue: string): string {
    return `${this.#options.prefix}_jobs.${queue}`;
  }

  #eventSubject(subject: string): string {
    return `${this.#options.prefix}.${subject}`;
  }

  #connection(): Connection {
    if (!this.#conn) throw new BusUnavailableError('NatsBus is not started');
    return this.#conn;
  }
}

/**
 * Deletes a prefix's streams (jobs, dead letters, the object store bucket) and with them
 * their consumers and objects. For tests and tools; missing streams are fine.
 */
export async function deleteNatsBusStreams(options: { servers: string | string[]; prefix: string }): Promise<void> {
  const { connect } = await loadClient();
  const nc = await connect({ servers: options.servers, name: 'quire-cleanup' });
  try {
    const jsm = await nc.jetstreamManager();
    for (const name of [`${options.prefix}_jobs`, `${options.prefix}_dead`, `OBJ_${objectBucketName(options.prefix)}`]) {
      try {
        await jsm.streams.delete(name);
      } catch (err) {
        if (apiErrorCode(err) !== JsErr.StreamNotFound) throw err;
      }
    }
  } finally {
    await nc.close();
  }
}

type DeadLetterSink = (dead: DeadLetter, msg: JsMsg) => Promise<boolean>;

/**
 * Pulls only for free slots, so a job is never delivered to a process that cannot start it
 * (its lease would run while it waited). Several pull requests may be open at once: one is
 * issued per batch of freed slots instead of waiting for an idle one to expire.
 */
class NatsJobConsumer extends JobConsumer<unknown> {
  #requested = 0;
  #pumpScheduled = false;
  readonly #pulls = new Set<ConsumerMessages>();

  constructor(
    private readonly natsConsumer: NatsConsumer,
    queue: string,
    handler: JobHandler<unknown>,
    options: ResolvedConsumeOptions,
    logger: Logger,
    closeTimeoutMs: number,
    private readonly pullExpiresMs: number,
    private readonly sink: DeadLetterSink,
  ) {
    super(queue, handler, options, logger, closeTimeoutMs);
  }

  pump(): void {
    if (this.closing) return;
    const want = this.free - this.#requested;
    if (want <= 0) return;
    this.#requested += want;
    void this.#pull(want);
  }

  protected override onSlotFreed(): void {
    // Slots freed in the same turn of the event loop share one pull request.
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.pump();
    });
  }

  protected override async stopFetching(): Promise<void> {
    for (const pull of this.#pulls) pull.stop();
    this.#pulls.clear();
  }

  async #pull(count: number): Promise<void> {
    let received = 0;
    let pull: ConsumerMessages | undefined;
    const started = Date.now();
    try {
      pull = await this.natsConsumer.fetch({ max_messages: count, expires: this.pullExpiresMs });
      this.#pulls.add(pull);
      if (this.closing) pull.stop();
      for await (const msg of pull) {
        received++;
        this.#requested--;
        if (this.closing) {
          // Arrived while closing: hand it straight back.
          msg.nak();
          continue;
        }
        this.#start(msg);
      }
    } catch (err) {
      if (!this.closing) this.log.warn({ err }, 'pull failed; retrying');
    } finally {
      if (pull) this.#pulls.delete(pull);
      this.#requested -= count - received;
    }
    if (this.closing) return;
    // A pull that ended at once with nothing (server restarting, stream gone) must not spin.
    if (received === 0 && Date.now() - started < 250) await new Promise((resolve) => setTimeout(resolve, 500));
    this.pump();
  }

  #start(msg: JsMsg): void {
    const attempt = msg.info.deliveryCount;
    let envelope: JobEnvelope<unknown>;
    let malformed: string | undefined;
    try {
      envelope = decodeJob(decoder.decode(msg.data));
      if (envelope.queue !== this.queue) throw new ValidationError(`job for queue ${envelope.queue} arrived on ${this.queue}`);
    } catch (err) {
      malformed = errorMessage(err);
      const id = `seq-${msg.seq}`;
      envelope = { id, queue: this.queue, payload: decoder.decode(msg.data), correlationId: id, enqueuedAt: 0 };
    }
    const job: ClaimedJob<unknown> = {
      envelope,
      attempt,
      extend: () => {
        msg.working();
        return true;
      },
      complete: async () => msg.ack(),
      retry: async (delayMs) => (delayMs > 0 ? msg.nak(delayMs) : msg.nak()),
      release: async () => msg.nak(),
      deadLetter: (dead) => this.sink(dead as DeadLetter, msg),
    };
    this.run(job, malformed);
  }
}

/**
 * Yields an object's chunks as the object store delivers them. A read that waits longer than
 * `idleMs` for the next chunk fails: the chunks expired or were deleted under it, which the
 * object store would otherwise wait for forever.
 */
async function* readObjectBody(
  key: string,
  data: ReadableStream<Uint8Array>,
  outcome: Promise<unknown>,
  idleMs: number,
): AsyncGenerator<Uint8Array> {
  const reader = data.getReader();
  let finished = false;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new BusUnavailableError(`object ${key}: no data for ${idleMs} ms (expired or deleted while being read?)`)),
          idleMs,
        );
      });
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await Promise.race([reader.read(), idle]);
      } catch (cause) {
        if (cause instanceof BusUnavailableError) throw cause;
        throw new BusUnavailableError(`could not read object ${key}: ${errorMessage(cause)}`, { cause });
      } finally {
        clearTimeout(timer);
      }
      if (next.done) break;
      if (next.value.byteLength > 0) yield next.value;
    }
    const err = await outcome;
    if (err) throw new BusUnavailableError(`could not read object ${key}: ${errorMessage(err)}`, { cause: err });
    finished = true;
  } finally {
    // Stops the object store's subscription when the reader gave up early.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** When an object expires: its own lifetime, or the bucket's counted from when it was stored. */
function objectExpiresAt(info: { metadata?: Record<string, string>; mtime: string }, bucketTtlMs: number): number {
  const own = Number(info.metadata?.[EXPIRES_AT]);
  const bucket = Date.parse(info.mtime) + bucketTtlMs;
  return Number.isFinite(own) ? Math.min(own, bucket) : bucket;
}

function objectBucketName(prefix: string): string {
  return `${prefix}_originals`;
}

function durableName(queue: string): string {
  // Queue tokens cannot contain '_', so this is one-to-one.
  return queue.replaceAll('.', '_');
}

function streamConfig(options: { prefix: string; duplicateWindowMs: number }): Partial<StreamConfig> & { name: string } {
  return {
    name: `${options.prefix}_jobs`,
    subjects: [`${options.prefix}_jobs.>`],
    retention: nats().RetentionPolicy.Workqueue,
    storage: nats().StorageType.File,
    discard: nats().DiscardPolicy.Old,
    duplicate_window: nats().nanos(options.duplicateWindowMs),
    max_msg_size: MAX_MESSAGE_BYTES,
  };
}

function deadLetterStreamConfig(options: {
  prefix: string;
  duplicateWindowMs: number;
  deadLetterMaxAgeMs: number;
}): Partial<StreamConfig> & { name: string } {
  return {
    name: `${options.prefix}_dead`,
    subjects: [`${options.prefix}.dead-letter.>`],
    retention: nats().RetentionPolicy.Limits,
    storage: nats().StorageType.File,
    discard: nats().DiscardPolicy.Old,
    max_age: nats().nanos(options.deadLetterMaxAgeMs),
    duplicate_window: nats().nanos(Math.min(options.duplicateWindowMs, options.deadLetterMaxAgeMs)),
    max_msg_size: MAX_MESSAGE_BYTES,
  };
}

/**
 * The object store bucket's stream, as nats.js's object store would create it (subjects,
 * rollups, direct gets, discard new), with the lifetime and storage the bus owns.
 */
function objectStreamConfig(options: { prefix: string; objectTtlMs: number; duplicateWindowMs: number }): Partial<StreamConfig> & {
  name: string;
} {
  const bucket = objectBucketName(options.prefix);
  return {
    name: `OBJ_${bucket}`,
    subjects: [`$O.${bucket}.C.>`, `$O.${bucket}.M.>`],
    retention: nats().RetentionPolicy.Limits,
    storage: nats().StorageType.File,
    discard: nats().DiscardPolicy.New,
    max_age: nats().nanos(options.objectTtlMs),
    duplicate_window: nats().nanos(Math.min(options.duplicateWindowMs, options.objectTtlMs)),
    allow_rollup_hdrs: true,
    allow_direct: true,
    num_replicas: 1,
  };
}

/** Creates the stream, or brings the settings the bus owns up to date when it exists. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const info = await jsm.streams.info(config.name);
    const current = info.config;
    if (
      current.duplicate_window !== config.duplicate_window ||
      current.max_age !== (config.max_age ?? 0) ||
      current.subjects.join() !== (config.subjects ?? []).join()
    ) {
      await jsm.streams.update(config.name, { ...current, ...config });
    }
    return;
  } catch (err) {
    if (apiErrorCode(err) !== JsErr.StreamNotFound) throw err;
  }
  try {
    await jsm.streams.add(config);
  } catch (err) {
    // Another process created it between our look and our add.
    if (apiErrorCode(err) !== JsErr.StreamNameInUse) throw err;
  }
}

/** Creates the queue's durable consumer, or updates its lease and delivery limit. */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  want: { durable: string; filterSubject: string; ackWaitMs: number; maxDeliver: number },
): Promise<void> {
  const ack_wait = nats().nanos(want.ackWaitMs);
  try {
    const info = await jsm.consumers.info(stream, want.durable);
    if (info.config.ack_wait !== ack_wait || info.config.max_deliver !== want.maxDeliver) {
      await jsm.consumers.update(stream, want.durable, { ack_wait, max_deliver: want.maxDeliver });
    }
    return;
  } catch (err) {
    if (apiErrorCode(err) !== JsErr.ConsumerNotFound) throw err;
  }
  try {
    await jsm.consumers.add(stream, {
      durable_name: want.durable,
      ack_policy: nats().AckPolicy.Explicit,
      deliver_policy: nats().DeliverPolicy.All,
      filter_subject: want.filterSubject,
      ack_wait,
      max_deliver: want.maxDeliver,
    });
  } catch (err) {
    if (apiErrorCode(err) !== JsErr.ConsumerNameExists) throw err;
    await jsm.consumers.update(stream, want.durable, { ack_wait, max_deliver: want.maxDeliver });
  }
}

function apiErrorCode(err: unknown): number | undefined {
  return client !== undefined && err instanceof client.NatsError ? err.api_error?.err_code : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
