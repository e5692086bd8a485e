/**
 * Finding documents again against a real hub and the real pipeline: "more like this" ranks
 * the team's other invoice above an unrelated recipe note for an invoice, one hit per
 * document and never the document itself, and answers NOT_FOUND, NOT_PROCESSED and
 * BAD_PAGE_SIZE where it cannot answer; a search grouped by document gives each document once
 * with its best passages and counts the documents found by type and sensitivity; the document
 * list is ordered by name and size over GraphQL, each order refusing the others' cursors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { ensureFixtures } from './fixtures/generate.ts';
import { FIXTURES, fixturePath } from './fixtures/manifest.ts';
import { bearer, gql, startHub, waitFor, type HubProcess } from './helpers/hub.ts';

const PASSWORD = 'correct horse battery staple';
const MORE = `query($d: ID!, $first: Int) { moreLikeThis(documentId: $d, first: $first) {
  document { id filename } chunkOrdinal page snippet scores { text vector hybrid } rank } }`;

let hub: HubProcess;
/** Document ids by fixture file name. */
const ids: Record<string, string> = {};
let brokenId = '';

async function uploadAndSettle(name: string, data: Uint8Array): Promise<string> {
  const res = await hub.upload({ name, data });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const id: string = res.body.documentId;
  await waitFor(
    async () =>
      ['PROCESSED', 'FAILED'].includes((await hub.gql(`query($id: ID!) { document(id: $id) { status } }`, { id })).data.document?.status),
    240_000,
    `${name} settled`,
  );
  return id;
}

const codeOf = (res: { errors?: any[] }) => res.errors?.[0]?.extensions?.code;

before(async () => {
  await ensureFixtures();
  hub = await startHub({ seedOwner: true, env: { OPEN_SIGNUP: 'true' } });
  for (const file of ['scanned-invoice.png', 'scanned-invoice-for-order.png', 'notes.txt'] as const) {
    ids[file] = await uploadAndSettle(file, new Uint8Array(await readFile(fixturePath(FIXTURES[file].file))));
  }
  // Passes the upload checks but is no PDF inside: it fails, and never gets an embedding.
  brokenId = await uploadAndSettle('broken.pdf', new TextEncoder().encode('%PDF-1.7\n1 0 obj\n<< not a pdf body >>\nendobj\n%%EOF\n'));
});

after(async () => {
  await hub?.stop();
});

describe('more like this', () => {
  test('ranks the other invoice above an unrelated note, one hit per document, never the document itself', async (t) => {
    const res = await hub.gql(MORE, { d: ids['scanned-invoice.png'] });
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    const hits = res.data.moreLikeThis;
    t.diagnostic(hits.map((h: any) => `${h.rank}. ${h.document.filename} ${h.scores.vector}`).join('; '));
    assert.deepEqual(
      hits.map((h: any) => h.document.id),
      [ids['scanned-invoice-for-order.png'], ids['notes.txt']],
      'the related invoice first, the unrelated note after it, the failed document (no text) nowhere',
    );
    assert.deepEqual(
      hits.map((h: any) => h.rank),
      [1, 2],
    );
    const [invoice, note] = hits;
    assert.ok(invoice.scores.vector > note.scores.vector + 0.1, `invoice ${invoice.scores.vector}, note ${note.scores.vector}`);
    assert.equal(invoice.scores.text, null, 'ranked by vector only');
    // The hit is the other document's best passage, with where it is.
    assert.ok(invoice.snippet.length > 0 && invoice.page === 1 && Number.isInteger(invoice.chunkOrdinal));

    const one = await hub.gql(MORE, { d: ids['scanned-invoice.png'], first: 1 });
    assert.deepEqual(
      one.data.moreLikeThis.map((h: any) => h.document.id),
      [ids['scanned-invoice-for-order.png']],
    );
    // From the note's side, both invoices come back, and not the note.
    const fromNote = await hub.gql(MORE, { d: ids['notes.txt'] });
    assert.deepEqual(
      fromNote.data.moreLikeThis.map((h: any) => h.document.id).sort(),
      [ids['scanned-invoice.png'], ids['scanned-invoice-for-order.png']].sort(),
    );
  });

  test("answers NOT_FOUND for unknown and other teams' ids, NOT_PROCESSED without an embedding, BAD_PAGE_SIZE", async () => {
    assert.equal(codeOf(await hub.gql(MORE, { d: 'no-such-document' })), 'NOT_FOUND');
    const failed = await hub.gql(MORE, { d: brokenId });
    assert.equal(codeOf(failed), 'NOT_PROCESSED', JSON.stringify(failed.errors));
    assert.equal(failed.errors?.[0]?.extensions?.details?.status, 'failed');
    for (const first of [0, 101]) assert.equal(codeOf(await hub.gql(MORE, { d: ids['notes.txt'], first })), 'BAD_PAGE_SIZE');

    // A member of another team, acting in its own team: this team's document is not found.
    const outsider = await gql(hub.url, `mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }`, {
      i: { email: 'outsider@example.org', password: PASSWORD },
    });
    const theirs = await gql(hub.url, MORE, { d: ids['scanned-invoice.png'] }, bearer(outsider.data.signUp.accessToken));
    const missing = await gql(hub.url, MORE, { d: 'no-such-document' }, bearer(outsider.data.signUp.accessToken));
    assert.equal(codeOf(theirs), 'NOT_FOUND');
    assert.deepEqual(theirs.data, missing.data);
  });
});

describe('search grouped by document', () => {
  const GROUPED = `query($q: String!, $mode: SearchMode, $first: Int, $passages: Int) {
    searchDocuments(query: $q, mode: $mode, first: $first, passages: $passages) {
      documents { rank document { id classification { type { label } sensitivity { label } } } passages { document { id } rank snippet scores { hybrid text } } }
      facets { passagesExamined types { value count } sensitivities { value count } } } }`;
  const PASSAGES = `query($q: String!, $mode: SearchMode) { search(query: $q, mode: $mode, first: 100) { document { id } } }`;

  test('gives each document once, ranked by its best passage, with its passages and facet counts', async () => {
    for (const mode of ['HYBRID', 'TEXT', 'VECTOR']) {
      const res = await hub.gql(GROUPED, { q: 'invoice total amount due', mode, passages: 2 });
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      const { documents, facets } = res.data.searchDocuments;
      const passages = (await hub.gql(PASSAGES, { q: 'invoice total amount due', mode })).data.search.map((h: any) => h.document.id);
      assert.deepEqual(
        documents.map((d: any) => d.document.id),
        [...new Set(passages)],
        `${mode}: the documents of the passages, in the order of their best passage`,
      );
      assert.ok(documents.length >= 2, `${mode}: both invoices are found`);
      documents.forEach((d: any, i: number) => {
        assert.equal(d.rank, i + 1);
        assert.ok(d.passages.length >= 1 && d.passages.length <= 2, `${mode}: 1 or 2 passages`);
        for (const [j, p] of d.passages.entries()) {
          assert.equal(p.document.id, d.document.id, 'a passage of the document itself');
          assert.equal(p.rank, j + 1);
        }
      });
      assert.equal(facets.passagesExamined, passages.length);
      const count = (list: Array<{ value: string | null; count: number }>) => Object.fromEntries(list.map((f) => [f.value, f.count]));
      const expected = (label: (d: any) => string | null) => {
        const out: Record<string, number> = {};
        for (const d of documents) out[String(label(d))] = (out[String(label(d))] ?? 0) + 1;
        return out;
      };
      assert.deepEqual(
        count(facets.types),
        expected((d) => d.document.classification?.type.label ?? null),
        mode,
      );
      assert.deepEqual(
        count(facets.sensitivities),
        expected((d) => d.document.classification?.sensitivity.label ?? null),
        mode,
      );
    }
  });

  test('refuses a page or passage count out of range with BAD_PAGE_SIZE naming the argument', async () => {
    for (const [first, passages, field] of [
      [0, 3, 'first'],
      [101, 3, 'first'],
      [10, 0, 'passages'],
      [10, 11, 'passages'],
    ] as const) {
      const res = await hub.gql(
        `query($first: Int, $passages: Int) { searchDocuments(query: "invoice", first: $first, passages: $passages) { facets { passagesExamined } } }`,
        { first, passages },
      );
      assert.equal(codeOf(res), 'BAD_PAGE_SIZE');
      assert.equal(res.errors?.[0]?.extensions?.details?.field, field);
    }
  });
});

describe('document list orders over GraphQL', () => {
  const LIST = `query($order: DocumentOrder, $first: Int, $after: String) {
    documents(orderBy: $order, first: $first, after: $after) { totalCount pageInfo { endCursor hasNextPage } nodes { id filename size } } }`;

  test('orders by name and by size, pages within an order, and refuses a cursor of another order', async () => {
    const all = (await hub.gql(LIST, { order: 'NEWEST', first: 10 })).data.documents.nodes as {
      id: string;
      filename: string;
      size: number;
    }[];
    assert.equal(all.length, 4);
    const byName = (await hub.gql(LIST, { order: 'NAME', first: 10 })).data.documents.nodes;
    assert.deepEqual(
      byName.map((d: any) => d.filename),
      ['broken.pdf', 'notes.txt', 'scanned-invoice-for-order.png', 'scanned-invoice.png'],
    );
    const byNameDesc = (await hub.gql(LIST, { order: 'NAME_DESC', first: 10 })).data.documents.nodes;
    assert.deepEqual(byNameDesc, [...byName].reverse());
    const largest = (await hub.gql(LIST, { order: 'LARGEST', first: 10 })).data.documents.nodes.map((d: any) => d.size);
    assert.deepEqual(
      largest,
      all.map((d) => d.size).sort((x, y) => y - x),
    );

    const first = (await hub.gql(LIST, { order: 'SMALLEST', first: 3 })).data.documents;
    assert.deepEqual([first.totalCount, first.pageInfo.hasNextPage], [4, true]);
    const rest = (await hub.gql(LIST, { order: 'SMALLEST', first: 3, after: first.pageInfo.endCursor })).data.documents;
    assert.deepEqual(
      [...first.nodes, ...rest.nodes].map((d: any) => d.size),
      all.map((d) => d.size).sort((x, y) => x - y),
    );
    const crossed = await hub.gql(LIST, { order: 'NEWEST', first: 3, after: first.pageInfo.endCursor });
    assert.equal(codeOf(crossed), 'BAD_CURSOR');
    assert.match(crossed.errors![0].message, /SMALLEST/);
  });
});
