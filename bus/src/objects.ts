/**
 * What every adapter shares about stored objects: key and lifetime rules, reading a source,
 * and collecting a body. Adapters only move the bytes.
 */
import { ValidationError } from '@quire/kernel';
import type { ObjectSource } from './bus.ts';
import { BusUnavailableError } from './wire.ts';

/** Object keys: safe tokens, so that a job id is one and nothing else needs escaping. */
const OBJECT_KEY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Returns `key` or throws a {@link ValidationError} (`INVALID_OBJECT_KEY`). */
export function assertObjectKey(key: string): string {
  if (typeof key !== 'string' || !OBJECT_KEY.test(key)) {
    throw new ValidationError(
      `invalid object key ${JSON.stringify(key)} (1-128 of A-Z, a-z, 0-9, '_' and '-', starting with a letter or digit)`,
      { code: 'INVALID_OBJECT_KEY' },
    );
  }
  return key;
}

/** Checks a bus's object lifetime setting, in ms. */
export function assertObjectTtlSetting(ttlMs: number, adapter: string): number {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1000) {
    throw new ValidationError(`${adapter} objectTtlMs must be an integer of at least 1000 ms, got ${ttlMs}`);
  }
  return ttlMs;
}

/** The lifetime of one put: `requested` when given (a positive integer), at most `max`. */
export function resolveObjectTtl(requested: number | undefined, max: number): number {
  if (requested === undefined) return max;
  if (!Number.isSafeInteger(requested) || requested <= 0) {
    throw new ValidationError(`object ttlMs must be a positive integer, got ${requested}`);
  }
  return Math.min(requested, max);
}

/** Largest chunk {@link sourceChunks} yields. */
export const SOURCE_CHUNK_BYTES = 1024 * 1024;

/**
 * The chunks of a source, checked to be bytes (a Readable with an encoding set yields
 * strings, which are refused), cut (without copying) to at most {@link SOURCE_CHUNK_BYTES}
 * each, so that an adapter can pace even a large Uint8Array.
 */
export async function* sourceChunks(data: ObjectSource): AsyncGenerator<Uint8Array> {
  if (data instanceof Uint8Array) {
    yield* slices(data);
    return;
  }
  if (data === null || typeof data !== 'object' || !(Symbol.asyncIterator in data)) {
    throw new ValidationError('object data must be a Uint8Array or an async iterable of Uint8Array chunks');
  }
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) {
      throw new ValidationError(`object stream yielded a ${typeof chunk}, not bytes (is an encoding set on it?)`);
    }
    yield* slices(chunk);
  }
}

function* slices(bytes: Uint8Array): Generator<Uint8Array> {
  for (let at = 0; at < bytes.byteLength; at += SOURCE_CHUNK_BYTES) yield bytes.subarray(at, at + SOURCE_CHUNK_BYTES);
}

/**
 * Reads a body whole into one buffer of `size` bytes.
 * @throws BusUnavailableError when the body is longer or shorter than `size`.
 */
export async function collectBody(key: string, size: number, body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let offset = 0;
  for await (const chunk of body) {
    if (offset + chunk.byteLength > size) throw new BusUnavailableError(`object ${key} is longer than its stated ${size} bytes`);
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  if (offset !== size) throw new BusUnavailableError(`object ${key} ended after ${offset} of ${size} bytes`);
  return out;
}
