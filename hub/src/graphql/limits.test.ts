import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getIntrospectionQuery, parse } from 'graphql';
import { checkIntrospection, checkOperationLimits, checkOperationLimitsCached, INTROSPECTION_MAX_DEPTH } from './limits.ts';
import { buildSchema } from './server.ts';

const schema = buildSchema();
const check = (query: string, variables: Record<string, unknown> = {}, limits = { maxDepth: 6, maxCost: 5000 }) =>
  checkOperationLimits(limits, { schema, document: parse(query), variables }).map((e) => ({
    code: e.extensions.code,
    details: e.extensions.details,
  }));

describe('GraphQL operation limits', () => {
  it('refuses more aliases than allowed, introspection included, and prices searches and whole texts', () => {
    const aliases = (n: number, field: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join(' ')} }`;
    assert.deepEqual(check(aliases(30, '__typename')), []);
    assert.deepEqual(check(aliases(31, '__schema { types { name } }')), [{ code: 'QUERY_TOO_COMPLEX', details: { maxAliases: 30 } }]);
    const searches = aliases(30, 'search(query: "x", first: 1) { score }');
    assert.deepEqual(check(searches, {}, { maxDepth: 6, maxCost: 2999 }), [
      { code: 'QUERY_TOO_COMPLEX', details: { maxCost: 2999, cost: 30 * 100 } },
    ]);
    const texts = `query($id: ID!) { document(id: $id) { ${Array.from({ length: 20 }, (_, i) => `t${i}: text`).join(' ')} } }`;
    assert.equal(
      (check(texts, { id: 'd' }, { maxDepth: 6, maxCost: 100 })[0]?.details as { cost?: number } | undefined)?.cost,
      1 + 20 * 10,
    );
  });

  it('lets ordinary operations and the introspection query through', () => {
    assert.deepEqual(check(`{ documents(first: 50) { totalCount nodes { id filename status createdAt } } }`), []);
    assert.deepEqual(check(`query($id: ID!) { document(id: $id) { id pages { number words { text } } } }`, { id: 'd' }), []);
    assert.deepEqual(check(getIntrospectionQuery()), []);
    // A document viewer's whole page layout: every word of every page with its box.
    const viewer = `query($id: ID!) { document(id: $id) { pages { number words { text box { x y w h } confidence } } } }`;
    assert.deepEqual(check(viewer, { id: 'd' }, { maxDepth: 6, maxCost: 20_000 }), []);
  });

  it('bounds introspection at a depth of its own, and lets only the callers allowed introspect', () => {
    const nested = (n: number) => `{ __schema { types { ${'ofType { '.repeat(n)}name${' }'.repeat(n)} } } }`;
    assert.deepEqual(check(nested(INTROSPECTION_MAX_DEPTH - 3)), []);
    assert.deepEqual(check(nested(INTROSPECTION_MAX_DEPTH)), [
      { code: 'QUERY_TOO_COMPLEX', details: { maxDepth: INTROSPECTION_MAX_DEPTH, depth: INTROSPECTION_MAX_DEPTH + 3 } },
    ]);
    const codes = (access: 'anonymous' | 'authenticated' | 'off', query: string, authenticated: boolean) =>
      checkIntrospection(access, { schema, document: parse(query) }, authenticated).map((e) => e.extensions.code);
    const introspection = `{ __type(name: "Document") { name } }`;
    assert.deepEqual(codes('anonymous', introspection, false), []);
    assert.deepEqual(codes('authenticated', introspection, false), ['UNAUTHENTICATED']);
    assert.deepEqual(codes('authenticated', introspection, true), []);
    assert.deepEqual(codes('off', introspection, true), ['INTROSPECTION_DISABLED']);
    assert.deepEqual(codes('off', `{ __typename }`, false), []);
  });

  it('refuses a selection deeper than the limit, with its depth', () => {
    const deep = `{ documents { nodes { job { id } } } }`;
    assert.deepEqual(check(deep, {}, { maxDepth: 4, maxCost: 5000 }), []);
    assert.deepEqual(check(deep, {}, { maxDepth: 3, maxCost: 5000 }), [{ code: 'QUERY_TOO_COMPLEX', details: { maxDepth: 3, depth: 4 } }]);
  });

  it('prices lists by the `first` they ask for, also through variables, and refuses a costly operation', () => {
    const pages = `query($n: Int) { documents(first: $n) { nodes { id pages { words { text } } } } }`;
    const limits = { maxDepth: 6, maxCost: 1000 };
    assert.deepEqual(check(pages, { n: 10 }, limits), []);
    const [refusal] = check(pages, { n: 200 }, limits);
    assert.equal(refusal?.code, 'QUERY_TOO_COMPLEX');
    assert.equal((refusal?.details as { maxCost: number }).maxCost, 1000);
    // documents + 200 × (nodes + 1 × (pages + 10 × (words + 250 × 0 for the scalar text)))
    assert.equal((refusal?.details as { cost: number }).cost, 1 + 200 * (1 + 1 * (1 + 10 * 1)));
  });

  it('answers as the full check when it reuses what it found for the same parsed operation', () => {
    const limits = { maxDepth: 6, maxCost: 1000 };
    const cached = checkOperationLimitsCached(limits);
    const codes = (errors: { extensions: Record<string, unknown> }[]) => errors.map((e) => [e.extensions.code, e.extensions.details]);
    const pages = parse(
      `query($n: Int, $id: ID) { documents(first: $n) { nodes { id pages { words { text } } } } document(id: $id) { id } }`,
    );
    const introspects = parse(`query($id: ID!) { __type(name: "Document") { name } document(id: $id) { id } }`);
    const closed = { access: 'authenticated', authenticated: false } as const;
    const open = { access: 'authenticated', authenticated: true } as const;
    const cases: [typeof pages, Record<string, unknown>, typeof open | typeof closed][] = [
      [pages, { n: 10, id: 'a' }, open],
      [pages, { n: 10, id: 'b' }, open],
      [pages, { n: 200, id: 'a' }, open],
      [pages, { n: 10 }, open],
      [pages, { n: null, id: 'a' }, open],
      [pages, { id: 'a' }, open],
      [pages, { n: 'many', id: 'a' }, open],
      [pages, { n: 10, id: 'a' }, closed],
      [introspects, { id: 'a' }, open],
      [introspects, { id: 'a' }, closed],
      [introspects, { id: 'b' }, open],
      [introspects, {}, open],
    ];
    for (const round of [1, 2]) {
      for (const [document, variables, caller] of cases) {
        const request = { schema, document, variables };
        const run = (check: () => { extensions: Record<string, unknown> }[]) => {
          try {
            return codes(check());
          } catch (err) {
            return (err as Error).message;
          }
        };
        assert.deepEqual(
          run(() => cached(request, caller)),
          run(() => checkOperationLimits(limits, request, caller)),
          `round ${round}: ${JSON.stringify(variables)} ${caller.authenticated}`,
        );
      }
    }
  });
});
