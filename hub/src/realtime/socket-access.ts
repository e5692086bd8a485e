/**
 * What every Socket.IO namespace of the hub shares: naming the caller from the handshake,
 * answering requests with `{ ok, state }` or `{ ok: false, error }`, and reading each
 * caller's access again before an event reaches its sockets.
 */
import type { DefaultEventsMap, Namespace, RemoteSocket } from 'socket.io';
import type { Logger } from 'pino';
import { AppError, AuthenticationError } from '@quire/kernel';
import type { EntryPoint, Principal } from '../auth/policy.ts';
import { principalKey } from '../auth/policy.ts';
import { currentTeamScopeFor, type RequestAuth } from '../auth/request-auth.ts';
import type { AuthService } from '../services/auth.service.ts';

export type Ack = (
  response: { ok: true; state?: unknown } | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> } },
) => void;

/** A connection's caller, as {@link authenticate} keeps it: always with a principal. */
export type SocketAuth = RequestAuth & { principal: Principal };

const hasPrincipal = (auth: RequestAuth): auth is SocketAuth => auth.principal !== null;

/**
 * Names each connection's caller from the handshake's `auth` (`{ token, team }`), and refuses
 * the connection of a caller without a valid token or API key: the client's `connect_error`
 * carries `data: { code, message }` (`UNAUTHENTICATED`, `TOKEN_EXPIRED`, …). Nothing in a
 * namespace is open to anonymous callers, so none is held open.
 */
export function authenticate(
  nsp: Namespace,
  authForHandshake: (auth: Record<string, unknown>, address: string) => Promise<RequestAuth>,
  logger: Logger,
): void {
  nsp.use((socket, next) => {
    const handshake = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    authForHandshake(handshake, socket.handshake.address)
      .then((auth) => {
        if (!hasPrincipal(auth)) {
          next(handshakeRefusal(auth.error ?? new AuthenticationError('Connect with auth: { token } (an access token or API key)')));
          return;
        }
        socket.data.auth = auth;
        next();
      })
      .catch((err: unknown) => {
        // A failing store: the client learns nothing of it but that the hub failed.
        logger.error({ err }, 'socket handshake failed');
        next(handshakeRefusal(new AppError('INTERNAL', 'Internal server error')));
      });
  });
}

/** A refused handshake as Socket.IO sends it: the message, and `data` with the code. */
function handshakeRefusal(err: AppError): Error & { data: { code: string; message: string } } {
  return Object.assign(new Error(err.message), { data: { code: err.code, message: err.message } });
}

/** The acknowledgement callback among a message's arguments: the last one, when it is a function. */
export function ackOf(args: unknown[]): Ack | undefined {
  const last = args.at(-1);
  return typeof last === 'function' ? (last as Ack) : undefined;
}

/**
 * Runs a request and acknowledges its result, or its error as code, message and details.
 * Never rejects: a client controls what it sends, including what stands where the callback
 * should.
 */
export async function answer(logger: Logger, ack: unknown, work: () => Promise<unknown>): Promise<void> {
  const reply = typeof ack === 'function' ? (ack as Ack) : undefined;
  let response: Parameters<Ack>[0];
  try {
    response = { ok: true, state: await work() };
  } catch (err) {
    if (!(err instanceof AppError)) logger.error({ err }, 'socket request failed');
    const public_ = err instanceof AppError && err.expose;
    response = {
      ok: false,
      error: public_
        ? { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) }
        : { code: 'INTERNAL', message: 'Internal server error' },
    };
  }
  try {
    reply?.(response);
  } catch (err) {
    logger.warn({ err }, 'socket acknowledgement failed');
  }
}

/**
 * Runs deliveries one after the other, in the order they are queued, so that a room sees
 * events in the order they arrived; a failed delivery is logged and the next one runs.
 */
export function inOrder(logger: Logger, what: string): (work: () => Promise<void>) => void {
  let delivering: Promise<void> = Promise.resolve();
  return (work) => {
    delivering = delivering.then(work).catch((err: unknown) => logger.error({ err }, `${what} failed`));
  };
}

/** Who a connection acts as, in which team: connections with the same key have the same access. */
function callerKey(auth: SocketAuth): string {
  return `${principalKey(auth.principal)}@${auth.teamId ?? ''}`;
}

/**
 * Reads the access of every caller with a socket in `rooms` as it is now (one check per
 * caller) and ends it for those who lost it: they leave the team's rooms (those starting
 * with one of `teamRoomPrefixes`), receive `access:ended`, and are disconnected when their
 * session ended. Call before emitting an event to the rooms.
 */
export async function recheckRooms(
  nsp: Namespace,
  rooms: string[],
  options: { entry: EntryPoint; accounts: AuthService; teamRoomPrefixes: string[] },
): Promise<void> {
  const sockets = await nsp.local.in(rooms).fetchSockets();
  const checks = new Map<string, Promise<unknown>>();
  await Promise.all(
    sockets.map(async (socket) => {
      const auth = socket.data.auth as SocketAuth;
      const key = callerKey(auth);
      let check = checks.get(key);
      if (!check) {
        check = currentTeamScopeFor(auth, options.entry, options.accounts).then(
          () => null,
          (err: unknown) => err,
        );
        checks.set(key, check);
      }
      const refusal = await check;
      if (refusal) endAccess(socket, options.teamRoomPrefixes, refusal);
    }),
  );
}

/** Takes a socket that lost access out of the team's rooms and tells it why. */
function endAccess(socket: RemoteSocket<DefaultEventsMap, unknown>, prefixes: string[], err: unknown): void {
  if (!(err instanceof AppError)) throw err;
  for (const room of [...socket.rooms]) if (prefixes.some((p) => room.startsWith(p))) socket.leave(room);
  socket.emit('access:ended', { code: err.code, message: err.message });
  if (err instanceof AuthenticationError) socket.disconnect(true);
}
