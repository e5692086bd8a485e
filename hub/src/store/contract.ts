/**
 * The one behaviour suite every {@link Store} adapter passes. An adapter's test file calls
 * `defineStoreContract(name, make)`; `make` builds a fresh, started store per test, or says
 * why the adapter cannot run here (no server), which is reported as a skipped test.
 *
 * Timestamps are read from the hub's clock (`Date.now()`): the suite fixes and advances that
 * clock to make ordering and ties deterministic.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import { AppError, type Classification, ConflictError, DocumentStatus, type Fields, NotFoundError, ValidationError } from '@quire/kernel';
import { AuditAction, DOCUMENT_ORDER_KEYS, DocumentOrder, Role } from './store.ts';
import type {
  AnnotationOpRecord,
  AnnotationRecord,
  ChunkRow,
  DocumentRecord,
  NewApiKey,
  NewDocument,
  NewInvitation,
  NewSession,
  NewUser,
  Page,
  PageRecord,
  Store,
  TeamScope,
} from './store.ts';

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
const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

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
const T0 = Date.UTC(2031, 0, 15, 9, 30);

interface Ctx {
  store: Store;
  /** Two teams that exist in the store; nothing else of theirs does. */
  a: TeamScope;
  b: TeamScope;
}

type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

async function settle(p: Promise<unknown>): Promise<Settled> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Asserts that two calls ended the same way: equal values, or errors of one class and code. */
function assertSameOutcome(actual: Settled, expected: Settled, what: string): void {
  assert.equal(actual.ok, expected.ok, `${what}: ${actual.ok ? 'resolved' : 'rejected'} unlike a missing id`);
  if (actual.ok && expected.ok) assert.deepEqual(actual.value, expected.value, what);
  if (!actual.ok && !expected.ok) {
    assert.equal((actual.error as Error).constructor, (expected.error as Error).constructor, what);
    assert.equal((actual.error as AppError).code, (expected.error as AppError).code, what);
  }
}

/** Fixes `Date.now()` at `now`; `t.mock.timers.tick(ms)` advances it. Restored after the test. */
function freezeClock(t: TestContext, now = T0): void {
  t.mock.timers.enable({ apis: ['Date'], now });
}

async function listAll(store: Store, scope: TeamScope, first = 1000): Promise<DocumentRecord[]> {
  return (await store.listDocuments(scope, { first })).edges.map((e) => e.node);
}

const ids = (docs: readonly { id: string }[]): string[] => docs.map((d) => d.id);

/** Compares as SQLite's NOCASE does: ASCII letters without case, everything else by code unit. */
const asciiNoCase = (x: string, y: string): number => {
  const [p, q] = [x.replace(/[A-Z]/g, (c) => c.toLowerCase()), y.replace(/[A-Z]/g, (c) => c.toLowerCase())];
  return p < q ? -1 : p > q ? 1 : 0;
};

/** `docs` as a listing in `order` must give them: by the order's key, ties by id in the same direction. */
function sortedBy(order: DocumentOrder, docs: readonly DocumentRecord[]): DocumentRecord[] {
  const { key, descending } = DOCUMENT_ORDER_KEYS[order];
  const byKey = (x: DocumentRecord, y: DocumentRecord): number =>
    key === 'filename' ? asciiNoCase(x.filename, y.filename) : x[key] - y[key];
  const byId = (x: DocumentRecord, y: DocumentRecord): number => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
  return [...docs].sort((x, y) => (descending ? -1 : 1) * (byKey(x, y) || byId(x, y)));
}

/** Registers the contract suite for one adapter. */
export function defineStoreContract(name: string, make: MakeStoreFixture): void {
  const title = `Store contract: ${name}`;
  const first = make();
  if ('skip' in first) {
    describe(title, () => {
      test('every Store method', { skip: `skipped: ${first.skip}` }, () => {});
    });
    return;
  }
  // The fixture built to learn whether the adapter runs here serves the first test.
  let spare: Promise<StoreFixture> | undefined = first;
  first.catch(() => undefined);
  const take = (): Promise<StoreFixture> => {
    const fx = spare ?? (make() as Promise<StoreFixture>);
    spare = undefined;
    return fx;
  };

  function it(label: string, body: (ctx: Ctx, t: TestContext) => Promise<void>): void {
    test(label, async (t) => {
      const fx = await take();
      try {
        const suffix = randomUUID().slice(0, 8);
        const a = { teamId: `team-a-${suffix}` };
        const b = { teamId: `team-b-${suffix}` };
        await fx.store.ensureTeam({ id: a.teamId, name: 'Accounts' });
        await fx.store.ensureTeam({ id: b.teamId, name: 'Berlin office' });
        await body({ store: fx.store, a, b }, t);
      } finally {
        await fx.cleanup();
      }
    });
  }

  describe(title, () => {
    after(async () => {
      const unused = await spare?.catch(() => undefined);
      await unused?.cleanup();
    });

    describe('teams', () => {
      it('ensureTeam creates a team once and returns the existing one afterwards', async ({ store }, t) => {
        freezeClock(t);
        const id = `team-${randomUUID()}`;
        const created = await store.ensureTeam({ id, name: 'Legal' });
        assert.deepEqual(created, { id, name: 'Legal', createdAt: T0 });
        t.mock.timers.tick(5000);
        assert.deepEqual(await store.ensureTeam({ id, name: 'Legal (renamed)' }), created);
        assert.deepEqual(await store.getTeam(id), created);
        assert.equal(await store.getTeam(`team-${randomUUID()}`), undefined);
      });
    });

    describe('insertDocument', () => {
      it('creates the document queued, with defaults, and its first job queued', async ({ store, a }, t) => {
        freezeClock(t);
        const input = buildDocument();
        const doc = await store.insertDocument(a, input);
        assert.deepEqual(doc, {
          ...input,
          teamId: a.teamId,
          status: DocumentStatus.Queued,
          pageCount: 0,
          chunkCount: 0,
          classification: null,
          fields: {},
          modelId: null,
          error: null,
          createdAt: T0,
          updatedAt: T0,
          processedAt: null,
          labelOverrides: {},
        });
        assert.deepEqual(await store.getDocument(a, input.id), doc);
        assert.deepEqual(await store.getJob(a, input.jobId), {
          id: input.jobId,
          teamId: a.teamId,
          documentId: input.id,
          status: 'queued',
          attempts: 0,
          stage: null,
          done: 0,
          total: 0,
          percent: 0,
          etaMs: null,
          error: null,
          createdAt: T0,
          updatedAt: T0,
          finishedAt: null,
        });
      });

      it('refuses a second document with the same sha256 in one team, and creates nothing of it', async ({ store, a }) => {
        const original = await store.insertDocument(a, buildDocument());
        const copy = buildDocument({ sha256: original.sha256, filename: 'copy.pdf' });
        await assert.rejects(store.insertDocument(a, copy));
        assert.equal(await store.getDocument(a, copy.id), undefined);
        assert.equal(await store.getJob(a, copy.jobId), undefined);
        assert.deepEqual(await store.findDocumentBySha256(a, original.sha256), original);
        assert.equal(await store.countDocuments(a), 1);
      });

      it('allows the same sha256 in another team, each team finding its own', async ({ store, a, b }) => {
        const inA = await store.insertDocument(a, buildDocument());
        const inB = await store.insertDocument(b, buildDocument({ sha256: inA.sha256 }));
        assert.equal((await store.findDocumentBySha256(a, inA.sha256))?.id, inA.id);
        assert.equal((await store.findDocumentBySha256(b, inA.sha256))?.id, inB.id);
        assert.equal(inB.teamId, b.teamId);
      });

      it('is atomic: when the job cannot be created, the document is not created either', async ({ store, a }) => {
        const first = await store.insertDocument(a, buildDocument());
        const second = buildDocument({ jobId: first.jobId });
        await assert.rejects(store.insertDocument(a, second));
        assert.equal(await store.getDocument(a, second.id), undefined);
        assert.equal(await store.findDocumentBySha256(a, second.sha256), undefined);
        assert.equal((await store.getJob(a, first.jobId))?.documentId, first.id);
      });

      it('findDocumentBySha256 answers undefined for an unknown hash', async ({ store, a }) => {
        await store.insertDocument(a, buildDocument());
        assert.equal(await store.findDocumentBySha256(a, randomBytes(32).toString('hex')), undefined);
        assert.equal(await store.getDocument(a, randomUUID()), undefined);
      });
    });

    describe('listDocuments', () => {
      it('lists newest first', async ({ store, a }, t) => {
        freezeClock(t);
        const inserted: string[] = [];
        for (let i = 0; i < 4; i++) {
          inserted.push((await store.insertDocument(a, buildDocument())).id);
          t.mock.timers.tick(1000);
        }
        const page = await store.listDocuments(a, { first: 10 });
        assert.deepEqual(ids(page.edges.map((e) => e.node)), [...inserted].reverse());
        assert.deepEqual(
          page.edges.map((e) => e.node.createdAt),
          [T0 + 3000, T0 + 2000, T0 + 1000, T0],
        );
        assert.equal(page.hasNextPage, false);
        assert.equal(await store.countDocuments(a), 4);
        assert.equal(page.endCursor, page.edges.at(-1)?.cursor);
      });

      it('pages through every document exactly once, ties on createdAt included', async ({ store, a, b }, t) => {
        freezeClock(t);
        // Groups of equal createdAt, some larger than a page, so page boundaries fall inside ties.
        const groups = [7, 1, 5, 2, 8];
        const inserted = new Set<string>();
        for (const size of groups) {
          for (let i = 0; i < size; i++) inserted.add((await store.insertDocument(a, buildDocument())).id);
          t.mock.timers.tick(1);
        }
        await store.insertDocument(b, buildDocument());
        const total = inserted.size;
        const whole = await listAll(store, a);
        assert.equal(whole.length, total);

        for (const size of [1, 3, 4, 7]) {
          const seen: DocumentRecord[] = [];
          let after: string | null = null;
          let pages = 0;
          for (;;) {
            const page = await store.listDocuments(a, { first: size, after });
            pages++;
            assert.ok(page.edges.length <= size);
            seen.push(...page.edges.map((e) => e.node));
            if (!page.hasNextPage) break;
            assert.equal(page.edges.length, size, 'only the last page is short');
            assert.equal(page.endCursor, page.edges.at(-1)?.cursor);
            after = page.endCursor;
            assert.ok(pages <= total, 'pagination does not end');
          }
          assert.equal(pages, Math.ceil(total / size), `page size ${size}`);
          assert.deepEqual(ids(seen), ids(whole), `page size ${size}: same order as one listing, no duplicates or gaps`);
        }
        assert.deepEqual(new Set(ids(whole)), inserted);
        for (let i = 1; i < whole.length; i++) {
          assert.ok(whole[i - 1]!.createdAt >= whole[i]!.createdAt, 'newest first');
        }
      });

      it('resumes after any edge cursor with the item that follows it', async ({ store, a }, t) => {
        freezeClock(t);
        for (let i = 0; i < 6; i++) {
          await store.insertDocument(a, buildDocument());
          if (i % 2) t.mock.timers.tick(1);
        }
        const page = await store.listDocuments(a, { first: 6 });
        const order = ids(page.edges.map((e) => e.node));
        for (const [i, edge] of page.edges.entries()) {
          const rest = await store.listDocuments(a, { first: 10, after: edge.cursor });
          assert.deepEqual(ids(rest.edges.map((e) => e.node)), order.slice(i + 1));
        }
        const fromStart = await store.listDocuments(a, { first: 2, after: null });
        assert.deepEqual(ids(fromStart.edges.map((e) => e.node)), order.slice(0, 2));
      });

      it('answers an empty page for a team without documents', async ({ store, a }) => {
        assert.deepEqual(await store.listDocuments(a, { first: 5 }), { edges: [], endCursor: null, hasNextPage: false });
        assert.equal(await store.countDocuments(a), 0);
      });

      it('filters by status, type, sensitivity and a half-open created range, counting the matches', async ({ store, a }, t) => {
        freezeClock(t);
        const add = async (status: DocumentStatus, classification: Classification | null): Promise<string> => {
          const doc = await store.insertDocument(a, buildDocument());
          await store.updateDocument(a, doc.id, { status, classification });
          t.mock.timers.tick(1000);
          return doc.id;
        };
        const d1 = await add(DocumentStatus.Processed, buildClassification('invoice', 'public'));
        const d2 = await add(DocumentStatus.Processed, buildClassification('invoice', 'confidential'));
        const d3 = await add(DocumentStatus.Failed, buildClassification('contract', 'confidential'));
        const d4 = await add(DocumentStatus.Queued, null);
        const d5 = await add(DocumentStatus.Processing, null);

        const list = async (filter: Parameters<Store['listDocuments']>[1]['filter'], first = 10) => {
          const page = await store.listDocuments(a, { filter, first });
          return { ids: ids(page.edges.map((e) => e.node)), total: await store.countDocuments(a, filter), more: page.hasNextPage };
        };
        assert.deepEqual(await list({ statuses: ['processed'] }), { ids: [d2, d1], total: 2, more: false });
        assert.deepEqual(await list({ statuses: ['queued', 'processing'] }), { ids: [d5, d4], total: 2, more: false });
        assert.deepEqual(await list({ types: ['invoice'] }), { ids: [d2, d1], total: 2, more: false });
        assert.deepEqual(await list({ types: ['invoice', 'contract'] }), { ids: [d3, d2, d1], total: 3, more: false });
        assert.deepEqual(await list({ sensitivities: ['confidential'] }), { ids: [d3, d2], total: 2, more: false });
        assert.deepEqual(await list({ types: ['invoice'], sensitivities: ['confidential'] }), { ids: [d2], total: 1, more: false });
        assert.deepEqual(await list({ types: ['receipt'] }), { ids: [], total: 0, more: false });
        // createdFrom is inclusive, createdTo exclusive (as in SearchFilter).
        assert.deepEqual(await list({ createdFrom: T0 + 1000, createdTo: T0 + 3000 }), { ids: [d3, d2], total: 2, more: false });
        assert.deepEqual(await list({ createdFrom: T0 + 3000 }), { ids: [d5, d4], total: 2, more: false });
        assert.deepEqual(await list({ createdTo: T0 + 1000 }), { ids: [d1], total: 1, more: false });
        assert.deepEqual(await list({ statuses: ['processed', 'failed'], createdFrom: T0 + 1 }), { ids: [d3, d2], total: 2, more: false });
        // The count is of every match, not of the page.
        assert.deepEqual(await list({ types: ['invoice', 'contract'] }, 1), { ids: [d3], total: 3, more: true });

        // Filters hold across pages.
        const seen: string[] = [];
        let after: string | null = null;
        for (;;) {
          const page = await store.listDocuments(a, { filter: { sensitivities: ['confidential', 'public'] }, first: 1, after });
          seen.push(...ids(page.edges.map((e) => e.node)));
          if (!page.hasNextPage) break;
          after = page.endCursor;
        }
        assert.deepEqual(seen, [d3, d2, d1]);

        // A classification cleared or replaced moves the document between filters.
        await store.updateDocument(a, d1, { classification: null });
        await store.updateDocument(a, d3, { classification: buildClassification('invoice', 'public') });
        assert.deepEqual(await list({ types: ['invoice'] }), { ids: [d3, d2], total: 2, more: false });
        assert.deepEqual(await list({ sensitivities: ['public'] }), { ids: [d3], total: 1, more: false });
      });

      it('orders by each DocumentOrder, ties broken by id in the same direction', async ({ store, a, b }, t) => {
        freezeClock(t);
        // Names equal but for case, sizes and created times shared by several documents.
        const specs: [string, number][] = [
          ['report.pdf', 300],
          ['Report.pdf', 300],
          ['apple.txt', 10],
          ['Banana.txt', 5_000],
          ['banana.txt', 10],
          ['zeta.png', 300],
          ['Zeta.png', 42],
          ['_notes.md', 42],
          ['report.pdf', 7],
        ];
        const docs: DocumentRecord[] = [];
        for (const [i, [filename, size]] of specs.entries()) {
          docs.push(await store.insertDocument(a, buildDocument({ filename, size })));
          if (i % 3 === 2) t.mock.timers.tick(1000);
        }
        await store.insertDocument(b, buildDocument({ filename: 'aaa-of-another-team.pdf', size: 1 }));
        for (const order of Object.values(DocumentOrder)) {
          const page = await store.listDocuments(a, { orderBy: order, first: 100 });
          assert.deepEqual(ids(page.edges.map((e) => e.node)), ids(sortedBy(order, docs)), order);
        }
        assert.equal(await store.countDocuments(a), docs.length);
        assert.equal(await store.countDocuments(b), 1);
        const byName = (await store.listDocuments(a, { orderBy: DocumentOrder.Name, first: 100 })).edges.map((e) => e.node.filename);
        // Capitals do not come first ('B' < '_' < 'a' by code point); 'Banana' and 'banana' tie, then go by id.
        assert.deepEqual(byName.slice(0, 2), ['_notes.md', 'apple.txt']);
        assert.deepEqual(byName.slice(2, 4).sort(), ['Banana.txt', 'banana.txt']);
      });

      it('pages through every document exactly once in each order, page boundaries inside ties', async ({ store, a }, t) => {
        freezeClock(t);
        const docs: DocumentRecord[] = [];
        for (let i = 0; i < 17; i++) {
          // Three names, four sizes and five created times: every key has long runs of ties.
          const filename = ['b.txt', 'A.txt', 'a.txt'][i % 3]!;
          docs.push(await store.insertDocument(a, buildDocument({ filename, size: 100 * (i % 4) })));
          if (i % 4 === 3) t.mock.timers.tick(1);
        }
        for (const order of Object.values(DocumentOrder)) {
          const whole = sortedBy(order, docs);
          for (const size of [1, 3, 7]) {
            const seen: DocumentRecord[] = [];
            let after: string | null = null;
            let pages = 0;
            for (;;) {
              const page = await store.listDocuments(a, { orderBy: order, first: size, after });
              pages++;
              seen.push(...page.edges.map((e) => e.node));
              if (!page.hasNextPage) break;
              assert.equal(page.edges.length, size, `${order}: only the last page is short`);
              after = page.endCursor;
              assert.ok(pages <= docs.length, `${order}: pagination does not end`);
            }
            assert.equal(pages, Math.ceil(docs.length / size), `${order}, page size ${size}`);
            assert.deepEqual(ids(seen), ids(whole), `${order}, page size ${size}: no duplicates or gaps`);
          }
        }
      });

      it('keeps filters in every order and across its pages', async ({ store, a }, t) => {
        freezeClock(t);
        const docs: DocumentRecord[] = [];
        for (let i = 0; i < 10; i++) {
          const doc = await store.insertDocument(a, buildDocument({ filename: `doc-${9 - i}.pdf`, size: 1000 + (i % 3) }));
          const type = i % 2 ? 'invoice' : 'letter';
          docs.push(
            await store.updateDocument(a, doc.id, {
              status: i < 7 ? DocumentStatus.Processed : DocumentStatus.Failed,
              classification: buildClassification(type, 'INTERNAL'),
            }),
          );
          t.mock.timers.tick(10);
        }
        const filter = { statuses: [DocumentStatus.Processed], types: ['invoice'], createdFrom: T0 + 10 };
        const wanted = docs.filter((d, i) => i < 7 && i % 2 === 1 && d.createdAt >= T0 + 10);
        for (const order of Object.values(DocumentOrder)) {
          const seen: DocumentRecord[] = [];
          let after: string | null = null;
          do {
            const page: Page<DocumentRecord> = await store.listDocuments(a, { filter, orderBy: order, first: 2, after });
            seen.push(...page.edges.map((e) => e.node));
            after = page.hasNextPage ? page.endCursor : null;
          } while (after);
          assert.deepEqual(ids(seen), ids(sortedBy(order, wanted)), order);
        }
        assert.equal(await store.countDocuments(a, filter), wanted.length);
      });

      it('refuses a cursor issued for another order with BAD_CURSOR', async ({ store, a }) => {
        for (let i = 0; i < 3; i++) await store.insertDocument(a, buildDocument({ filename: `f${i}.txt`, size: i }));
        const orders = Object.values(DocumentOrder);
        for (const issued of orders) {
          const cursor = (await store.listDocuments(a, { orderBy: issued, first: 1 })).endCursor!;
          for (const used of orders) {
            const resumed = store.listDocuments(a, { orderBy: used, first: 5, after: cursor });
            if (used === issued) {
              assert.equal((await resumed).edges.length, 2, `${issued} resumes its own cursor`);
              continue;
            }
            await assert.rejects(resumed, (err: unknown) => {
              assert.ok(err instanceof ValidationError, `${issued} → ${used}: ${String(err)}`);
              assert.equal(err.code, 'BAD_CURSOR');
              return true;
            });
          }
        }
        // The order's name alone does not make a cursor: its key must have the order's type.
        const forged = Buffer.from(JSON.stringify(['name', 12, 'some-id'])).toString('base64url');
        await assert.rejects(store.listDocuments(a, { orderBy: DocumentOrder.Name, first: 5, after: forged }), ValidationError);
      });

      it('refuses a cursor it did not issue with ValidationError BAD_CURSOR', async ({ store, a }) => {
        await store.insertDocument(a, buildDocument());
        const bad = [
          'not-a-cursor',
          Buffer.from('{"createdAt":1}').toString('base64url'),
          Buffer.from('[1,2]').toString('base64url'),
          '%%%',
        ];
        for (const after of bad) {
          await assert.rejects(store.listDocuments(a, { first: 5, after }), (err: unknown) => {
            assert.ok(err instanceof ValidationError, `${after}: ${String(err)}`);
            assert.equal(err.code, 'BAD_CURSOR');
            return true;
          });
        }
      });
    });

    describe('updateDocument', () => {
      it('applies a patch, round-trips JSON values and leaves other fields alone', async ({ store, a }, t) => {
        freezeClock(t);
        const doc = await store.insertDocument(a, buildDocument());
        t.mock.timers.tick(250);
        const classification = buildClassification('invoice', 'confidential');
        const fields: Fields = {
          total: { value: '1,299.00', page: 1, box: { x: 400, y: 900, w: 120, h: 24 }, confidence: 0.93 },
          currency: { value: 'EUR', page: 1, box: null, confidence: 0.7 },
        };
        const next = randomUUID();
        const updated = await store.updateDocument(a, doc.id, {
          status: DocumentStatus.Processed,
          pageCount: 3,
          chunkCount: 11,
          classification,
          fields,
          modelId: 'Xenova/all-MiniLM-L6-v2',
          jobId: next,
          processedAt: T0 + 250,
        });
        const expected: DocumentRecord = {
          ...doc,
          status: 'processed',
          pageCount: 3,
          chunkCount: 11,
          classification,
          fields,
          modelId: 'Xenova/all-MiniLM-L6-v2',
          jobId: next,
          processedAt: T0 + 250,
          updatedAt: T0 + 250,
        };
        assert.deepEqual(updated, expected);
        assert.deepEqual(await store.getDocument(a, doc.id), expected);

        t.mock.timers.tick(250);
        const error = { code: 'OCR_FAILED', message: 'tesseract could not read page 2', stage: 'ocr' };
        const failed = await store.updateDocument(a, doc.id, { status: DocumentStatus.Failed, error });
        assert.deepEqual(failed, { ...expected, status: 'failed', error, updatedAt: T0 + 500 });

        const cleared = await store.updateDocument(a, doc.id, { error: null, classification: null, processedAt: null, modelId: null });
        assert.deepEqual(cleared, {
          ...expected,
          status: 'failed',
          classification: null,
          processedAt: null,
          modelId: null,
          error: null,
          updatedAt: T0 + 500,
        });
        assert.deepEqual(await store.getDocument(a, doc.id), cleared);
      });

      it('rejects an unknown id with NotFoundError', async ({ store, a }) => {
        await assert.rejects(store.updateDocument(a, randomUUID(), { status: 'processing' }), NotFoundError);
      });
    });

    describe('pages and chunks', () => {
      it('upsertPages inserts and replaces by page number; getPages returns them in order', async ({ store, a }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const other = await store.insertDocument(a, buildDocument());
        await store.upsertPages(a, doc.id, [buildPage({ page: 2, text: 'second' }), buildPage({ page: 1, text: 'first' })]);
        await store.upsertPages(a, other.id, [buildPage({ page: 1, text: 'other document' })]);
        const replacement = buildPage({
          page: 2,
          text: 'second, read again',
          source: 'text-layer',
          confidence: 100,
          width: 612,
          height: 792,
          words: [{ text: 'second,', box: { x: 1.5, y: 2.25, w: 30, h: 9 }, confidence: 100 }],
        });
        await store.upsertPages(a, doc.id, [replacement, buildPage({ page: 3, text: 'third', source: 'plain', words: [] })]);

        const pages = await store.getPages(a, doc.id);
        assert.deepEqual(
          pages.map((p) => [p.page, p.text]),
          [
            [1, 'first'],
            [2, 'second, read again'],
            [3, 'third'],
          ],
        );
        assert.deepEqual(pages[1], { documentId: doc.id, ...replacement });
        assert.deepEqual(pages[2]?.words, []);
        assert.deepEqual(
          (await store.getPages(a, other.id)).map((p) => p.text),
          ['other document'],
        );
        assert.deepEqual(await store.getPages(a, randomUUID()), []);
      });

      it('upsertChunks inserts and replaces by ordinal; getChunks returns them in order', async ({ store, a }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const other = await store.insertDocument(a, buildDocument());
        await store.upsertChunks(a, doc.id, [buildChunk({ ordinal: 1, text: 'one' }), buildChunk({ ordinal: 0, text: 'zero' })]);
        await store.upsertChunks(a, other.id, [buildChunk({ ordinal: 0, text: 'other document' })]);
        const replacement = buildChunk({
          ordinal: 1,
          page: 2,
          text: 'one, chunked again',
          start: 17,
          end: 35,
          boxes: [
            { x: 0.5, y: 1, w: 2, h: 3 },
            { x: 10, y: 11, w: 12, h: 13 },
          ],
        });
        await store.upsertChunks(a, doc.id, [replacement, buildChunk({ ordinal: 2, text: 'two', boxes: [] })]);

        const chunks = await store.getChunks(a, doc.id);
        assert.deepEqual(
          chunks.map((c) => [c.ordinal, c.text]),
          [
            [0, 'zero'],
            [1, 'one, chunked again'],
            [2, 'two'],
          ],
        );
        assert.deepEqual(chunks[1], { documentId: doc.id, ...replacement });
        assert.deepEqual(chunks[2]?.boxes, []);
        assert.deepEqual(
          (await store.getChunks(a, other.id)).map((c) => c.text),
          ['other document'],
        );
        assert.deepEqual(await store.getChunks(a, randomUUID()), []);
      });

      it('trimDocument removes pages above the page count and chunks from the chunk count on', async ({ store, a }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const other = await store.insertDocument(a, buildDocument());
        for (const d of [doc, other]) {
          await store.upsertPages(
            a,
            d.id,
            [1, 2, 3, 4].map((page) => buildPage({ page })),
          );
          await store.upsertChunks(
            a,
            d.id,
            [0, 1, 2, 3, 4].map((ordinal) => buildChunk({ ordinal })),
          );
        }
        await store.trimDocument(a, doc.id, 2, 3);
        assert.deepEqual(
          (await store.getPages(a, doc.id)).map((p) => p.page),
          [1, 2],
        );
        assert.deepEqual(
          (await store.getChunks(a, doc.id)).map((c) => c.ordinal),
          [0, 1, 2],
        );
        assert.equal((await store.getPages(a, other.id)).length, 4);
        assert.equal((await store.getChunks(a, other.id)).length, 5);

        await store.trimDocument(a, doc.id, 5, 9);
        assert.equal((await store.getPages(a, doc.id)).length, 2, 'counts above what exists remove nothing');
        await store.trimDocument(a, doc.id, 0, 0);
        assert.deepEqual(await store.getPages(a, doc.id), []);
        assert.deepEqual(await store.getChunks(a, doc.id), []);
        assert.ok(await store.getDocument(a, doc.id), 'trimming keeps the document');
      });
    });

    describe('deleteDocument', () => {
      it('removes the document with its pages, chunks and jobs, and answers false the second time', async ({ store, a }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const other = await store.insertDocument(a, buildDocument());
        const retry = await store.insertJob(a, { id: randomUUID(), documentId: doc.id });
        for (const d of [doc, other]) {
          await store.upsertPages(a, d.id, [buildPage({ page: 1 }), buildPage({ page: 2 })]);
          await store.upsertChunks(a, d.id, [buildChunk({ ordinal: 0 })]);
        }

        assert.equal(await store.deleteDocument(a, doc.id), true);
        assert.equal(await store.getDocument(a, doc.id), undefined);
        assert.equal(await store.findDocumentBySha256(a, doc.sha256), undefined);
        assert.deepEqual(await store.getPages(a, doc.id), []);
        assert.deepEqual(await store.getChunks(a, doc.id), []);
        assert.equal(await store.getJob(a, doc.jobId), undefined);
        assert.equal(await store.getJob(a, retry.id), undefined);
        assert.deepEqual(ids(await listAll(store, a)), [other.id]);
        assert.equal(await store.deleteDocument(a, doc.id), false);
        assert.equal(await store.deleteDocument(a, randomUUID()), false);

        assert.equal((await store.getPages(a, other.id)).length, 2);
        assert.equal((await store.getChunks(a, other.id)).length, 1);
        assert.ok(await store.getJob(a, other.jobId));

        // The same bytes can be uploaded again once the document is gone.
        const again = await store.insertDocument(a, buildDocument({ sha256: doc.sha256 }));
        assert.equal((await store.findDocumentBySha256(a, doc.sha256))?.id, again.id);
      });
    });

    describe('jobs', () => {
      it('insertJob, getJob and updateJob keep a job and its progress', async ({ store, a }, t) => {
        freezeClock(t);
        const doc = await store.insertDocument(a, buildDocument());
        t.mock.timers.tick(100);
        const id = randomUUID();
        const job = await store.insertJob(a, { id, documentId: doc.id });
        const queued = {
          id,
          teamId: a.teamId,
          documentId: doc.id,
          status: 'queued' as const,
          attempts: 0,
          stage: null,
          done: 0,
          total: 0,
          percent: 0,
          etaMs: null,
          error: null,
          createdAt: T0 + 100,
          updatedAt: T0 + 100,
          finishedAt: null,
        };
        assert.deepEqual(job, queued);
        assert.deepEqual(await store.getJob(a, id), queued);

        t.mock.timers.tick(100);
        const running = await store.updateJob(a, id, {
          status: 'running',
          attempts: 1,
          stage: 'ocr',
          done: 2,
          total: 5,
          percent: 37.5,
          etaMs: 4200,
        });
        const expectedRunning = {
          ...queued,
          status: 'running' as const,
          attempts: 1,
          stage: 'ocr',
          done: 2,
          total: 5,
          percent: 37.5,
          etaMs: 4200,
          updatedAt: T0 + 200,
        };
        assert.deepEqual(running, expectedRunning);

        t.mock.timers.tick(100);
        const error = { code: 'OCR_TIMEOUT', message: 'page 3 took too long', stage: 'ocr' };
        const failed = await store.updateJob(a, id, { status: 'failed', error, etaMs: null, finishedAt: T0 + 300 });
        assert.deepEqual(failed, { ...expectedRunning, status: 'failed', error, etaMs: null, finishedAt: T0 + 300, updatedAt: T0 + 300 });
        assert.deepEqual(await store.getJob(a, id), failed);

        const cleared = await store.updateJob(a, id, { status: 'queued', error: null, finishedAt: null, stage: null });
        assert.deepEqual(cleared, { ...failed, status: 'queued', error: null, finishedAt: null, stage: null });
        // The document's own first job is untouched.
        assert.equal((await store.getJob(a, doc.jobId))?.status, 'queued');
      });

      it('getJob answers undefined and updateJob NotFoundError for an unknown id', async ({ store, a }) => {
        assert.equal(await store.getJob(a, randomUUID()), undefined);
        await assert.rejects(store.updateJob(a, randomUUID(), { status: 'running' }), NotFoundError);
      });
    });

    describe('listUnfinishedDocuments', () => {
      it('lists queued and processing documents of every team with their current job', async ({ store, a, b }) => {
        const ours = new Set([a.teamId, b.teamId]);
        const queuedA = await store.insertDocument(a, buildDocument());
        const processingA = await store.insertDocument(a, buildDocument());
        const processedA = await store.insertDocument(a, buildDocument());
        const failedA = await store.insertDocument(a, buildDocument());
        const queuedB = await store.insertDocument(b, buildDocument());
        await store.updateDocument(a, processingA.id, { status: 'processing' });
        await store.updateDocument(a, processedA.id, { status: 'processed' });
        await store.updateDocument(a, failedA.id, { status: 'failed' });
        const retry = await store.insertJob(a, { id: randomUUID(), documentId: processingA.id });
        await store.updateDocument(a, processingA.id, { jobId: retry.id });

        const unfinished = async () =>
          (await store.listUnfinishedDocuments())
            .filter((u) => ours.has(u.teamId))
            .map((u) => `${u.teamId} ${u.documentId} ${u.jobId}`)
            .sort();
        const entry = (scope: TeamScope, d: { id: string }, jobId: string) => `${scope.teamId} ${d.id} ${jobId}`;
        assert.deepEqual(
          await unfinished(),
          [entry(a, queuedA, queuedA.jobId), entry(a, processingA, retry.id), entry(b, queuedB, queuedB.jobId)].sort(),
        );

        await store.updateDocument(b, queuedB.id, { status: 'processed' });
        await store.deleteDocument(a, queuedA.id);
        assert.deepEqual(await unfinished(), [entry(a, processingA, retry.id)]);
      });
    });

    describe('users', () => {
      it('insertUser keeps the address as typed, finds it in any case, and refuses it again in another case', async ({ store }, t) => {
        freezeClock(t);
        const user = buildUser({ email: `Ada.${randomUUID()}@Example.org` });
        const created = await store.insertUser(user);
        assert.deepEqual(created, { ...user, createdAt: T0, updatedAt: T0 });
        assert.deepEqual(await store.getUser(user.id), created);
        assert.deepEqual(await store.findUserByEmail(user.email.toUpperCase()), created);
        assert.deepEqual(await store.findUserByEmail(`  ${user.email.toLowerCase()} `), created);
        await assert.rejects(
          store.insertUser(buildUser({ email: user.email.toLowerCase() })),
          (err: unknown) => err instanceof ConflictError && err.code === 'EMAIL_TAKEN',
        );
        assert.equal(await store.findUserByEmail(`nobody-${randomUUID()}@example.org`), undefined);
        assert.equal(await store.getUser(randomUUID()), undefined);
      });

      it('updateUserPassword replaces the hash; deleteUser removes the user with memberships and sessions', async ({ store, a }, t) => {
        freezeClock(t);
        const user = await store.insertUser(buildUser());
        await store.addMember(a, user.id, Role.Editor);
        const session = await store.insertSession(buildSession(user.id));
        t.mock.timers.tick(1000);
        await store.updateUserPassword(user.id, '$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3');
        assert.deepEqual(await store.getUser(user.id), {
          ...user,
          passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3',
          updatedAt: T0 + 1000,
        });
        await assert.rejects(store.updateUserPassword(randomUUID(), 'x'), NotFoundError);

        assert.equal(await store.deleteUser(user.id), true);
        assert.equal(await store.getUser(user.id), undefined);
        assert.deepEqual(await store.listMembers(a), []);
        assert.equal(await store.findSessionByTokenHash(session.tokenHash), undefined);
        assert.equal(await store.deleteUser(user.id), false);
        // The address is free again.
        await store.insertUser(buildUser({ email: user.email }));
      });

      it('insertFirstUser makes the first user owner of the first team, and only the first', async ({ store }, t) => {
        if ((await store.countUsers()) > 0) return t.skip('this store holds users already');
        const team = { id: `team-first-${randomUUID()}`, name: 'First team' };
        const first = await store.insertFirstUser(buildUser(), team);
        assert.ok(first);
        assert.equal(await store.countUsers(), 1);
        assert.equal((await store.getTeam(team.id))?.name, 'First team');
        assert.deepEqual(
          (await store.listMembershipsOfUser(first.id)).map((m) => [m.teamId, m.role]),
          [[team.id, 'owner']],
        );
        const second = buildUser();
        assert.equal(await store.insertFirstUser(second, { id: `team-other-${randomUUID()}`, name: 'Other' }), undefined);
        assert.equal(await store.getUser(second.id), undefined);
        assert.equal(await store.countUsers(), 1);
      });
    });

    describe('memberships', () => {
      it('a user belongs to several teams with a role in each, oldest membership first', async ({ store, a, b }, t) => {
        freezeClock(t);
        const user = await store.insertUser(buildUser());
        const other = await store.insertUser(buildUser());
        await store.addMember(b, user.id, Role.Viewer);
        t.mock.timers.tick(10);
        await store.addMember(a, user.id, Role.Editor);
        await store.addMember(a, other.id, Role.Owner);
        assert.deepEqual(await store.listMembershipsOfUser(user.id), [
          { teamId: b.teamId, userId: user.id, role: 'viewer', createdAt: T0, updatedAt: T0 },
          { teamId: a.teamId, userId: user.id, role: 'editor', createdAt: T0 + 10, updatedAt: T0 + 10 },
        ]);
        assert.deepEqual(
          (await store.listMembers(a)).map((m) => [m.userId, m.role]),
          [
            [user.id, 'editor'],
            [other.id, 'owner'],
          ],
        );
        assert.equal((await store.getMembership(b, user.id))?.role, 'viewer');
        assert.equal(await store.getMembership(b, other.id), undefined);
      });

      it('addMember keeps the stronger role of an existing member', async ({ store, a }) => {
        const user = await store.insertUser(buildUser());
        await store.addMember(a, user.id, Role.Editor);
        assert.equal((await store.addMember(a, user.id, Role.Viewer)).role, 'editor');
        assert.equal((await store.addMember(a, user.id, Role.Owner)).role, 'owner');
        assert.equal((await store.listMembers(a)).length, 1);
      });

      it('setMemberRole and removeMember never leave a team without an owner', async ({ store, a }) => {
        const owner = await store.insertUser(buildUser());
        const editor = await store.insertUser(buildUser());
        await store.addMember(a, owner.id, Role.Owner);
        await store.addMember(a, editor.id, Role.Editor);
        const lastOwner = (err: unknown) => err instanceof ConflictError && err.code === 'LAST_OWNER';

        await assert.rejects(store.setMemberRole(a, owner.id, Role.Editor), lastOwner);
        await assert.rejects(store.removeMember(a, owner.id), lastOwner);
        assert.equal((await store.getMembership(a, owner.id))?.role, 'owner', 'nothing changed');

        assert.equal((await store.setMemberRole(a, editor.id, Role.Owner)).role, 'owner');
        assert.equal((await store.setMemberRole(a, owner.id, Role.Viewer)).role, 'viewer', 'another owner exists now');
        await assert.rejects(store.removeMember(a, editor.id), lastOwner);
        assert.equal(await store.removeMember(a, owner.id), true);
        assert.equal(await store.removeMember(a, owner.id), false);
        await assert.rejects(store.setMemberRole(a, owner.id, Role.Editor), NotFoundError);
        assert.deepEqual(
          (await store.listMembers(a)).map((m) => [m.userId, m.role]),
          [[editor.id, 'owner']],
        );
      });

      it("another team's members are out of reach", async ({ store, a, b }) => {
        const owner = await store.insertUser(buildUser());
        const member = await store.insertUser(buildUser());
        await store.addMember(a, owner.id, Role.Owner);
        await store.addMember(a, member.id, Role.Editor);
        assert.deepEqual(await store.listMembers(b), []);
        assert.equal(await store.getMembership(b, member.id), undefined);
        await assert.rejects(store.setMemberRole(b, member.id, Role.Viewer), NotFoundError);
        assert.equal(await store.removeMember(b, member.id), false);
        assert.equal((await store.getMembership(a, member.id))?.role, 'editor');
      });
    });

    describe('sessions', () => {
      it('insertSession and findSessionByTokenHash keep a refresh token by its hash', async ({ store }, t) => {
        freezeClock(t);
        const user = await store.insertUser(buildUser());
        const input = buildSession(user.id, { ip: '203.0.113.7', userAgent: 'curl/8' });
        const session = await store.insertSession(input);
        assert.deepEqual(session, { ...input, createdAt: T0, rotatedAt: null, revokedAt: null });
        assert.deepEqual(await store.findSessionByTokenHash(input.tokenHash), session);
        assert.equal(await store.findSessionByTokenHash(sha256Hex(randomUUID())), undefined);
        assert.equal(await store.isSessionFamilyActive(input.familyId, T0), true);
        assert.equal(await store.isSessionFamilyActive(randomUUID(), T0), false);
        assert.equal(await store.isSessionFamilyActive(input.familyId, input.expiresAt), false, 'a session ends when its token expires');
      });

      it('rotateSession rotates a token once; a second rotation of it loses and inserts nothing', async ({ store }) => {
        const user = await store.insertUser(buildUser());
        const first = await store.insertSession(buildSession(user.id));
        const second = buildSession(user.id, { familyId: first.familyId });
        const rival = buildSession(user.id, { familyId: first.familyId });
        assert.equal(await store.rotateSession(first.id, second, T0 + 5), true);
        assert.equal((await store.findSessionByTokenHash(first.tokenHash))?.rotatedAt, T0 + 5);
        assert.equal((await store.findSessionByTokenHash(second.tokenHash))?.rotatedAt, null);
        assert.equal(await store.rotateSession(first.id, rival, T0 + 6), false);
        assert.equal(await store.findSessionByTokenHash(rival.tokenHash), undefined);
      });

      it('revokeSessionFamily revokes every token of one family only', async ({ store }) => {
        const user = await store.insertUser(buildUser());
        const first = await store.insertSession(buildSession(user.id));
        const next = buildSession(user.id, { familyId: first.familyId });
        await store.rotateSession(first.id, next, T0);
        const otherFamily = await store.insertSession(buildSession(user.id));
        assert.equal(await store.revokeSessionFamily(first.familyId, T0 + 1), 2);
        assert.equal((await store.findSessionByTokenHash(first.tokenHash))?.revokedAt, T0 + 1);
        assert.equal((await store.findSessionByTokenHash(next.tokenHash))?.revokedAt, T0 + 1);
        assert.equal(await store.isSessionFamilyActive(first.familyId, T0), false);
        assert.equal(await store.isSessionFamilyActive(otherFamily.familyId, T0), true);
        assert.equal(await store.revokeSessionFamily(first.familyId, T0 + 2), 0, 'already revoked');
        assert.equal(await store.rotateSession(next.id, buildSession(user.id, { familyId: first.familyId }), T0 + 3), false);
      });

      it("revokeUserSessions ends the user's sessions except the one kept, and nobody else's", async ({ store }) => {
        const user = await store.insertUser(buildUser());
        const someoneElse = await store.insertUser(buildUser());
        const kept = await store.insertSession(buildSession(user.id));
        const ended = [await store.insertSession(buildSession(user.id)), await store.insertSession(buildSession(user.id))];
        const theirs = await store.insertSession(buildSession(someoneElse.id));
        assert.equal(await store.revokeUserSessions(user.id, T0, kept.familyId), 2);
        assert.equal(await store.isSessionFamilyActive(kept.familyId, T0), true);
        for (const s of ended) assert.equal(await store.isSessionFamilyActive(s.familyId, T0), false);
        assert.equal(await store.isSessionFamilyActive(theirs.familyId, T0), true);
        assert.equal(await store.revokeUserSessions(user.id, T0), 1, 'without an exception, the kept one goes too');
        assert.equal(await store.isSessionFamilyActive(kept.familyId, T0), false);
      });
    });

    describe('pruning', () => {
      it('pruneSessions deletes tokens expired or revoked before the cut-off, and nothing else', async ({ store }) => {
        const user = await store.insertUser(buildUser());
        const expired = await store.insertSession(buildSession(user.id, { expiresAt: T0 - 1 }));
        const revoked = await store.insertSession(buildSession(user.id));
        await store.revokeSessionFamily(revoked.familyId, T0 - 1);
        const revokedLater = await store.insertSession(buildSession(user.id));
        await store.revokeSessionFamily(revokedLater.familyId, T0);
        const live = await store.insertSession(buildSession(user.id));
        assert.ok((await store.pruneSessions(T0)) >= 2);
        assert.equal(await store.findSessionByTokenHash(expired.tokenHash), undefined);
        assert.equal(await store.findSessionByTokenHash(revoked.tokenHash), undefined);
        assert.ok(await store.findSessionByTokenHash(revokedLater.tokenHash), 'revoked at the cut-off: kept');
        assert.ok(await store.findSessionByTokenHash(live.tokenHash));
      });

      it('pruneInvitations deletes invitations expired before the cut-off', async ({ store, a }) => {
        const owner = await store.insertUser(buildUser());
        const old = await store.insertInvitation(buildInvitation(a, owner.id, { expiresAt: T0 - 1 }));
        const current = await store.insertInvitation(buildInvitation(a, owner.id, { expiresAt: T0 }));
        assert.ok((await store.pruneInvitations(T0)) >= 1);
        assert.equal(await store.findInvitationByTokenHash(old.tokenHash), undefined);
        assert.ok(await store.findInvitationByTokenHash(current.tokenHash));
      });
    });

    describe('invitations', () => {
      it('acceptInvitation adds the member with the invited role, once, and not after expiry', async ({ store, a }, t) => {
        freezeClock(t);
        const owner = await store.insertUser(buildUser());
        await store.addMember(a, owner.id, Role.Owner);
        const input = buildInvitation(a, owner.id, { role: Role.Editor, email: 'Grace@Example.org', expiresAt: T0 + 60_000 });
        const invitation = await store.insertInvitation(input);
        assert.deepEqual(invitation, { ...input, createdAt: T0, acceptedAt: null, acceptedBy: null });
        assert.deepEqual(await store.findInvitationByTokenHash(input.tokenHash), invitation);
        assert.equal(await store.findInvitationByTokenHash(sha256Hex(randomUUID())), undefined);

        const grace = await store.insertUser(buildUser());
        const late = await store.insertUser(buildUser());
        const membership = await store.acceptInvitation(invitation.id, grace.id, T0 + 1000);
        assert.deepEqual(membership, { teamId: a.teamId, userId: grace.id, role: 'editor', createdAt: T0 + 1000, updatedAt: T0 + 1000 });
        assert.deepEqual(await store.findInvitationByTokenHash(input.tokenHash), {
          ...invitation,
          acceptedAt: T0 + 1000,
          acceptedBy: grace.id,
        });
        assert.equal(await store.acceptInvitation(invitation.id, late.id, T0 + 2000), undefined, 'single use');
        assert.equal(await store.getMembership(a, late.id), undefined);

        const expiring = await store.insertInvitation(buildInvitation(a, owner.id, { expiresAt: T0 + 60_000 }));
        assert.equal(await store.acceptInvitation(expiring.id, late.id, T0 + 60_000), undefined, 'expired at expiresAt');
        assert.equal(await store.getMembership(a, late.id), undefined);
        assert.equal((await store.findInvitationByTokenHash(expiring.tokenHash))?.acceptedAt, null);
      });
    });

    describe('API keys', () => {
      it('keeps a key by its hash, lists the team’s keys, records use at most once per interval, and revokes', async ({
        store,
        a,
        b,
      }, t) => {
        freezeClock(t);
        const owner = await store.insertUser(buildUser());
        const input = buildApiKey(a, owner.id);
        const key = await store.insertApiKey(input);
        assert.deepEqual(key, { ...input, createdAt: T0, lastUsedAt: null, revokedAt: null });
        assert.deepEqual(await store.findApiKeyByHash(input.keyHash), key);
        assert.equal(await store.findApiKeyByHash(sha256Hex(randomUUID())), undefined);
        const second = await store.insertApiKey(buildApiKey(a, owner.id, { name: 'scanner' }));
        await store.insertApiKey(buildApiKey(b, owner.id));
        assert.deepEqual(
          (await store.listApiKeys(a)).map((k) => k.id),
          [key.id, second.id],
        );

        assert.equal(await store.touchApiKey(key.id, T0 + 1000, 60_000), true);
        assert.equal(await store.touchApiKey(key.id, T0 + 2000, 60_000), false, 'within the interval');
        assert.equal((await store.findApiKeyByHash(input.keyHash))?.lastUsedAt, T0 + 1000);
        assert.equal(await store.touchApiKey(key.id, T0 + 61_000, 60_000), true);
        assert.equal((await store.findApiKeyByHash(input.keyHash))?.lastUsedAt, T0 + 61_000);

        assert.equal(await store.revokeApiKey(b, key.id, T0), false, "another team's key looks missing");
        assert.equal((await store.findApiKeyByHash(input.keyHash))?.revokedAt, null);
        assert.equal(await store.revokeApiKey(a, key.id, T0 + 5), true);
        assert.equal((await store.findApiKeyByHash(input.keyHash))?.revokedAt, T0 + 5);
        assert.equal(await store.revokeApiKey(a, key.id, T0 + 6), false, 'already revoked');
        assert.equal(await store.revokeApiKey(a, randomUUID(), T0), false);
      });
    });

    describe('audit log', () => {
      it('appends events in order and lists them newest first, by team or by actor', async ({ store, a, b }, t) => {
        freezeClock(t);
        const actor = randomUUID();
        const signedIn = await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: actor, ip: '198.51.100.4' });
        assert.deepEqual(signedIn, {
          id: signedIn.id,
          at: T0,
          action: 'user.signed_in',
          teamId: null,
          actorUserId: actor,
          actorApiKeyId: null,
          targetType: null,
          targetId: null,
          ip: '198.51.100.4',
          details: null,
        });
        t.mock.timers.tick(1);
        const roleChanged = await store.appendAudit({
          action: AuditAction.RoleChanged,
          teamId: a.teamId,
          actorUserId: actor,
          targetType: 'user',
          targetId: 'u-2',
          details: { from: 'viewer', to: 'editor' },
        });
        t.mock.timers.tick(1);
        const keyUsed = await store.appendAudit({ action: AuditAction.ApiKeyUsed, teamId: b.teamId, actorApiKeyId: 'k-1' });
        assert.ok(signedIn.id < roleChanged.id && roleChanged.id < keyUsed.id);
        assert.deepEqual(await store.listAudit({ teamId: a.teamId, limit: 10 }), [roleChanged]);
        assert.deepEqual(await store.listAudit({ actorUserId: actor, limit: 10 }), [roleChanged, signedIn]);
        assert.deepEqual(await store.listAudit({ actorUserId: actor, limit: 1 }), [roleChanged]);
        assert.deepEqual(await store.listAudit({ teamId: b.teamId, limit: 10 }), [keyUsed]);
        assert.equal(roleChanged.details?.to, 'editor');
      });

      it("a team's log holds its own entries and the account entries of its current members, in pages", async ({ store, a, b }) => {
        const member = await store.insertUser(buildUser());
        const outsider = await store.insertUser(buildUser());
        await store.addMember(a, member.id, 'viewer');
        await store.addMember(b, outsider.id, 'owner');
        const mine = [
          await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: member.id }),
          await store.appendAudit({ action: AuditAction.SignInFailed, targetType: 'user', targetId: member.id }),
          await store.appendAudit({ action: AuditAction.RoleChanged, teamId: a.teamId, actorUserId: outsider.id }),
        ];
        await store.appendAudit({ action: AuditAction.SignedIn, actorUserId: outsider.id });
        await store.appendAudit({ action: AuditAction.ApiKeyUsed, teamId: b.teamId, actorApiKeyId: 'k-1' });
        await store.appendAudit({ action: AuditAction.SignInFailed, targetType: 'user', targetId: null, details: { email: 'x@y.z' } });
        const newestFirst = [...mine].reverse();
        assert.deepEqual(await store.listTeamAudit(a, { limit: 10 }), newestFirst);
        const first = await store.listTeamAudit(a, { limit: 2 });
        assert.deepEqual(first, newestFirst.slice(0, 2));
        assert.deepEqual(await store.listTeamAudit(a, { limit: 2, beforeId: first[1]!.id }), newestFirst.slice(2));
        await store.removeMember(a, member.id);
        assert.deepEqual(await store.listTeamAudit(a, { limit: 10 }), [mine[2]], "a former member's sign-ins leave the view");
      });
    });

    describe('annotations', () => {
      const annotation = (documentId: string, overrides: Partial<AnnotationRecord> = {}): AnnotationRecord => ({
        id: 'ann-1',
        teamId: 'ignored',
        documentId,
        version: 1,
        anchor: { kind: 'highlight', chunkOrdinal: 0, start: 4, end: 12 },
        label: 'invoice',
        comment: 'check the total',
        replies: [],
        resolved: false,
        deleted: false,
        createdBy: 'u-1',
        createdAt: T0,
        updatedBy: 'u-1',
        updatedAt: T0,
        ...overrides,
      });

      it('commits operations in one gapless log per document, refusing stale versions and repeating known ones', async ({
        store,
        a,
        b,
      }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const create = { opId: 'op-1', actorId: 'u-1', at: T0, op: { type: 'create' }, expectedVersion: null, next: annotation(doc.id) };
        const created = await store.commitAnnotationOp(a, create);
        assert.equal(created.status, 'accepted');
        assert.equal(created.status === 'accepted' && created.record.seq, 1);
        assert.deepEqual(await store.commitAnnotationOp(a, create), {
          status: 'duplicate',
          record: (created as { record: AnnotationOpRecord }).record,
        });
        const again = await store.commitAnnotationOp(a, { ...create, opId: 'op-2' });
        assert.equal(again.status, 'conflict');
        assert.equal(again.status === 'conflict' && again.current?.version, 1);

        const edit = {
          opId: 'op-3',
          actorId: 'u-2',
          at: T0 + 1,
          op: { type: 'edit' },
          expectedVersion: 1,
          next: annotation(doc.id, { version: 2, comment: 'total is fine', updatedBy: 'u-2', updatedAt: T0 + 1 }),
        };
        const edited = await store.commitAnnotationOp(a, edit);
        assert.equal(edited.status === 'accepted' && edited.record.seq, 2);
        const stale = await store.commitAnnotationOp(a, {
          ...edit,
          opId: 'op-4',
          next: annotation(doc.id, { version: 2, comment: 'stale' }),
        });
        assert.deepEqual(stale, {
          status: 'conflict',
          current: {
            ...annotation(doc.id, { version: 2, comment: 'total is fine', updatedBy: 'u-2', updatedAt: T0 + 1 }),
            teamId: a.teamId,
          },
        });

        assert.deepEqual(
          (await store.listAnnotationOps(a, doc.id, { afterSeq: 0, limit: 10 })).map((o) => [o.seq, o.opId]),
          [
            [1, 'op-1'],
            [2, 'op-3'],
          ],
        );
        assert.deepEqual(
          (await store.listAnnotationOps(a, doc.id, { afterSeq: 1, limit: 10 })).map((o) => o.seq),
          [2],
        );
        assert.equal(await store.lastAnnotationSeq(a, doc.id), 2);
        assert.equal((await store.getAnnotation(a, doc.id, 'ann-1'))?.comment, 'total is fine');
        const snapshot = await store.annotationSnapshot(a, doc.id);
        assert.deepEqual([snapshot.seq, snapshot.annotations.map((x) => [x.id, x.version])], [2, [['ann-1', 2]]]);

        await store.commitAnnotationOp(a, {
          opId: 'op-5',
          actorId: 'u-1',
          at: T0 + 2,
          op: { type: 'delete' },
          expectedVersion: 2,
          next: annotation(doc.id, { version: 3, deleted: true }),
        });
        assert.deepEqual(await store.listAnnotations(a, doc.id), []);
        assert.equal((await store.listAnnotations(a, doc.id, { includeDeleted: true }))[0]?.deleted, true);
        assert.deepEqual(await store.annotationSnapshot(a, doc.id), { seq: 3, annotations: [] });
        assert.equal((await store.getAnnotationOp(a, doc.id, 'op-3'))?.seq, 2);
        assert.equal(await store.getAnnotationOp(a, doc.id, 'op-4'), undefined, 'a refused operation is not in the log');
        assert.equal(await store.getAnnotationOp(b, doc.id, 'op-3'), undefined);

        // Another team sees none of it, and its own log starts at 1.
        assert.equal(await store.getAnnotation(b, doc.id, 'ann-1'), undefined);
        assert.deepEqual(await store.listAnnotationOps(b, doc.id, { afterSeq: 0, limit: 10 }), []);
        assert.equal(await store.lastAnnotationSeq(b, doc.id), 0);

        await store.deleteDocument(a, doc.id);
        assert.equal(await store.lastAnnotationSeq(a, doc.id), 0, 'deleting the document deletes its annotations and log');
        assert.equal(await store.getAnnotation(a, doc.id, 'ann-1'), undefined);
      });
    });

    describe('labels, document vectors and matches', () => {
      const classification = {
        type: { label: 'letter', confidence: 0.6 },
        sensitivity: { label: 'PUBLIC', confidence: 0.7 },
        method: 'zero-shot' as const,
      };

      it("a person's label overrides the classifier's in filters, and labelled documents' vectors are listed", async ({ store, a, b }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const other = await store.insertDocument(a, buildDocument());
        await store.updateDocument(a, doc.id, { classification });
        await store.updateDocument(a, other.id, { classification });
        const labelled = await store.updateDocument(a, doc.id, {
          labelOverrides: { type: { label: 'invoice', setBy: 'u-1', setAt: T0 } },
        });
        assert.deepEqual(labelled.labelOverrides, { type: { label: 'invoice', setBy: 'u-1', setAt: T0 } });
        const byType = async (t: string) =>
          (await store.listDocuments(a, { filter: { types: [t] }, first: 10 })).edges.map((e) => e.node.id);
        assert.deepEqual(await byType('invoice'), [doc.id]);
        assert.deepEqual(await byType('letter'), [other.id]);
        // A new classification leaves the person's label in force.
        await store.updateDocument(a, doc.id, { classification: { ...classification, type: { label: 'report', confidence: 0.9 } } });
        assert.deepEqual(await byType('invoice'), [doc.id]);
        await store.updateDocument(a, doc.id, { labelOverrides: {} });
        assert.deepEqual(await byType('report'), [doc.id], 'cleared, the classifier is in force again');

        await store.updateDocument(a, doc.id, { labelOverrides: { sensitivity: { label: 'CONFIDENTIAL', setBy: null, setAt: T0 } } });
        const v = Float32Array.from([0.6, 0.8, 0]);
        await store.setDocumentVector(a, doc.id, v);
        await store.setDocumentVector(a, other.id, Float32Array.from([0, 0, 1]));
        assert.deepEqual(
          (await store.listDocumentVectors(a)).map((d) => d.documentId).sort(),
          [doc.id, other.id].sort(),
          'the order of the list is not part of the contract',
        );
        const [only] = await store.listDocumentVectors(a, { labelledOnly: true });
        assert.equal(only?.documentId, doc.id);
        assert.deepEqual([...only!.vector], [...v]);
        assert.equal(only!.labelOverrides.sensitivity?.label, 'CONFIDENTIAL');
        assert.deepEqual(
          (await store.listDocumentVectors(a, { documentIds: [other.id] })).map((d) => d.documentId),
          [other.id],
        );
        assert.deepEqual(await store.listDocumentVectors(a, { documentIds: [] }), []);
        assert.deepEqual(await store.listDocumentVectors(b), []);
      });

      it('keeps one match per pair, resolves it by expected version, and forgets it with its documents', async ({ store, a, b }) => {
        const x = await store.insertDocument(a, buildDocument());
        const y = await store.insertDocument(a, buildDocument());
        const rule = await store.insertMatchRule(a, {
          id: 'r-1',
          name: 'invoice to order',
          typeA: 'invoice',
          typeB: 'purchase order',
          conditions: [{ fieldA: 'orderNumber', fieldB: 'number', comparison: 'equals', tolerance: null }],
          enabled: true,
        });
        assert.deepEqual(
          (await store.listMatchRules(a)).map((r) => r.id),
          [rule.id],
        );
        assert.equal((await store.updateMatchRule(a, { ...rule, enabled: false })).enabled, false);
        await assert.rejects(store.updateMatchRule(b, rule), { code: 'NOT_FOUND' });
        assert.deepEqual(await store.listMatchRules(b), []);

        const proposal = {
          id: 'm-1',
          kind: 'duplicate' as const,
          documentAId: x.id,
          documentBId: y.id,
          ruleId: null,
          score: 0.98,
          passages: [{ chunkA: 0, pageA: 1, textA: 'a', chunkB: 0, pageB: 1, textB: 'a', similarity: 0.99 }],
          fields: [],
        };
        const first = await store.proposeMatch(a, proposal, T0);
        assert.equal(first.created, true);
        assert.equal(first.match.status, 'open');
        const again = await store.proposeMatch(a, { ...proposal, id: 'm-2', score: 0.97 }, T0 + 1);
        assert.deepEqual([again.created, again.match.id, again.match.score], [false, 'm-1', 0.97]);
        // The same pair the other way round (its older document processed again) is the same match, kept as it was proposed.
        const turned = await store.proposeMatch(
          a,
          {
            ...proposal,
            id: 'm-3',
            kind: 'related',
            documentAId: y.id,
            documentBId: x.id,
            passages: [{ ...proposal.passages[0]!, chunkA: 2 }],
          },
          T0 + 1,
        );
        assert.deepEqual(
          [turned.created, turned.match.id, turned.match.documentAId, turned.match.passages[0]?.chunkB],
          [false, 'm-1', x.id, 2],
        );
        await store.proposeMatch(a, { ...proposal, id: 'm-4', score: 0.97 }, T0 + 1);

        const resolve = (expectedVersion: number, status: 'confirmed' | 'rejected') =>
          store.resolveMatch(a, 'm-1', { expectedVersion, status, canonicalDocumentId: x.id, by: 'u-1', at: T0 + 2, note: null });
        const won = await resolve(1, 'confirmed');
        assert.equal(won?.status, 'accepted');
        assert.deepEqual(
          won?.status === 'accepted' && [won.match.status, won.match.version, won.match.canonicalDocumentId, won.match.resolvedBy],
          ['confirmed', 2, x.id, 'u-1'],
        );
        const lost = await resolve(1, 'rejected');
        assert.deepEqual(lost?.status === 'conflict' && [lost.current.status, lost.current.resolvedBy], ['confirmed', 'u-1']);
        assert.equal(
          (await store.proposeMatch(a, { ...proposal, score: 0.5 }, T0 + 3)).match.score,
          0.97,
          'a resolved match keeps its evidence',
        );
        assert.deepEqual(
          (await store.listConfirmedMatches(a)).map((m) => m.id),
          ['m-1'],
        );
        assert.deepEqual(
          (await store.listMatches(a, { documentId: y.id, limit: 10 })).map((m) => m.id),
          ['m-1'],
        );
        assert.deepEqual(await store.listMatches(a, { status: 'open', limit: 10 }), []);
        assert.equal(await store.getMatch(b, 'm-1'), undefined);
        assert.equal(
          await store.resolveMatch(b, 'm-1', {
            expectedVersion: 2,
            status: 'rejected',
            canonicalDocumentId: null,
            by: null,
            at: T0,
            note: null,
          }),
          undefined,
        );

        await store.deleteDocument(a, y.id);
        assert.equal(await store.getMatch(a, 'm-1'), undefined, 'a deleted document takes its matches with it');
      });
    });

    describe('dashboard counts', () => {
      it('documentCounts counts by status (every status), type and sensitivity in force, most first', async ({ store, a, b }) => {
        assert.deepEqual(await store.documentCounts(a), {
          total: 0,
          byStatus: { queued: 0, processing: 0, processed: 0, failed: 0 },
          byType: [],
          bySensitivity: [],
        });
        const add = async (status: DocumentStatus, classification: Classification | null) => {
          const doc = await store.insertDocument(a, buildDocument());
          return store.updateDocument(a, doc.id, { status, classification });
        };
        await add(DocumentStatus.Processed, buildClassification('invoice', 'INTERNAL'));
        await add(DocumentStatus.Processed, buildClassification('invoice', 'PUBLIC'));
        await add(DocumentStatus.Processed, buildClassification('letter', 'INTERNAL'));
        const labelled = await add(DocumentStatus.Failed, buildClassification('contract', 'PUBLIC'));
        await add(DocumentStatus.Queued, null);
        await add(DocumentStatus.Queued, null);
        await add(DocumentStatus.Processing, null);
        // A person's label counts instead of the classifier's.
        await store.updateDocument(a, labelled.id, {
          labelOverrides: { type: { label: 'letter', setBy: null, setAt: T0 }, sensitivity: { label: 'INTERNAL', setBy: null, setAt: T0 } },
        });
        await store.insertDocument(b, buildDocument());

        assert.deepEqual(await store.documentCounts(a), {
          total: 7,
          byStatus: { queued: 2, processing: 1, processed: 3, failed: 1 },
          byType: [
            { key: 'invoice', count: 2 },
            { key: 'letter', count: 2 },
          ],
          bySensitivity: [
            { key: 'INTERNAL', count: 3 },
            { key: 'PUBLIC', count: 1 },
          ],
        });
        assert.deepEqual((await store.documentCounts(b)).byStatus, { queued: 1, processing: 0, processed: 0, failed: 0 });
      });

      it('finishedJobs counts succeeded and failed jobs per interval of a half-open range, oldest first', async ({ store, a, b }) => {
        const minute = 60_000;
        const finish = async (scope: TeamScope, status: 'succeeded' | 'failed' | 'running' | 'queued', at: number | null) => {
          const doc = await store.insertDocument(scope, buildDocument());
          await store.updateJob(scope, doc.jobId, { status, finishedAt: at });
        };
        await finish(a, 'succeeded', T0);
        await finish(a, 'succeeded', T0 + minute - 1);
        await finish(a, 'failed', T0 + 30_000);
        await finish(a, 'succeeded', T0 + 3 * minute + 5);
        await finish(a, 'failed', T0 + 3 * minute);
        // Outside the range, unfinished, or another team's: not counted.
        await finish(a, 'succeeded', T0 - 1);
        await finish(a, 'succeeded', T0 + 5 * minute);
        await finish(a, 'running', null);
        await finish(a, 'queued', null);
        await finish(b, 'succeeded', T0 + 10);

        assert.deepEqual(await store.finishedJobs(a, { from: T0, to: T0 + 5 * minute, bucketMs: minute }), [
          { at: T0, succeeded: 2, failed: 1 },
          { at: T0 + 3 * minute, succeeded: 1, failed: 1 },
        ]);
        assert.deepEqual(await store.finishedJobs(a, { from: T0, to: T0 + 5 * minute, bucketMs: 5 * minute }), [
          { at: T0, succeeded: 3, failed: 2 },
        ]);
        assert.deepEqual(await store.finishedJobs(b, { from: T0, to: T0 + minute, bucketMs: minute }), [
          { at: T0, succeeded: 1, failed: 0 },
        ]);
        assert.deepEqual(await store.finishedJobs(a, { from: T0 + 10 * minute, to: T0 + 20 * minute, bucketMs: minute }), []);
      });

      it('teamActivity counts recent live annotations, open matches and recent resolutions', async ({ store, a, b }) => {
        const [x, y, z] = [
          await store.insertDocument(a, buildDocument()),
          await store.insertDocument(a, buildDocument()),
          await store.insertDocument(a, buildDocument()),
        ];
        const annotate = (id: string, createdAt: number, deleted = false) =>
          store.commitAnnotationOp(a, {
            opId: `op-${id}`,
            actorId: null,
            at: createdAt,
            op: { type: 'create' },
            expectedVersion: null,
            next: {
              id,
              teamId: a.teamId,
              documentId: x.id,
              version: 1,
              anchor: { kind: 'box', page: 1, box: { x: 0, y: 0, w: 1, h: 1 } },
              label: null,
              comment: null,
              replies: [],
              resolved: false,
              deleted,
              createdBy: null,
              createdAt,
              updatedBy: null,
              updatedAt: createdAt,
            },
          });
        await annotate('old', T0 - 1);
        await annotate('recent', T0);
        await annotate('gone', T0 + 5, true);
        await annotate('newer', T0 + 10);
        const propose = (id: string, documentBId: string) =>
          store.proposeMatch(
            a,
            { id, kind: 'related', documentAId: x.id, documentBId, ruleId: null, score: 0.9, passages: [], fields: [] },
            T0,
          );
        await propose('m-open', y.id);
        await propose('m-resolved', z.id);
        await propose('m-resolved-long-ago', randomUUID());
        await store.resolveMatch(a, 'm-resolved', {
          expectedVersion: 1,
          status: 'confirmed',
          canonicalDocumentId: null,
          by: null,
          at: T0 + 1,
          note: null,
        });
        await store.resolveMatch(a, 'm-resolved-long-ago', {
          expectedVersion: 1,
          status: 'rejected',
          canonicalDocumentId: null,
          by: null,
          at: T0 - 1,
          note: null,
        });

        assert.deepEqual(await store.teamActivity(a, { since: T0 }), { annotationsCreated: 2, matchesOpen: 1, matchesResolved: 1 });
        // Reopening takes a match back from the resolved.
        await store.resolveMatch(a, 'm-resolved', {
          expectedVersion: 2,
          status: 'open',
          canonicalDocumentId: null,
          by: null,
          at: T0 + 2,
          note: null,
        });
        assert.deepEqual(await store.teamActivity(a, { since: T0 }), { annotationsCreated: 2, matchesOpen: 2, matchesResolved: 0 });
        assert.deepEqual(await store.teamActivity(b, { since: 0 }), { annotationsCreated: 0, matchesOpen: 0, matchesResolved: 0 });
      });
    });

    describe('team scoping', () => {
      it("another team's documents, pages, chunks and jobs look exactly like missing ids", async ({ store, a, b }) => {
        const doc = await store.insertDocument(a, buildDocument());
        const retry = await store.insertJob(a, { id: randomUUID(), documentId: doc.id });
        await store.updateDocument(a, doc.id, {
          status: 'processed',
          classification: buildClassification('invoice', 'public'),
          pageCount: 2,
          chunkCount: 2,
        });
        await store.upsertPages(a, doc.id, [buildPage({ page: 1 }), buildPage({ page: 2 })]);
        await store.upsertChunks(a, doc.id, [buildChunk({ ordinal: 0 }), buildChunk({ ordinal: 1 })]);
        const snapshot = async () => ({
          doc: await store.getDocument(a, doc.id),
          pages: await store.getPages(a, doc.id),
          chunks: await store.getChunks(a, doc.id),
          jobs: [await store.getJob(a, doc.jobId), await store.getJob(a, retry.id)],
          list: await store.listDocuments(a, { first: 10 }),
        });
        const before = await snapshot();
        const missing = randomUUID();

        // Reads.
        assert.equal(await store.getDocument(b, doc.id), undefined);
        assert.equal(await store.findDocumentBySha256(b, doc.sha256), undefined);
        assert.deepEqual(await store.listDocuments(b, { first: 10 }), { edges: [], endCursor: null, hasNextPage: false });
        assert.deepEqual(await store.listDocuments(b, { first: 10, filter: { types: ['invoice'], statuses: ['processed'] } }), {
          edges: [],
          endCursor: null,
          hasNextPage: false,
        });
        assert.equal(await store.countDocuments(b), 0);
        assert.equal(await store.countDocuments(b, { types: ['invoice'], statuses: ['processed'] }), 0);
        assert.deepEqual(await store.getPages(b, doc.id), []);
        assert.deepEqual(await store.getChunks(b, doc.id), []);
        assert.equal(await store.getJob(b, doc.jobId), undefined);
        assert.equal(await store.getJob(b, retry.id), undefined);

        // Writes: each ends exactly as it does for an id that does not exist.
        const same = async (what: string, call: (id: string) => Promise<unknown>) =>
          assertSameOutcome(await settle(call(doc.id)), await settle(call(missing)), what);
        const sameJob = async (what: string, call: (id: string) => Promise<unknown>) =>
          assertSameOutcome(await settle(call(retry.id)), await settle(call(randomUUID())), what);
        await assert.rejects(store.updateDocument(b, doc.id, { status: 'failed' }), NotFoundError);
        await same('updateDocument', (id) => store.updateDocument(b, id, { status: 'failed', classification: null }));
        await assert.rejects(store.updateJob(b, retry.id, { status: 'failed' }), NotFoundError);
        await sameJob('updateJob', (id) => store.updateJob(b, id, { status: 'failed', attempts: 9 }));
        await same('trimDocument', (id) => store.trimDocument(b, id, 0, 0));
        await same('upsertPages', (id) => store.upsertPages(b, id, [buildPage({ page: 1, text: 'overwritten' })]));
        await same('upsertChunks', (id) => store.upsertChunks(b, id, [buildChunk({ ordinal: 0, text: 'overwritten' })]));
        assert.equal(await store.deleteDocument(b, doc.id), false);

        assert.deepEqual(await snapshot(), before, "team A's data is unchanged");
        assert.ok(
          (await store.listUnfinishedDocuments()).every((u) => u.teamId !== b.teamId),
          'nothing of team B became unfinished work',
        );
      });
    });
  });
}
