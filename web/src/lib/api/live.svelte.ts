/**
 * Live connections: GraphQL subscriptions over graphql-ws (dashboards, match and annotation
 * feeds) and the hub's two Socket.IO namespaces (`/` for document progress, `/collab` for
 * live sessions). Each is opened on first use with the session's token and team and reports
 * its state to {@link connection}, so the layout can show a banner while the hub is unreachable.
 *
 * A token refresh does not reconnect anything: the hub reads a socket's access as it is now on
 * every request and event, and never the expiry of the token it connected with. Only another
 * person, another sign-in or another team reconnects everything. A connection (re)opening with
 * a token about to expire refreshes it first (after a laptop slept, say).
 */
import { createClient, type Client } from 'graphql-ws';
import { io, type Socket } from 'socket.io-client';
import { ApiError, AUTH_CODES } from './errors.ts';
import { session } from './session.svelte.ts';

/** A connection opening with a token that expires sooner than this refreshes it first. */
const FRESH_FOR_MS = 30_000;

/** Whether the live connections are up, for the reconnect banner. */
class Connection {
  /** Connections that were up and are now trying to come back. */
  #down = $state(new Set<string>());
  /** Times a connection came back, so pages can reload what they may have missed. */
  restored = $state(0);

  get lost(): boolean {
    return this.#down.size > 0;
  }

  markDown(name: string): void {
    if (this.#down.has(name)) return;
    this.#down = new Set([...this.#down, name]);
  }

  markUp(name: string): void {
    if (!this.#down.has(name)) return;
    this.#forget(name);
    this.restored += 1;
  }

  /** Stops waiting for a connection this tab closed itself (signed out): not a loss, nor a return. */
  forget(name: string): void {
    if (this.#down.has(name)) this.#forget(name);
  }

  #forget(name: string): void {
    const next = new Set(this.#down);
    next.delete(name);
    this.#down = next;
  }
}

export const connection = new Connection();

/** The claims of a JWT access token, or null when it is not one. */
function tokenClaims(token: string): { sub?: unknown; sid?: unknown } | null {
  try {
    const part = token.split('.')[1];
    if (!part) return null;
    return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/'))) as { sub?: unknown; sid?: unknown };
  } catch {
    return null;
  }
}

/**
 * Who the connections act as: the person, their sign-in (session) and team; null when signed
 * out. A refreshed token keeps all three. A token that is not a JWT counts as a new caller.
 */
function identity(): string | null {
  const tokens = session.tokens;
  if (!tokens) return null;
  const claims = tokenClaims(tokens.accessToken);
  const who = claims && typeof claims.sub === 'string' ? `${claims.sub}/${String(claims.sid ?? '')}` : tokens.accessToken;
  return `${who}@${session.teamId ?? ''}`;
}

/** The caller the open connections last presented (undefined before the first). */
let connectedAs: string | null | undefined;

/** The session's tokens, refreshed first when the access token is about to expire. */
async function freshTokens(): Promise<typeof session.tokens> {
  const tokens = session.tokens;
  if (tokens && Date.parse(tokens.accessTokenExpiresAt) - Date.now() < FRESH_FOR_MS) {
    // Unreachable or refused: the hub answers the old token's refusal, handled where it comes.
    await session.refresh().catch(() => undefined);
  }
  return session.tokens;
}

/** Whether a token had expired when it was presented: the hub refuses what that connection asks. */
const expiredWhenSent = (tokens: typeof session.tokens) => !tokens || Date.parse(tokens.accessTokenExpiresAt) <= Date.now();

/** Connections that presented an expired token (the refresh failed then); a new token reopens them. */
const stale = new Set<Socket | 'graphql'>();

let wsClient: Client | null = null;
/** The access token the graphql-ws connection sent (it is read once per connection). */
let wsToken: string | null = null;
/** True while this tab closes the graphql-ws connection itself: not a lost connection. */
let wsRestarting = false;
let wsRenewal: Promise<void> | null = null;

function graphqlWs(): Client {
  if (wsClient) return wsClient;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  wsClient = createClient({
    url,
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: async (retries) => {
      await new Promise((r) => setTimeout(r, Math.min(5_000, 300 * 2 ** retries)));
    },
    connectionParams: async () => {
      connectedAs = identity();
      const tokens = await freshTokens();
      wsToken = tokens?.accessToken ?? null;
      if (expiredWhenSent(tokens)) stale.add('graphql');
      else stale.delete('graphql');
      return { authorization: tokens ? `Bearer ${tokens.accessToken}` : undefined, team: session.teamId ?? undefined };
    },
    on: {
      connected: () => connection.markUp('graphql'),
      closed: (event) => {
        const code = (event as CloseEvent | undefined)?.code;
        // A close the client asked for (no subscriptions left, a restart with new credentials) is not a lost connection.
        if (code === 1000 || (code === 4499 && wsRestarting)) return;
        connection.markDown('graphql');
      },
    },
  });
  return wsClient;
}

/** Reopens the graphql-ws connection (its subscriptions follow) so that it presents the current session. */
function restartWs(): void {
  if (!wsClient) return;
  wsToken = session.tokens?.accessToken ?? null;
  wsRestarting = true;
  try {
    wsClient.terminate();
  } finally {
    wsRestarting = false;
  }
}

/** After an operation was refused for its token: a fresh token, on a connection that presents it. */
function renewWs(): Promise<void> {
  wsRenewal ??= (async () => {
    const tokens = session.tokens;
    if (!tokens || tokens.accessToken === wsToken || Date.parse(tokens.accessTokenExpiresAt) - Date.now() < FRESH_FOR_MS) {
      await session.refresh().catch(() => undefined);
    }
    if (session.tokens && session.tokens.accessToken !== wsToken) restartWs();
  })().finally(() => {
    wsRenewal = null;
  });
  return wsRenewal;
}

/**
 * Subscribes to a GraphQL subscription; `next` gets each value's `data`. Errors the hub
 * answers (a refusal, say) go to `error`; one for an expired token refreshes the session and
 * subscribes again, once. Returns the unsubscribe function.
 */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  next: (data: T) => void,
  error: (err: ApiError) => void = () => undefined,
): () => void {
  let stopped = false;
  /** Whether this refusal already led to a new subscription (reset by the next value). */
  let renewed = false;
  let unsubscribe: () => void = () => undefined;

  const fail = (err: ApiError) => {
    if (stopped) return;
    if (renewed || !AUTH_CODES.has(err.code) || !session.tokens) {
      error(err);
      // Refused for its token even after a refresh (the hub was away, say): try once more
      // when the session changes next (the timer's refresh), rather than stay stopped.
      if (AUTH_CODES.has(err.code) && session.tokens) {
        const off = session.onChange(() => {
          off();
          if (stopped || !session.tokens) return;
          renewed = false;
          unsubscribe();
          start();
        });
      }
      return;
    }
    renewed = true;
    unsubscribe();
    void renewWs().then(() => {
      if (stopped) return;
      if (session.tokens) start();
      else error(err);
    });
  };

  const start = () => {
    unsubscribe = graphqlWs().subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          const first = value.errors?.[0];
          if (first) fail(new ApiError(String(first.extensions?.code ?? 'INTERNAL'), first.message));
          else if (value.data) {
            renewed = false;
            next(value.data as T);
          }
        },
        error: (err) => {
          const first = Array.isArray(err) ? err[0] : null;
          fail(new ApiError(String(first?.extensions?.code ?? 'NETWORK'), first?.message ?? 'Subscription failed'));
        },
        complete: () => undefined,
      },
    );
  };

  start();
  return () => {
    stopped = true;
    unsubscribe();
  };
}

export type Namespace = '/' | '/collab';

/** Open views of each live session in this tab (a document's, the review's). */
const openViews = new Map<string, number>();

/**
 * Counts a view of the live session `key` as open; answers `close()`, which answers whether
 * it was the last one. The hub keeps one membership per connection and session, so only the
 * last view to close may leave: an earlier leave (a late join answer of a page already left,
 * say) would evict the view opened since.
 */
export function openView(key: string): () => boolean {
  openViews.set(key, (openViews.get(key) ?? 0) + 1);
  let closed = false;
  return () => {
    if (!closed) {
      closed = true;
      const left = (openViews.get(key) ?? 1) - 1;
      if (left > 0) openViews.set(key, left);
      else openViews.delete(key);
    }
    return !openViews.has(key);
  };
}

const sockets = new Map<Namespace, Socket>();

/**
 * A session check under way after the hub said a socket's session ended (`access:ended` with
 * an auth code, then a disconnect): a socket waits for it before reconnecting, and a session
 * that really ended signs out instead.
 */
let sessionCheck: Promise<void> | null = null;

/** The Socket.IO connection of a namespace (`/` or `/collab`), connected with the session. */
export function socketFor(namespace: Namespace): Socket {
  const existing = sockets.get(namespace);
  if (existing) return existing;
  /** Handshakes begun, so that one overtaken while it refreshed the token does not connect twice. */
  let handshakes = 0;
  const socket: Socket = io(namespace, {
    transports: ['websocket'],
    auth: (cb) => {
      const handshake = ++handshakes;
      connectedAs = identity();
      void freshTokens().then((tokens) => {
        // Closed or reopened meanwhile: that connection sends its own handshake.
        if (handshake !== handshakes || !socket.active) return;
        if (expiredWhenSent(tokens)) stale.add(socket);
        else stale.delete(socket);
        cb({ token: tokens?.accessToken, team: session.teamId });
      });
    },
  });
  const name = `socket${namespace}`;
  /** Disconnects by the hub in a row, for the backoff; reset by a connection that lasted. */
  let drops = 0;
  let connectedAt = 0;
  let retry: ReturnType<typeof setTimeout> | undefined;

  // The hub closed this socket (a graceful restart, say) or refused its handshake: socket.io
  // does not come back by itself then, so it is asked again, a little later each time.
  const reconnectLater = () => {
    const wait = Math.min(10_000, 500 * 2 ** drops) * (0.5 + Math.random() / 2);
    drops += 1;
    clearTimeout(retry);
    retry = setTimeout(async () => {
      await sessionCheck;
      if (session.tokens && !socket.active) socket.connect();
    }, wait);
  };

  socket.on('connect', () => {
    connectedAt = Date.now();
    connection.markUp(name);
  });
  socket.on('disconnect', (reason) => {
    // Only a connection that lasted starts the backoff again; refused handshakes never do.
    if (connectedAt && Date.now() - connectedAt > 30_000) drops = 0;
    connectedAt = 0;
    if (reason === 'io client disconnect') return;
    // Signed out: nothing to come back to.
    if (reason === 'io server disconnect' && !session.tokens) return;
    connection.markDown(name);
    if (reason === 'io server disconnect') reconnectLater();
  });
  socket.on('connect_error', () => {
    if (!session.tokens) return;
    connection.markDown(name);
    if (!socket.active) reconnectLater();
  });
  // The hub ended this caller's access. A refusal (role, membership) only leaves the rooms and
  // the stores say so; an ended session is checked by refreshing it, which signs out if it is over.
  socket.on('access:ended', (e: { code?: string } | undefined) => {
    if (!e?.code || !AUTH_CODES.has(e.code) || !session.tokens || sessionCheck) return;
    sessionCheck = session
      .refresh()
      .catch(() => undefined)
      .finally(() => {
        sessionCheck = null;
      });
  });
  sockets.set(namespace, socket);
  return socket;
}

/** What {@link follow} does on a namespace. */
export interface Follower {
  /** Runs on every (re)connection, and at once when the socket is connected already: (re)join rooms here. */
  onConnect?: (socket: Socket) => void;
  /** Runs when the connection drops (whoever was in a room may leave meanwhile). */
  onDisconnect?: (reason: string) => void;
  /** Events of the hub to listen to, by name. */
  events?: Record<string, (payload: any) => void>;
}

/**
 * Listens on the shared socket of `namespace` and (re)joins on every connection, now included
 * when it is connected. Answers `stop()`, which removes the listeners (leaving the rooms is the
 * caller's: other followers may share them).
 */
export function follow(namespace: Namespace, follower: Follower): () => void {
  const socket = socketFor(namespace);
  const onConnect = () => follower.onConnect?.(socket);
  const onDisconnect = (reason: string) => follower.onDisconnect?.(reason);
  const events = Object.entries(follower.events ?? {});
  socket.on('connect', onConnect);
  socket.on('disconnect', onDisconnect);
  for (const [event, handler] of events) socket.on(event, handler);
  if (socket.connected) onConnect();
  return () => {
    socket.off('connect', onConnect);
    socket.off('disconnect', onDisconnect);
    for (const [event, handler] of events) socket.off(event, handler);
  };
}

/**
 * Follows the team's documents on `/` (`job:progress`, `document:changed`): joins the team's
 * room on every connection, then runs `onConnect` (read again what changed meanwhile). The room
 * is shared by all followers, so `stop()` does not leave it.
 */
export function followTeam(follower: Follower): () => void {
  return follow('/', {
    ...follower,
    onConnect: (socket) => {
      void request(socket, 'subscribe', { team: true }).catch(() => undefined);
      follower.onConnect?.(socket);
    },
  });
}

type Ack = { ok: true; state?: unknown } | { ok: false; error: { code: string; message: string; details?: unknown } };

function emitOnce<T>(socket: Socket, event: string, payload: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, payload, (err: Error | null, answer: Ack) => {
      if (err) reject(new ApiError('NETWORK', 'The hub did not answer in time'));
      else if (!answer?.ok)
        reject(new ApiError(answer?.error?.code ?? 'INTERNAL', answer?.error?.message ?? 'Refused', answer?.error?.details));
      else resolve(answer.state as T);
    });
  });
}

const renewing = new Map<Socket, Promise<void>>();

/**
 * Reconnects a socket that presented a token the hub refused (it connected with an expired
 * one): refreshes the session, then opens the socket again with the new token.
 */
function renewSocket(socket: Socket, timeoutMs: number): Promise<void> {
  let renewal = renewing.get(socket);
  if (!renewal) {
    renewal = (async () => {
      await session.refresh();
      const connected = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      socket.disconnect().connect();
      await connected;
    })().finally(() => renewing.delete(socket));
    renewing.set(socket, renewal);
  }
  return renewal;
}

/**
 * Sends a Socket.IO request and resolves the `state` of its acknowledgement. A connection
 * whose token was refused is refreshed, reconnected and asked once more.
 */
export async function request<T>(socket: Socket, event: string, payload: unknown, timeoutMs = 10_000): Promise<T> {
  try {
    return await emitOnce<T>(socket, event, payload, timeoutMs);
  } catch (err) {
    if (!(err instanceof ApiError) || !AUTH_CODES.has(err.code) || !session.tokens) throw err;
    await renewSocket(socket, timeoutMs);
    return emitOnce<T>(socket, event, payload, timeoutMs);
  }
}

// Another person, sign-in or team (not a refreshed token): reconnect everything so the hub
// sees who is asking now; signed out, close everything.
session.onChange(() => {
  const now = identity();
  if (now === connectedAs) {
    // A refreshed token: only connections that presented an expired one need to open again.
    if (!session.tokens || expiredWhenSent(session.tokens)) return;
    for (const socket of sockets.values()) if (stale.delete(socket) && socket.active) socket.disconnect().connect();
    if (stale.delete('graphql')) restartWs();
    return;
  }
  connectedAs = now;
  for (const [namespace, socket] of sockets) {
    if (!now) {
      socket.disconnect();
      connection.forget(`socket${namespace}`);
    } else socket.disconnect().connect();
  }
  if (!now) {
    void wsClient?.dispose();
    wsClient = null;
    wsToken = null;
    connection.forget('graphql');
  } else restartWs();
});
