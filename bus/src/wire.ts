/**
 * What every bus adapter shares about messages: names, encoding, size limits, errors and
 * the started/closed lifecycle. Adapters only move the bytes.
 */
import { z } from 'zod';
import { AppError, PayloadTooLargeError, ValidationError, assertSubject } from '@quire/kernel';
import { MAX_EVENT_BYTES, MAX_JOB_BYTES } from './bus.ts';
import type { JobEnvelope } from './bus.ts';

/** The bus cannot serve the call: not started, closed, or its server is unreachable. */
export class BusUnavailableError extends AppError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('BUS_UNAVAILABLE', message, { ...options, expose: false });
  }
}

/** Abort reason of a delivery whose consumer or bus is closing. */
export class BusClosingError extends AppError {
  constructor() {
    super('BUS_CLOSING', 'the consumer is closing; the job will be redelivered');
  }
}

/** Abort reason of a delivery that went `leaseMs` without a heartbeat. */
export class LeaseLostError extends AppError {
  constructor(leaseMs: number) {
    super('LEASE_LOST', `no heartbeat for ${leaseMs} ms; the job was handed to another delivery`);
  }
}

/**
 * Queue names: dot-separated tokens of lowercase letters, digits and `-`. Narrower than
 * event subjects so that adapters can derive other names from them (NatsBus replaces `.`
 * by `_` for its durable consumer names) without two queues colliding.
 */
const QUEUE = /^[a-z0-9-]+(\.[a-z0-9-]+)*$/;

/** Returns `queue` or throws a {@link ValidationError} (`INVALID_SUBJECT`). */
export function assertQueueName(queue: string): string {
  if (!QUEUE.test(queue) || queue.length > 200) {
    throw new ValidationError(`invalid queue name ${JSON.stringify(queue)} (dot-separated tokens of a-z, 0-9, '-')`, {
      code: 'INVALID_SUBJECT',
    });
  }
  return queue;
}

/** Subjects only the bus itself publishes on. */
const RESERVED_ROOT = 'dead-letter';

/** Checks a subject an application publishes an event on. */
export function assertEventSubject(subject: string): string {
  assertSubject(subject, { wildcards: false });
  if (subject.split('.')[0] === RESERVED_ROOT) {
    throw new ValidationError(`subject ${JSON.stringify(subject)} is reserved for the bus's dead letters`, {
      code: 'INVALID_SUBJECT',
    });
  }
  return subject;
}

const envelopeSchema = z.object({
  id: z.string().min(1).max(256),
  queue: z.string(),
  payload: z.unknown(),
  correlationId: z.string(),
  enqueuedAt: z.number(),
});

/**
 * Validates a job envelope and encodes it as JSON. Ids may not contain control characters
 * (they travel in message headers).
 * @throws ValidationError for a malformed envelope, PayloadTooLargeError above {@link MAX_JOB_BYTES}.
 */
export function encodeJob(job: JobEnvelope<unknown>): string {
  const parsed = envelopeSchema.safeParse(job);
  if (!parsed.success) throw new ValidationError(`invalid job envelope: ${parsed.error.message}`);
  assertQueueName(job.queue);
  if (hasControlCharacters(job.id) || hasControlCharacters(job.correlationId)) {
    throw new ValidationError('job id and correlation id may not contain control characters');
  }
  const text = JSON.stringify(job);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_JOB_BYTES) {
    throw new PayloadTooLargeError(
      `job ${job.id} on ${job.queue} is ${bytes} bytes encoded; the bus carries at most ${MAX_JOB_BYTES} (pass large data by reference, e.g. a blob key)`,
    );
  }
  return text;
}

/** Decodes a stored or received job envelope; throws a {@link ValidationError} when it is not one. */
export function decodeJob(text: string): JobEnvelope<unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ValidationError('job envelope is not JSON', { cause });
  }
  const parsed = envelopeSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError(`invalid job envelope: ${parsed.error.message}`);
  return { ...parsed.data, payload: parsed.data.payload };
}

/**
 * Encodes an event payload as JSON.
 * @throws PayloadTooLargeError above {@link MAX_EVENT_BYTES}; ValidationError when not serialisable.
 */
export function encodeEvent(subject: string, payload: unknown): string {
  const text = JSON.stringify(payload ?? null) as string | undefined;
  if (text === undefined) throw new ValidationError(`event on ${subject} has no JSON representation`);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_EVENT_BYTES) {
    throw new PayloadTooLargeError(`event on ${subject} is ${bytes} bytes encoded; the bus carries at most ${MAX_EVENT_BYTES}`);
  }
  return text;
}

function hasControlCharacters(value: string): boolean {
  return /[\u0000-\u001f\u007f]/.test(value);
}

/** Makes a value safe for a single-line message header, at most `max` characters. */
export function headerValue(value: string, max = 512): string {
  const flat = value.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Error messages kept with a dead letter are cut to this length. */
export const MAX_ERROR_MESSAGE_CHARS = 2000;

/** The started/closed state every adapter goes through once. */
export class Lifecycle {
  #state: 'new' | 'started' | 'closing' | 'closed' = 'new';

  constructor(private readonly adapter: string) {}

  get state(): 'new' | 'started' | 'closing' | 'closed' {
    return this.#state;
  }

  /** Throws unless never started. */
  assertNew(): void {
    if (this.#state !== 'new') throw new BusUnavailableError(`${this.adapter} cannot start: it is ${this.#state}`);
  }

  /** Moves to `started`; throws when already started or closed. */
  begin(): void {
    this.assertNew();
    this.#state = 'started';
  }

  /**
   * Throws unless started. With `duringClose`, a bus that is closing still counts as open:
   * handlers finishing during a close may still enqueue and publish.
   */
  assertOpen(options: { duringClose?: boolean } = {}): void {
    if (this.#state !== 'started' && !(options.duringClose === true && this.#state === 'closing')) {
      throw new BusUnavailableError(`${this.adapter} is ${this.#state === 'new' ? 'not started' : 'closed'}`);
    }
  }

  /** Moves to `closing`; returns false when it already was closing or closed. */
  beginClose(): boolean {
    if (this.#state === 'closing' || this.#state === 'closed') return false;
    this.#state = 'closing';
    return true;
  }

  end(): void {
    this.#state = 'closed';
  }
}
