/**
 * Rate limits on sign-in and uploads (rate-limiter-flexible, in this process's memory).
 *
 * Sign-in: every attempt takes a point from its account and from its client address before
 * the password is checked, so concurrent guesses cannot slip past the limit; a successful
 * sign-in gives the address its point back and clears the account's count. An account or
 * address out of points is refused with RATE_LIMITED (429) until its window ends, whatever
 * the password. Uploads: a fixed number per team per minute, people and API keys together.
 *
 * Sign-up: attempts per address (as many as failed sign-ins), which also bounds the argon2
 * work and the probing of taken addresses. Addresses are counted as they come, except IPv6
 * ones, which count by their /64 (one host usually holds a whole /64).
 *
 * The counts live in one hub's memory by default. Hub replicas pass a factory of limiters on
 * a shared store (`RateLimiterNatsKv`), so the N+1st attempt is refused whichever hub it reaches.
 */
import { isIPv6 } from 'node:net';
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimitedError } from '@quire/kernel';
import { normalizeEmail } from '../store/store.ts';

export interface RateLimitSettings {
  signIn: { failuresPerAccount: number; failuresPerAddress: number; windowMs: number };
  uploadsPerTeamPerMinute: number;
}

/** Makes one limiter: `points` per `duration` seconds for each key, its keys under `keyPrefix`. */
export type LimiterFactory = (options: { keyPrefix: string; points: number; duration: number }) => RateLimiterAbstract;

/** Limiters that count in this process's memory. */
const memoryLimiters: LimiterFactory = (options) => new RateLimiterMemory(options);

/** A limit's key when the request has no known address. */
const UNKNOWN_ADDRESS = 'unknown';

export class RateLimits {
  private readonly signInAccount: RateLimiterAbstract;
  private readonly signInAddress: RateLimiterAbstract;
  private readonly uploads: RateLimiterAbstract;
  private readonly signUps: RateLimiterAbstract;

  constructor(settings: RateLimitSettings, limiter: LimiterFactory = memoryLimiters) {
    const windowSeconds = Math.max(1, Math.ceil(settings.signIn.windowMs / 1000));
    this.signInAccount = limiter({
      keyPrefix: 'sign-in-account',
      points: settings.signIn.failuresPerAccount,
      duration: windowSeconds,
    });
    this.signInAddress = limiter({
      keyPrefix: 'sign-in-address',
      points: settings.signIn.failuresPerAddress,
      duration: windowSeconds,
    });
    this.signUps = limiter({
      keyPrefix: 'sign-up-address',
      points: settings.signIn.failuresPerAddress,
      duration: windowSeconds,
    });
    this.uploads = limiter({ keyPrefix: 'upload-team', points: settings.uploadsPerTeamPerMinute, duration: 60 });
  }

  /** Takes a sign-up attempt's point from its address; throws RateLimitedError when it has none left. */
  async signUp(ip: string | null | undefined): Promise<void> {
    await take(this.signUps, addressKey(ip), 'Too many sign-ups from this address');
  }

  /** Takes a sign-in attempt's points; throws RateLimitedError when the account or address has none left. */
  async beginSignIn(email: string, ip: string | null | undefined): Promise<void> {
    await take(this.signInAddress, addressKey(ip), 'Too many failed sign-ins from this address');
    await take(this.signInAccount, normalizeEmail(email), 'Too many failed sign-ins for this account');
  }

  /** A sign-in succeeded: only failures count against the address, and the account starts afresh. */
  async signedIn(email: string, ip: string | null | undefined): Promise<void> {
    await this.signInAddress.reward(addressKey(ip), 1);
    await this.signInAccount.delete(normalizeEmail(email));
  }

  /** Takes an upload's point from the team; throws RateLimitedError when it has none left this minute. */
  async upload(teamId: string): Promise<void> {
    await take(this.uploads, teamId, 'Too many uploads for this team');
  }
}

/** The key an address is counted under: IPv4 as it is, IPv6 by its /64 prefix. */
export function addressKey(ip: string | null | undefined): string {
  if (!ip) return UNKNOWN_ADDRESS;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIPv6(ip)) {
    const [head = '', tail = ''] = ip.split('::');
    const left = head ? head.split(':') : [];
    const right = tail ? tail.split(':') : [];
    const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
    return `${groups
      .slice(0, 4)
      .map((g) => g.replace(/^0+(?=.)/, '').toLowerCase())
      .join(':')}::/64`;
  }
  return ip;
}

async function take(limiter: RateLimiterAbstract, key: string, message: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (res) {
    // consume rejects with the limiter's answer when out of points, and with an Error otherwise.
    if (res instanceof RateLimiterRes) throw new RateLimitedError(message, res.msBeforeNext);
    throw res;
  }
}
