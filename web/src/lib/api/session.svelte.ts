/**
 * The signed-in session: tokens kept in localStorage, the person and their teams, the team in
 * use. The access token is refreshed silently before it expires, and again when the hub
 * answers that it expired. Refresh tokens are single use and a replayed one ends the whole
 * session, so tabs refresh one at a time (a Web Lock, or a lease in localStorage where locks
 * are missing), at slightly different moments, and each tab adopts the pair another tab
 * obtained (the `storage` event) instead of spending its own copy. Only an answer that the
 * session is over ends it here; an unreachable or failing hub keeps it for a later try.
 */
import { untrack } from 'svelte';
import { ApiError, AUTH_CODES } from './errors.ts';

const TOKENS_KEY = 'quire.session';
const TEAM_KEY = 'quire.team';
/** Where tabs without Web Locks (plain-HTTP pages) note which of them is refreshing. */
const LEASE_KEY = 'quire.refresh-lease';
const LEASE_MS = 10_000;
/** A refresh not answered by then counts as unreachable (and is tried again later). */
const REFRESH_TIMEOUT_MS = 6_000;
/** Refresh this long before the access token expires. */
const REFRESH_AHEAD_MS = 30_000;

/** What `signIn`, `signUp` and `refreshSession` answer. */
export interface Tokens {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
}

export type Role = 'OWNER' | 'EDITOR' | 'VIEWER';

export interface Me {
  user: { id: string; email: string; name: string | null };
  teams: { team: { id: string; name: string }; role: Role }[];
}

const AUTH_FIELDS = 'accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt user { id email name }';
const ME_QUERY = '{ me { user { id email name } teams { role team { id name } } } }';

function readTokens(): Tokens | null {
  try {
    const raw = localStorage.getItem(TOKENS_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

/** Posts one GraphQL operation without the session's retry (sign-in, refresh, me). */
export async function postGraphQL<T>(
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string> = {},
  options: { timeoutMs?: number } = {},
): Promise<T> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
      signal: options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined,
    });
  } catch (err) {
    throw new ApiError('NETWORK', 'Quire cannot be reached', err);
  }
  let body: { data?: T; errors?: { message: string; extensions?: { code?: string; details?: unknown } }[] };
  try {
    body = await res.json();
  } catch {
    throw new ApiError(res.status === 429 ? 'RATE_LIMITED' : 'BAD_RESPONSE', `The hub answered ${res.status}`);
  }
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.extensions?.code ?? 'INTERNAL', first.message, first.extensions?.details);
  if (!body.data) throw new ApiError('BAD_RESPONSE', 'The hub answered no data');
  return body.data;
}

class Session {
  tokens = $state<Tokens | null>(null);
  me = $state<Me | null>(null);
  teamId = $state<string | null>(null);
  /** True once the stored session was checked at start-up. */
  ready = $state(false);
  /** A stored session is waiting for the hub to answer. */
  offline = $state(false);
  /** Tells this tab's lease from another's. */
  #tab = Math.random().toString(36).slice(2);

  #started = false;
  #refreshing: Promise<void> | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #listeners = new Set<() => void>();

  get signedIn(): boolean {
    return this.tokens !== null && this.me !== null;
  }

  get team(): { id: string; name: string; role: Role } | null {
    const m = this.me?.teams.find((t) => t.team.id === this.teamId) ?? this.me?.teams[0];
    return m ? { ...m.team, role: m.role } : null;
  }

  /** May the person upload, annotate and resolve in the current team? */
  get canEdit(): boolean {
    return this.team?.role === 'OWNER' || this.team?.role === 'EDITOR';
  }

  get isOwner(): boolean {
    return this.team?.role === 'OWNER';
  }

  /** Reads the stored session and checks it with the hub. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.tokens = readTokens();
    this.teamId = localStorage.getItem(TEAM_KEY);
    window.addEventListener('storage', (e) => {
      if (e.key !== TOKENS_KEY) return;
      const next = readTokens();
      if (!next) this.#clear();
      else this.#adopt(next);
    });
    if (this.tokens) await this.#resume();
    this.ready = true;
  }

  /**
   * Checks a stored session with the hub. An answer that the session is over ends it; a hub
   * that cannot be reached (or fails) is asked again every few seconds meanwhile.
   */
  async #resume(): Promise<void> {
    for (let attempt = 0; this.tokens; attempt += 1) {
      try {
        await this.loadMe();
        this.#schedule();
        return;
      } catch (err) {
        if (err instanceof ApiError && AUTH_CODES.has(err.code)) {
          this.#clear();
          return;
        }
        this.offline = true;
        await new Promise((r) => setTimeout(r, Math.min(10_000, 1_000 * 2 ** attempt)));
      } finally {
        if (this.me) this.offline = false;
      }
    }
  }

  /** Called after the tokens or the team change (sockets reconnect with the new ones). */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async signIn(email: string, password: string): Promise<void> {
    const data = await postGraphQL<{ signIn: Tokens }>(
      `mutation($email: String!, $password: String!) { signIn(email: $email, password: $password) { ${AUTH_FIELDS} } }`,
      { email, password },
    );
    await this.#begin(data.signIn);
  }

  async signUp(input: { email: string; password: string; name?: string; invitationToken?: string }): Promise<void> {
    const data = await postGraphQL<{ signUp: Tokens }>(`mutation($input: SignUpInput!) { signUp(input: $input) { ${AUTH_FIELDS} } }`, {
      input,
    });
    await this.#begin(data.signUp);
  }

  async signOut(): Promise<void> {
    const refreshToken = this.tokens?.refreshToken;
    this.#clear();
    if (refreshToken) {
      await postGraphQL('mutation($t: String) { signOut(refreshToken: $t) }', { t: refreshToken }).catch(() => undefined);
    }
  }

  /** Acts in another of the person's teams. */
  switchTeam(teamId: string): void {
    if (teamId === this.teamId) return;
    this.teamId = teamId;
    localStorage.setItem(TEAM_KEY, teamId);
    this.#emit();
  }

  /** Reads the person and their teams again (after joining a team, say). */
  async loadMe(): Promise<void> {
    const data = await this.withAuth((headers) => postGraphQL<{ me: Me }>(ME_QUERY, {}, headers));
    this.me = data.me;
    if (!data.me.teams.some((t) => t.team.id === this.teamId)) this.teamId = data.me.teams[0]?.team.id ?? null;
  }

  /** Headers naming the caller and the team. */
  headers(): Record<string, string> {
    // Untracked: a request started in an `$effect` must not re-run it when the token refreshes.
    return untrack(() => {
      const h: Record<string, string> = {};
      if (this.tokens) h.authorization = `Bearer ${this.tokens.accessToken}`;
      if (this.teamId) h['x-quire-team'] = this.teamId;
      return h;
    });
  }

  /**
   * Runs a request with the session's headers; when the hub says the access token expired,
   * refreshes once and tries again. A session that cannot be refreshed ends here.
   */
  async withAuth<T>(send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    try {
      return await send(this.headers());
    } catch (err) {
      if (!(err instanceof ApiError) || !AUTH_CODES.has(err.code) || !this.tokens) throw err;
      await this.refresh();
      return send(this.headers());
    }
  }

  /** Exchanges the refresh token for a new pair, once at a time across tabs. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refreshOnce().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #refreshOnce(): Promise<void> {
    const used = this.tokens?.refreshToken;
    const run = async () => {
      // Another tab may have refreshed while this one waited for the lock.
      const stored = readTokens();
      if (stored && stored.refreshToken !== used) {
        this.#adopt(stored);
        return;
      }
      if (!used) throw new ApiError('UNAUTHENTICATED', 'Not signed in');
      try {
        const data = await postGraphQL<{ refreshSession: Tokens }>(
          `mutation($t: String!) { refreshSession(refreshToken: $t) { ${AUTH_FIELDS} } }`,
          { t: used },
          {},
          // Well inside the lease, so no other tab can take it over while this one still waits.
          { timeoutMs: REFRESH_TIMEOUT_MS },
        );
        this.#store(data.refreshSession);
      } catch (err) {
        // Only the hub saying the session is over ends it; other failures are tried again.
        if (err instanceof ApiError && AUTH_CODES.has(err.code)) this.#clear();
        throw err;
      }
    };
    if (navigator.locks) await navigator.locks.request('quire.refresh', run);
    else await this.#withLease(run);
  }

  /** Runs `fn` while this tab holds the localStorage lease; waits for another tab's to end. */
  async #withLease(fn: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + 2 * LEASE_MS;
    for (;;) {
      const held = JSON.parse(localStorage.getItem(LEASE_KEY) ?? 'null') as { tab: string; until: number } | null;
      if (!held || held.until < Date.now() || held.tab === this.#tab) {
        localStorage.setItem(LEASE_KEY, JSON.stringify({ tab: this.#tab, until: Date.now() + LEASE_MS }));
        // Two tabs may write at once: the one whose write stayed goes on.
        await new Promise((r) => setTimeout(r, 50));
        if ((JSON.parse(localStorage.getItem(LEASE_KEY) ?? 'null') as { tab: string } | null)?.tab === this.#tab) break;
      }
      // Never refresh without the lease: another tab may be spending the same token.
      if (Date.now() > deadline) throw new ApiError('NETWORK', 'Another tab is refreshing the session');
      await new Promise((r) => setTimeout(r, 200));
    }
    try {
      await fn();
    } finally {
      if ((JSON.parse(localStorage.getItem(LEASE_KEY) ?? 'null') as { tab: string } | null)?.tab === this.#tab) {
        localStorage.removeItem(LEASE_KEY);
      }
    }
  }

  async #begin(tokens: Tokens): Promise<void> {
    this.#store(tokens);
    await this.loadMe();
  }

  #store(tokens: Tokens): void {
    localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    this.#adopt(tokens);
  }

  #adopt(tokens: Tokens): void {
    this.tokens = tokens;
    this.#schedule();
    this.#emit();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (!this.tokens) return;
    // Tabs holding the same pair would all wake at once: each waits a little differently.
    const jitter = Math.random() * 3_000;
    const wait = Math.max(5_000, Date.parse(this.tokens.accessTokenExpiresAt) - Date.now() - REFRESH_AHEAD_MS - jitter);
    this.#timer = setTimeout(() => {
      // Unreachable hub: try again shortly, so the session is fresh when it is back.
      this.refresh().catch(() => {
        if (this.tokens) this.#schedule();
      });
    }, wait);
  }

  #clear(): void {
    clearTimeout(this.#timer);
    localStorage.removeItem(TOKENS_KEY);
    this.tokens = null;
    this.me = null;
    this.#emit();
  }

  #emit(): void {
    for (const fn of this.#listeners) fn();
  }
}

/** The one session of this tab. */
export const session = new Session();
