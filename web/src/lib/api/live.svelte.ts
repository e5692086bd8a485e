/**
 * Live connections: GraphQL subscriptions over graphql-ws (dashboards, match and annotation
 * feeds) and the hub's two Socket.IO namespaces (`/` for document progress, `/collab` for
 * live sessions). Each is opened on first use with the session's token and team, follows
 * token refreshes and team switches by reconnecting, and reports its state to
 * {@link connection} so the layout can show a banner while the hub is unreachable.
 */
import { createClient, type Client } from 'graphql-ws';
import { io, type Socket } from 'socket.io-client';
import { ApiError, AUTH_CODES } from './errors.ts';
import { session } from './session.svelte.ts';

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
    const next = new Set(this.#down);
    next.delete(name);
    this.#down = next;
    this.restored += 1;
  }
}

export const connection = new Connection();

let wsClient: Client | null = null;

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
    connectionParams: async () => ({
      authorization: session.tokens ? `Bearer ${session.tokens.accessToken}` : undefined,
      team: session.teamId ?? undefined,
    }),
    on: {
      connected: () => connection.markUp('graphql'),
      closed: (event) => {
        // A close the client asked for (no subscriptions left) is not a lost connection.
        if ((event as CloseEvent | undefined)?.code !== 1000) connection.markDown('graphql');
      },
    },
  });
  return wsClient;
}

/**
 * Subscribes to a GraphQL subscription; `next` gets each value's `data`. Errors the hub
 * answers (a refusal, say) go to `error`. Returns the unsubscribe function.
 */
export function subscribe<T>(
  query: string,
  variables: Record<string, unknown>,
  next: (data: T) => void,
  error: (err: ApiError) => void = () => undefined,
): () => void {
  return graphqlWs().subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        const first = value.errors?.[0];
        if (first) error(new ApiError(String(first.extensions?.code ?? 'INTERNAL'), first.message));
        else if (value.data) next(value.data as T);
      },
      error: (err) => {
        const first = Array.isArray(err) ? err[0] : null;
        error(new ApiError(String(first?.extensions?.code ?? 'NETWORK'), first?.message ?? 'Subscription failed'));
      },
      complete: () => undefined,
    },
  );
}

const sockets = new Map<string, Socket>();

/** The Socket.IO connection of a namespace (`/` or `/collab`), connected with the session. */
export function socketFor(namespace: '/' | '/collab'): Socket {
  let socket = sockets.get(namespace);
  if (socket) return socket;
  socket = io(namespace, {
    transports: ['websocket'],
    auth: (cb) => cb({ token: session.tokens?.accessToken, team: session.teamId }),
  });
  const name = `socket${namespace}`;
  socket.on('connect', () => connection.markUp(name));
  socket.on('disconnect', (reason) => {
    if (reason !== 'io client disconnect') connection.markDown(name);
  });
  socket.on('connect_error', () => connection.markDown(name));
  sockets.set(namespace, socket);
  return socket;
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

/**
 * Sends a Socket.IO request and resolves the `state` of its acknowledgement. A connection
 * whose token expired is refreshed, reconnected and asked once more.
 */
export async function request<T>(socket: Socket, event: string, payload: unknown, timeoutMs = 10_000): Promise<T> {
  try {
    return await emitOnce<T>(socket, event, payload, timeoutMs);
  } catch (err) {
    if (!(err instanceof ApiError) || !AUTH_CODES.has(err.code) || !session.tokens) throw err;
    const reconnected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await session.refresh();
    await reconnected;
    return emitOnce<T>(socket, event, payload, timeoutMs);
  }
}

// A new token or team: reconnect everything so the hub sees who is asking now.
session.onChange(() => {
  for (const socket of sockets.values()) {
    if (!session.tokens) socket.disconnect();
    else if (socket.connected || socket.active) {
      socket.disconnect().connect();
    }
  }
  wsClient?.terminate();
  if (!session.tokens) {
    void wsClient?.dispose();
    wsClient = null;
  }
});
