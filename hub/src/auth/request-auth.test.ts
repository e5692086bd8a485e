import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthenticationError } from '@quire/kernel';
import type { AuthService } from '../services/auth.service.ts';
import type { Principal } from './policy.ts';
import { bearerToken, principalOf, resolveRequestAuth } from './request-auth.ts';

const member: Principal = { kind: 'user', userId: 'u1', sessionId: 's1', memberships: [{ teamId: 'team-a', role: 'editor' }] };

/** An AuthService that knows one token and refuses the rest. */
const fakeAuth = (onUnknown: () => never) =>
  ({
    authenticate: async (token: string) => (token === 'good' ? member : onUnknown()),
  }) as unknown as AuthService;

describe('request authentication', () => {
  it('reads Bearer tokens, and bare tokens from socket parameters', () => {
    assert.equal(bearerToken('Bearer abc.def'), 'abc.def');
    assert.equal(bearerToken('bearer   qk_123 '), 'qk_123');
    assert.equal(bearerToken('qk_123'), 'qk_123');
    assert.equal(bearerToken('Basic dXNlcjpwdw=='), null, 'another scheme is refused, not ignored');
    assert.equal(bearerToken(undefined), undefined);
    assert.equal(bearerToken(''), undefined);
  });

  it('defaults the team to the first membership, keeps a named one, and keeps a refusal for later', async () => {
    const refuse = fakeAuth(() => {
      throw new AuthenticationError('expired', { code: 'TOKEN_EXPIRED' });
    });
    const ok = await resolveRequestAuth(refuse, { authorization: 'Bearer good', ip: '10.0.0.1' });
    assert.deepEqual(ok, { principal: member, error: null, teamId: 'team-a', meta: { ip: '10.0.0.1', userAgent: null } });
    assert.equal((await resolveRequestAuth(refuse, { authorization: 'Bearer good', team: 'team-b' })).teamId, 'team-b');

    const none = await resolveRequestAuth(refuse, {});
    assert.equal(principalOf(none), null);

    const stale = await resolveRequestAuth(refuse, { authorization: 'Bearer old' });
    assert.equal(stale.principal, null);
    assert.throws(
      () => principalOf(stale),
      (err: unknown) => err instanceof AuthenticationError && err.code === 'TOKEN_EXPIRED',
    );
  });

  it('lets a failing store fail the request instead of passing for anonymous', async () => {
    const broken = fakeAuth(() => {
      throw new Error('database is locked');
    });
    await assert.rejects(resolveRequestAuth(broken, { authorization: 'Bearer other' }), /database is locked/);
  });
});
