/** Store contract, DocumentRepository: documents, jobs, pages and chunks; and team scoping across the whole store. */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type Classification, DocumentStatus, type Fields, NotFoundError, ValidationError } from '@quire/kernel';
import { DocumentOrder } from '../store.ts';
import type { DocumentRecord, Page, Store, TeamScope } from '../store.ts';
import {
  buildDocument,
  buildPage,
  buildChunk,
  buildClassification,
  T0,
  settle,
  assertSameOutcome,
  freezeClock,
  listAll,
  ids,
  sortedBy,
} from './harness.ts';
import type { StoreTest } from './harness.ts';

export function documentsContract(it: StoreTest): void {
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
      const bad = ['not-a-cursor', Buffer.from('{"createdAt":1}').toString('base64url'), Buffer.from('[1,2]').toString('base64url'), '%%%'];
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

    it("getJobs answers the team's jobs among the ids in one read, leaving out unknown ids and other teams' jobs", async ({
      store,
      a,
      b,
    }) => {
      const [one, two] = [await store.insertDocument(a, buildDocument()), await store.insertDocument(a, buildDocument())];
      const retry = await store.insertJob(a, { id: randomUUID(), documentId: one.id });
      const theirs = await store.insertDocument(b, buildDocument());
      const ids = [one.jobId, two.jobId, retry.id, theirs.jobId, randomUUID()];
      const found = await store.getJobs(a, ids);
      const byId = (x: { id: string }, y: { id: string }) => (x.id < y.id ? -1 : 1);
      assert.deepEqual([...found].sort(byId), [(await store.getJob(a, one.jobId))!, (await store.getJob(a, two.jobId))!, retry].sort(byId));
      assert.deepEqual(await store.getJobs(b, ids), [(await store.getJob(b, theirs.jobId))!]);
      assert.deepEqual(await store.getJobs(a, []), []);
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

  describe('documents under concurrency', () => {
    /** Runs every call at once and splits the outcomes. */
    const race = async <T>(calls: (() => Promise<T>)[]): Promise<{ won: T[]; lost: unknown[] }> => {
      const outcomes = await Promise.allSettled(calls.map((call) => call()));
      return {
        won: outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : [])),
        lost: outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : [])),
      };
    };

    it('of 20 concurrent inserts of one document exactly one succeeds; the others are refused', async ({ store, a }) => {
      const input = buildDocument();
      const { won, lost } = await race(Array.from({ length: 20 }, () => () => store.insertDocument(a, input)));
      assert.equal(won.length, 1, 'exactly one insert succeeds');
      assert.equal(lost.length, 19);
      for (const err of lost) assert.ok(err instanceof Error, `refused with an error: ${String(err)}`);
      assert.deepEqual(await store.getDocument(a, input.id), won[0]);
      assert.equal((await store.getJob(a, input.jobId))?.documentId, input.id);
      assert.deepEqual(ids(await listAll(store, a)), [input.id]);
      assert.equal(await store.countDocuments(a), 1);
    });

    it('of 20 concurrent inserts of one id with other jobs and contents, the losers leave nothing behind', async ({ store, a }) => {
      const id = randomUUID();
      const inputs = Array.from({ length: 20 }, () => buildDocument({ id }));
      const { won, lost } = await race(inputs.map((input) => () => store.insertDocument(a, input)));
      assert.equal(won.length, 1, 'exactly one insert succeeds');
      assert.equal(lost.length, 19);
      const winner = inputs.find((input) => input.jobId === won[0]!.jobId)!;
      assert.deepEqual(await store.getDocument(a, id), won[0]);
      assert.equal((await store.getJob(a, winner.jobId))?.documentId, id);
      for (const loser of inputs.filter((input) => input !== winner)) {
        assert.equal(await store.getJob(a, loser.jobId), undefined, "a refused insert's job is not left behind");
        assert.equal(await store.findDocumentBySha256(a, loser.sha256), undefined);
      }
    });

    it('of 20 concurrent inserts of one content under different ids, one wins and the losers leave nothing', async ({ store, a }) => {
      const sha256 = buildDocument().sha256;
      const inputs = Array.from({ length: 20 }, () => buildDocument({ sha256 }));
      const { won, lost } = await race(inputs.map((input) => () => store.insertDocument(a, input)));
      assert.equal(won.length, 1, 'exactly one insert succeeds');
      assert.equal(lost.length, 19);
      assert.deepEqual(await store.findDocumentBySha256(a, sha256), won[0]);
      for (const loser of inputs.filter((input) => input.id !== won[0]!.id)) {
        assert.equal(await store.getDocument(a, loser.id), undefined);
        assert.equal(await store.getJob(a, loser.jobId), undefined, "a refused insert's job is not left behind");
      }
      assert.deepEqual(ids(await listAll(store, a)), [won[0]!.id]);
    });

    it('concurrent upserts of the same pages and chunks leave exactly one of each', async ({ store, a }) => {
      const writers = 10;
      const numbers = [0, 1, 2, 3, 4, 5, 6, 7];
      for (let round = 0; round < 3; round++) {
        const doc = await store.insertDocument(a, buildDocument());
        await Promise.all(
          Array.from({ length: writers }, (_, w) => [
            store.upsertChunks(
              a,
              doc.id,
              numbers.map((ordinal) => buildChunk({ ordinal, text: `writer ${w}` })),
            ),
            store.upsertPages(
              a,
              doc.id,
              numbers.map((n) => buildPage({ page: n + 1, text: `writer ${w}` })),
            ),
          ]).flat(),
        );
        const texts = new Set(Array.from({ length: writers }, (_, w) => `writer ${w}`));
        const chunks = await store.getChunks(a, doc.id);
        assert.deepEqual(
          chunks.map((c) => c.ordinal),
          numbers,
          'one chunk per ordinal',
        );
        assert.ok(
          chunks.every((c) => texts.has(c.text)),
          'each chunk is one writer’s',
        );
        const pages = await store.getPages(a, doc.id);
        assert.deepEqual(
          pages.map((p) => p.page),
          numbers.map((n) => n + 1),
          'one page per number',
        );
        assert.ok(
          pages.every((p) => texts.has(p.text)),
          'each page is one writer’s',
        );
      }
    });

    it('pages and chunks written while their document is deleted do not outlive it', async ({ store, a }) => {
      for (let round = 0; round < 12; round++) {
        const doc = await store.insertDocument(a, buildDocument());
        await store.upsertChunks(a, doc.id, [buildChunk({ ordinal: 0 })]);
        // The upserts start first; the delete follows after a varying moment, so that it lands
        // before, between and after their writes.
        await Promise.all([
          store.upsertChunks(
            a,
            doc.id,
            [0, 1, 2, 3, 4].map((ordinal) => buildChunk({ ordinal })),
          ),
          store.upsertPages(
            a,
            doc.id,
            [1, 2, 3].map((page) => buildPage({ page })),
          ),
          delay(round % 4).then(async () => assert.equal(await store.deleteDocument(a, doc.id), true)),
        ]);
        assert.equal(await store.getDocument(a, doc.id), undefined);
        assert.deepEqual(await store.getChunks(a, doc.id), [], `round ${round}: no chunk of the deleted document`);
        assert.deepEqual(await store.getPages(a, doc.id), [], `round ${round}: no page of the deleted document`);
        // A document stored again under the id starts empty: nothing of the deleted one shows.
        await store.insertDocument(a, buildDocument({ id: doc.id }));
        assert.deepEqual(await store.getChunks(a, doc.id), [], `round ${round}: the new document has no chunks`);
        assert.deepEqual(await store.getPages(a, doc.id), [], `round ${round}: the new document has no pages`);
        assert.equal(await store.deleteDocument(a, doc.id), true);
      }
    });

    it('of concurrent deletes of one document exactly one answers true', async ({ store, a }) => {
      const doc = await store.insertDocument(a, buildDocument());
      await store.upsertChunks(a, doc.id, [buildChunk({ ordinal: 0 })]);
      const answers = await Promise.all(Array.from({ length: 10 }, () => store.deleteDocument(a, doc.id)));
      assert.equal(answers.filter(Boolean).length, 1);
      assert.equal(await store.getDocument(a, doc.id), undefined);
      assert.equal(await store.getJob(a, doc.jobId), undefined);
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
}
