import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertTeamKeepsOwner, matchPairKey, raisedRole, refreshedEvidence } from './rules.ts';
import { Role, type NewMatch } from './store.ts';

describe('store rules', () => {
  it('raises a membership when offered a stronger role and otherwise keeps it', () => {
    assert.equal(raisedRole(undefined, Role.Viewer), Role.Viewer);
    assert.equal(raisedRole(Role.Viewer, Role.Editor), Role.Editor);
    assert.equal(raisedRole(Role.Editor, Role.Editor), null);
    assert.equal(raisedRole(Role.Owner, Role.Viewer), null);
  });

  it('refuses only the change that leaves a team without an owner, asking for the owners only then', () => {
    let asked = 0;
    const owners = (ids: string[]) => () => {
      asked += 1;
      return ids;
    };
    assertTeamKeepsOwner({ userId: 'ann', from: Role.Editor, to: null }, owners([]));
    assertTeamKeepsOwner({ userId: 'ann', from: Role.Owner, to: Role.Owner }, owners([]));
    assert.equal(asked, 0, 'a change that keeps ownership needs no owner list');
    assertTeamKeepsOwner({ userId: 'ann', from: Role.Owner, to: Role.Viewer }, owners(['ann', 'bob']));
    for (const to of [Role.Editor, null]) {
      assert.throws(() => assertTeamKeepsOwner({ userId: 'ann', from: Role.Owner, to }, owners(['ann'])), { code: 'LAST_OWNER' });
    }
    assert.equal(asked, 3);
  });

  const proposal: NewMatch = {
    id: 'm2',
    kind: 'rule',
    documentAId: 'order',
    documentBId: 'invoice',
    ruleId: 'r1',
    score: 0.9,
    passages: [{ chunkA: 1, pageA: 2, textA: 'order text', chunkB: 3, pageB: 4, textB: 'invoice text', similarity: 0.8 }],
    fields: [{ fieldA: 'total', fieldB: 'amount', valueA: '10', valueB: '10.00', comparison: 'equals' }],
  } as NewMatch;

  it('keys a pair the same whichever way round it is proposed', () => {
    const turned = { ...proposal, documentAId: 'invoice', documentBId: 'order' };
    assert.equal(matchPairKey(turned), matchPairKey(proposal));
    assert.notEqual(matchPairKey({ ...proposal, ruleId: 'r2' }), matchPairKey(proposal));
    assert.equal(
      matchPairKey({ ...proposal, kind: 'duplicate', ruleId: null }),
      matchPairKey({ ...proposal, kind: 'related', ruleId: null }),
    );
    assert.notEqual(matchPairKey({ ...proposal, kind: 'duplicate', ruleId: null }), matchPairKey(proposal));
  });

  it('refreshes an open match with evidence turned to its orientation, and leaves a resolved one alone', () => {
    assert.deepEqual(refreshedEvidence({ status: 'open', documentAId: 'order' }, proposal), {
      kind: 'rule',
      score: 0.9,
      passages: proposal.passages,
      fields: proposal.fields,
    });
    const turned = refreshedEvidence({ status: 'open', documentAId: 'invoice' }, proposal)!;
    assert.deepEqual(turned.passages, [
      { chunkA: 3, pageA: 4, textA: 'invoice text', chunkB: 1, pageB: 2, textB: 'order text', similarity: 0.8 },
    ]);
    assert.deepEqual(turned.fields, [{ fieldA: 'amount', fieldB: 'total', valueA: '10.00', valueB: '10', comparison: 'equals' }]);
    for (const status of ['confirmed', 'rejected'] as const)
      assert.equal(refreshedEvidence({ status, documentAId: 'order' }, proposal), null);
  });
});
