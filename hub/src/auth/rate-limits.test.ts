import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '@quire/kernel';
import { RateLimits, addressKey } from './rate-limits.ts';

describe('rate limits', () => {
  it('count IPv4 addresses as they are and IPv6 ones by their /64', () => {
    assert.equal(addressKey('203.0.113.9'), '203.0.113.9');
    assert.equal(addressKey('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(addressKey('2001:db8:0:1:aaaa::1'), '2001:db8:0:1::/64');
    assert.equal(addressKey('2001:0db8:0000:0001:bbbb:cccc:dddd:eeee'), '2001:db8:0:1::/64');
    assert.equal(addressKey('fe80::1'), 'fe80:0:0:0::/64');
    assert.equal(addressKey(undefined), 'unknown');
  });

  it('refuse a sixth sign-up from one /64 and let another network through', async () => {
    const limits = new RateLimits({
      signIn: { failuresPerAccount: 5, failuresPerAddress: 5, windowMs: 60_000 },
      uploadsPerTeamPerMinute: 5,
    });
    for (let i = 1; i <= 5; i++) await limits.signUp(`2001:db8:0:1::${i}`);
    await assert.rejects(limits.signUp('2001:db8:0:1:ffff::9'), (err: unknown) => err instanceof AppError && err.code === 'RATE_LIMITED');
    await limits.signUp('2001:db8:0:2::1');
  });
});
