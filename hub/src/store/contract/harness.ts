/**
 * What every part of the Store contract shares: builders of records, the fixture type, the
 * frozen clock and small comparison helpers. `contract.ts` registers the parts for an adapter.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import { AppError, type Classification } from '@quire/kernel';
import { DOCUMENT_ORDER_KEYS, DocumentOrder, Role } from '../store.ts';
import type {
  ChunkRow,
  DocumentRecord,
  NewApiKey,
  NewDocument,
  NewInvitation,
  NewSession,
  NewUser,
  PageRecord,
  Store,
  TeamScope,
} from '../store.ts';

/** What `make` returns for one test. */
export interface StoreFixture {
  /** A started store, empty of this test's teams. */
  store: Store;
  /** Closes the store and removes whatever it created (files, databases). */
  cleanup(): Promise<void>;
}

/** Builds a fixture, or synchronously says why this adapter cannot run here. */
export type MakeStoreFixture = () => Promise<StoreFixture> | { skip: string };

/** A new document with unique id, job id and sha256; any field can be overridden. */
export function buildDocument(overrides: Partial<NewDocument> = {}): NewDocument {
  const id = overrides.id ?? randomUUID();
  return {
    id,
    filename: 'invoice-2024-03.pdf',
    mimeType: 'application/pdf',
    size: 48_213,
    sha256: randomBytes(32).toString('hex'),
    blobKey: `blobs/${id}`,
    jobId: randomUUID(),
    ...overrides,
  };
}

/** A processed page with two words; any field can be overridden. */
export function buildPage(overrides: Partial<Omit<PageRecord, 'documentId'>> = {}): Omit<PageRecord, 'documentId'> {
  return {
    page: 1,
    width: 1240,
    height: 1754,
    text: 'Invoice 42',
    source: 'ocr',
    confidence: 91.5,
    words: [
      { text: 'Invoice', box: { x: 10, y: 20, w: 120, h: 30 }, confidence: 93 },
      { text: '42', box: { x: 140, y: 20, w: 40, h: 30 }, confidence: 90 },
    ],
    ...overrides,
  };
}

/** A chunk with one box; any field can be overridden. */
export function buildChunk(overrides: Partial<Omit<ChunkRow, 'documentId'>> = {}): Omit<ChunkRow, 'documentId'> {
  return { ordinal: 0, page: 1, text: 'Invoice 42', start: 0, end: 10, boxes: [{ x: 10, y: 20, w: 170, h: 30 }], ...overrides };
}

/** A classification with the given type and sensitivity labels. */
export function buildClassification(type: string, sensitivity: string): Classification {
  return { type: { label: type, confidence: 0.87 }, sensitivity: { label: sensitivity, confidence: 0.64 }, method: 'zero-shot' };
}

/** Hex SHA-256, the form in which tokens and keys reach the store. */
export const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A new user with a unique address; any field can be overridden. */
export function buildUser(overrides: Partial<NewUser> = {}): NewUser {
  const id = overrides.id ?? randomUUID();
  return {
    id,
    email: `person-${id}@example.org`,
    name: 'Ada Lovelace',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA',
    ...overrides,
  };
}

/** A refresh token of a new family, valid for an hour after T0; any field can be overridden. */
export function buildSession(userId: string, overrides: Partial<NewSession> = {}): NewSession {
  return {
    id: randomUUID(),
    familyId: randomUUID(),
    userId,
    tokenHash: sha256Hex(randomUUID()),
    expiresAt: T0 + 3_600_000,
    ip: null,
    userAgent: null,
    ...overrides,
  };
}

/** A viewer invitation to `scope`'s team for anyone, valid for a day after T0. */
export function buildInvitation(scope: TeamScope, createdBy: string, overrides: Partial<NewInvitation> = {}): NewInvitation {
  return {
    id: randomUUID(),
    teamId: scope.teamId,
    email: null,
    role: Role.Viewer,
    tokenHash: sha256Hex(randomUUID()),
    createdBy,
    expiresAt: T0 + 86_400_000,
    ...overrides,
  };
}

/** An editor API key of `scope`'s team. */
export function buildApiKey(scope: TeamScope, createdBy: string, overrides: Partial<NewApiKey> = {}): NewApiKey {
  return {
    id: randomUUID(),
    teamId: scope.teamId,
    name: 'ci uploader',
    prefix: 'qk_AbCdEf12',
    keyHash: sha256Hex(randomUUID()),
    role: Role.Editor,
    createdBy,
    ...overrides,
  };
}

/** A point in time well after any real document of a shared test database. */
export const T0 = Date.UTC(2031, 0, 15, 9, 30);

export interface Ctx {
  store: Store;
  /** Two teams that exist in the store; nothing else of theirs does. */
  a: TeamScope;
  b: TeamScope;
}

export type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

export async function settle(p: Promise<unknown>): Promise<Settled> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Asserts that two calls ended the same way: equal values, or errors of one class and code. */
export function assertSameOutcome(actual: Settled, expected: Settled, what: string): void {
  assert.equal(actual.ok, expected.ok, `${what}: ${actual.ok ? 'resolved' : 'rejected'} unlike a missing id`);
  if (actual.ok && expected.ok) assert.deepEqual(actual.value, expected.value, what);
  if (!actual.ok && !expected.ok) {
    assert.equal((actual.error as Error).constructor, (expected.error as Error).constructor, what);
    assert.equal((actual.error as AppError).code, (expected.error as AppError).code, what);
  }
}

/** Fixes `Date.now()` at `now`; `t.mock.timers.tick(ms)` advances it. Restored after the test. */
export function freezeClock(t: TestContext, now = T0): void {
  t.mock.timers.enable({ apis: ['Date'], now });
}

export async function listAll(store: Store, scope: TeamScope, first = 1000): Promise<DocumentRecord[]> {
  return (await store.listDocuments(scope, { first })).edges.map((e) => e.node);
}

export const ids = (docs: readonly { id: string }[]): string[] => docs.map((d) => d.id);

/** Compares as SQLite's NOCASE does: ASCII letters without case, everything else by code unit. */
export const asciiNoCase = (x: string, y: string): number => {
  const [p, q] = [x.replace(/[A-Z]/g, (c) => c.toLowerCase()), y.replace(/[A-Z]/g, (c) => c.toLowerCase())];
  return p < q ? -1 : p > q ? 1 : 0;
};

/** `docs` as a listing in `order` must give them: by the order's key, ties by id in the same direction. */
export function sortedBy(order: DocumentOrder, docs: readonly DocumentRecord[]): DocumentRecord[] {
  const { key, descending } = DOCUMENT_ORDER_KEYS[order];
  const byKey = (x: DocumentRecord, y: DocumentRecord): number =>
    key === 'filename' ? asciiNoCase(x.filename, y.filename) : x[key] - y[key];
  const byId = (x: DocumentRecord, y: DocumentRecord): number => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
  return [...docs].sort((x, y) => (descending ? -1 : 1) * (byKey(x, y) || byId(x, y)));
}

/** Registers one test of the contract: it gets a fresh store with two empty teams, cleaned up after. */
export type StoreTest = (label: string, body: (ctx: Ctx, t: TestContext) => Promise<void>) => void;
