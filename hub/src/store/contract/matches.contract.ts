/** Store contract, MatchRepository, with document vectors: match rules and matches. */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import { buildDocument, T0 } from './harness.ts';
import type { StoreTest } from './harness.ts';

export function matchesContract(it: StoreTest): void {
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
      const byType = async (t: string) => (await store.listDocuments(a, { filter: { types: [t] }, first: 10 })).edges.map((e) => e.node.id);
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

    const CONCURRENT = 20;
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);

    it('creates one match of concurrent proposals of a pair, and all of them answer its id', async ({ store, a }) => {
      const x = await store.insertDocument(a, buildDocument());
      const y = await store.insertDocument(a, buildDocument());
      const results = await Promise.all(
        range(CONCURRENT).map((i) =>
          store.proposeMatch(
            a,
            {
              id: `m-${i}`,
              kind: 'related',
              // Half of them see the pair the other way round.
              documentAId: i % 2 ? y.id : x.id,
              documentBId: i % 2 ? x.id : y.id,
              ruleId: null,
              score: 0.9,
              passages: [],
              fields: [],
            },
            T0,
          ),
        ),
      );
      assert.equal(results.filter((r) => r.created).length, 1, 'exactly one proposal creates the match');
      const id = results.find((r) => r.created)!.match.id;
      assert.deepEqual(
        results.map((r) => r.match.id),
        range(CONCURRENT).map(() => id),
      );
      assert.deepEqual(
        (await store.listMatches(a, { limit: 100 })).map((m) => m.id),
        [id],
      );
    });

    it('accepts exactly one of concurrent resolutions from one version', async ({ store, a }) => {
      const x = await store.insertDocument(a, buildDocument());
      const y = await store.insertDocument(a, buildDocument());
      await store.proposeMatch(
        a,
        { id: 'm-1', kind: 'duplicate', documentAId: x.id, documentBId: y.id, ruleId: null, score: 0.98, passages: [], fields: [] },
        T0,
      );
      const results = await Promise.all(
        range(CONCURRENT).map((i) =>
          store.resolveMatch(a, 'm-1', {
            expectedVersion: 1,
            status: i % 2 ? 'rejected' : 'confirmed',
            canonicalDocumentId: i % 2 ? null : x.id,
            by: `u-${i}`,
            at: T0 + 1,
            note: `by ${i}`,
          }),
        ),
      );
      const accepted = results.filter((r) => r?.status === 'accepted');
      const conflicts = results.filter((r) => r?.status === 'conflict');
      assert.equal(accepted.length, 1, 'exactly one resolution wins');
      assert.equal(conflicts.length, CONCURRENT - 1, 'every other one conflicts');
      const winner = accepted[0]!.match;
      assert.equal(winner.version, 2);
      for (const c of conflicts) assert.deepEqual(c.current, winner, "a conflict answers the winner's state");
      assert.deepEqual(await store.getMatch(a, 'm-1'), winner);
      assert.deepEqual(
        (await store.listMatches(a, { status: winner.status, limit: 10 })).map((m) => [m.id, m.resolvedBy]),
        [['m-1', winner.resolvedBy]],
      );
      assert.deepEqual(await store.listMatches(a, { status: 'open', limit: 10 }), []);
    });
  });
}
