import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSchema, type GraphQLObjectType } from 'graphql';
import { typeDefs } from '@quire/graphql';
import { AppError } from '@quire/kernel';
import {
  Access,
  ENTRY_POINTS,
  POLICY,
  authorize,
  authorizeTeam,
  authorizeUser,
  chooseTeam,
  type Operation,
  type Principal,
} from './policy.ts';

const user = (memberships: Principal['memberships']): Principal => ({ kind: 'user', userId: 'u1', sessionId: 's1', memberships });
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
    return 'allowed';
  } catch (err) {
    assert.ok(err instanceof AppError, String(err));
    return err.code;
  }
};

describe('authorization policy', () => {
  it('has an entry point for every GraphQL root field, and every entry names a real field or route', () => {
    const schema = buildSchema(typeDefs);
    const fields = (['Query', 'Mutation', 'Subscription'] as const).flatMap((root) =>
      Object.keys((schema.getType(root) as GraphQLObjectType | undefined)?.getFields() ?? {}).map((f) => `${root}.${f}`),
    );
    const missing = fields.filter((f) => !(f in ENTRY_POINTS));
    assert.deepEqual(missing, [], 'root fields without a row in ENTRY_POINTS');
    const stale = Object.keys(ENTRY_POINTS).filter((e) => /^(Query|Mutation|Subscription)\./.test(e) && !fields.includes(e));
    assert.deepEqual(stale, [], 'rows naming no field of the schema');
    for (const [entry, op] of Object.entries(ENTRY_POINTS)) assert.ok(op in POLICY, `${entry} → ${op} has no policy`);
  });

  it('answers each role, an outsider, an API key and no principal as the table says, for every operation', () => {
    const team = 'team-a';
    const callers: Record<string, Principal | null> = {
      owner: user([{ teamId: team, role: 'owner' }]),
      editor: user([{ teamId: team, role: 'editor' }]),
      viewer: user([{ teamId: team, role: 'viewer' }]),
      outsider: user([{ teamId: 'team-b', role: 'owner' }]),
      editorKey: { kind: 'apiKey', apiKeyId: 'k1', memberships: [{ teamId: team, role: 'editor' }] },
      anonymous: null,
    };
    const rank = { viewer: 1, editor: 2, owner: 3 } as const;
    for (const [op, access] of Object.entries(POLICY) as [Operation, Access][]) {
      for (const [name, principal] of Object.entries(callers)) {
        let expected: string;
        if (access === Access.Public) expected = 'allowed';
        else if (!principal) expected = 'UNAUTHENTICATED';
        else if (access === Access.User) expected = principal.kind === 'user' ? 'allowed' : 'FORBIDDEN';
        else if (name === 'outsider') expected = 'NOT_FOUND';
        else expected = rank[principal.memberships[0]!.role] >= rank[access] ? 'allowed' : 'FORBIDDEN';
        assert.equal(
          codeOf(() => authorize(principal, team, op)),
          expected,
          `${name} × ${op}`,
        );
      }
    }
  });

  it('answers the team scope for team operations and needs a team to be named or known', () => {
    const owner = user([{ teamId: 'team-a', role: 'owner' }]);
    assert.deepEqual(authorize(owner, 'team-a', 'document.delete'), {
      teamId: 'team-a',
      actor: { userId: 'u1', apiKeyId: null, ip: null },
    });
    assert.equal(authorize(owner, null, 'account.read'), null);
    assert.equal(
      codeOf(() => authorize(owner, null, 'document.read')),
      'NOT_FOUND',
    );
    assert.equal(chooseTeam(owner, null), 'team-a');
    assert.equal(chooseTeam(owner, 'team-z'), 'team-z', 'a named team is checked by authorize, not replaced');
    assert.equal(chooseTeam(user([]), undefined), null);
  });

  it('has typed forms for operations of a person and of a team, which refuse the other kind', () => {
    const owner = user([{ teamId: 'team-a', role: 'owner' }]);
    assert.equal(authorizeUser(owner, 'account.read'), owner);
    assert.deepEqual(authorizeTeam(owner, 'team-a', 'member.read'), {
      teamId: 'team-a',
      actor: { userId: 'u1', apiKeyId: null, ip: null },
    });
    assert.throws(() => authorizeUser(owner, 'member.read'), /not an operation of a signed-in person/);
    assert.throws(() => authorizeTeam(owner, 'team-a', 'account.read'), /not an operation within a team/);
    assert.equal(
      codeOf(() => authorizeUser(null, 'account.read')),
      'UNAUTHENTICATED',
    );
  });
});
