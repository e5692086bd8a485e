/**
 * Rate limits on sign-in and uploads (rate-limiter-flexible, in this process's memory).
 *
 * Sign-in: every attempt takes a point from its account and from its client address before
 * the password is checked, so concurrent guesses cannot slip past the limit; a successful
 * sign-in gives the address its point back and clears the account's count. An account or
 * address out of points is refused with RATE_LIMITED (429) until its window ends, whatever
 * the password. Uploads: a fixed number per team per minute, people and API keys together.
 *
 * The counts live in one hub's memory: several hubs behind a balancer each count on their own
 * (rate-limiter-flexible offers shared stores for that case).
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '@quire/processors';
import { normalizeEmail } from '../store/store.ts';

export interface RateLimitSettings {
  signIn: { failuresPerAccount: number; failuresPerAddress: number; windowMs: number };
  uploadsPerTeamPerMinute: number;
}

/** A limit's key when the request has no known address. */
const UNKNOWN_ADDRESS = 'unknown';

export class RateLimits {
  private readonly signInAccount: RateLimiterMemory;
  private readonly signInAddress: RateLimiterMemory;
  private readonly uploads: RateLimiterMemory;

  constructor(settings: RateLimitSettings) {
    const windowSeconds = Math.max(1, Math.ceil(settings.signIn.windowMs / 1000));
    this.signInAccount = new RateLimiterMemory({
      keyPrefix: 'sign-in-account',
      points: settings.signIn.failuresPerAccount,
      duration: windowSeconds,
    });
    this.signInAddress = new RateLimiterMemory({
      keyPrefix: 'sign-in-address',
      points: settings.signIn.failuresPerAddress,
      duration: windowSeconds,
    });
    this.uploads = new RateLimiterMemory({ keyPrefix: 'upload-team', points: settings.uploadsPerTeamPerMinute, duration: 60 });
  }

  /** Takes a sign-in attempt's points; throws RateLimitedError when the account or address has none left. */
  async beginSignIn(email: string, ip: string | null | undefined): Promise<void> {
    await take(this.signInAddress, ip || UNKNOWN_ADDRESS, 'Too many failed sign-ins from this address');
    await take(this.signInAccount, normalizeEmail(email), 'Too many failed sign-ins for this account');
  }

  /** A sign-in succeeded: only failures count against the address, and the account starts afresh. */
  async signedIn(email: string, ip: string | null | undefined): Promise<void> {
    await this.signInAddress.reward(ip || UNKNOWN_ADDRESS, 1);
    await this.signInAccount.delete(normalizeEmail(email));
  }

  /** Takes an upload's point from the team; throws RateLimitedError when it has none left this minute. */
  async upload(teamId: string): Promise<void> {
    await take(this.uploads, teamId, 'Too many uploads for this team');
  }
}

async function take(limiter: RateLimiterMemory, key: string, message: string): Promise<void> {
  try {
    await limiter.consume(key);
  } catch (res) {
    // consume rejects with the limiter's answer when out of points, and with an Error otherwise.
    if (res instanceof RateLimiterRes) throw new RateLimitedError(message, res.msBeforeNext);
    throw res;
  }
}
