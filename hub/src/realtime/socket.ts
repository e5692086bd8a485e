/**
 * Socket.IO: clients join rooms per team and per document and receive live progress and
 * document events. Every replica receives every event from the bus and emits it to its own
 * sockets only (`io.local`), so no Socket.IO adapter is needed for fan-out across replicas.
 *
 * Client → server: `subscribe` / `unsubscribe` with `{ team: true }` or `{ documentId }`,
 * answered by an acknowledgement `{ ok: true, state }` or `{ ok: false, error: { code, message } }`.
 * The handshake's `auth` (`{ token, team }`) names the caller; every `subscribe` asks the
 * policy (`socket.io subscribe`) for the team it may watch, so a document of another team is
 * refused exactly like one that does not exist. Before each event reaches a room, every socket
 * in it is checked again (`currentTeamScopeFor`); one that lost access leaves the team's
 * rooms and receives `access:ended` with the refusal, and one whose session ended is
 * disconnected.
 * Server → client: `job:progress` (ProgressEvent), `document:changed` (DocumentEvent) and
 * `access:ended` ({ code, message }).
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type DefaultEventsMap, type RemoteSocket, type Socket } from 'socket.io';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AppError, AuthenticationError, NotFoundError, ValidationError } from '@quire/processors';
import { principalKey } from '../auth/policy.ts';
import { currentTeamScopeFor, type RequestAuth } from '../auth/request-auth.ts';
import type { AuthService } from '../services/auth.service.ts';
import type { DocumentService } from '../services/document.service.ts';
import type { LiveEvent, LiveEvents } from '../services/live-events.ts';

const roomRequest = z.union([z.object({ team: z.literal(true) }), z.object({ documentId: z.string().min(1).max(100) })]);

type Ack = (response: { ok: true; state?: unknown } | { ok: false; error: { code: string; message: string } }) => void;

const teamRoom = (teamId: string) => `team:${teamId}`;
const documentRoom = (teamId: string, documentId: string) => `doc:${teamId}:${documentId}`;

export function startSocketServer(deps: {
  httpServer: HttpServer;
  events: LiveEvents;
  documents: DocumentService;
  accounts: AuthService;
  /** Largest message a client may send, bytes. */
  maxMessageBytes: number;
  /** The caller of a connection, from the handshake's `auth` (`{ token, team }`). */
  authForHandshake: (auth: Record<string, unknown>, address: string) => Promise<RequestAuth>;
  logger: Logger;
}): { io: Server; close(): Promise<void> } {
  const { logger } = deps;
  const io = new Server(deps.httpServer, { serveClient: false, cors: { origin: true }, maxHttpBufferSize: deps.maxMessageBytes });

  io.use((socket, next) => {
    const handshake = (socket.handshake.auth ?? {}) as Record<string, unknown>;
    // A connection without a (valid) token is let in; its joins answer the refusal.
    deps
      .authForHandshake(handshake, socket.handshake.address)
      .then((auth) => {
        socket.data.auth = auth;
        next();
      })
      .catch((err: Error) => next(err));
  });

  io.on('connection', (socket: Socket) => {
    const auth = socket.data.auth as RequestAuth;
    socket.on('subscribe', (raw: unknown, ack?: Ack) =>
      answer(ack, async () => {
        const req = parse(raw);
        // A connection may outlive its caller's access: joins read it as it is now.
        const scope = await currentTeamScopeFor(auth, 'socket.io subscribe', deps.accounts);
        if ('team' in req) {
          await socket.join(teamRoom(scope.teamId));
          return undefined;
        }
        const doc = await deps.documents.get(scope, req.documentId);
        if (!doc) throw new NotFoundError(`Document ${req.documentId} not found`);
        await socket.join(documentRoom(scope.teamId, doc.id));
        // A late subscriber first receives the current state.
        const job = await deps.documents.job(scope, doc.jobId);
        return { document: { id: doc.id, status: doc.status, jobId: doc.jobId, error: doc.error }, job };
      }),
    );
    socket.on('unsubscribe', (raw: unknown, ack?: Ack) =>
      answer(ack, async () => {
        const req = parse(raw);
        // Leaving needs no check: a socket is only ever in rooms of the team it was granted.
        if (auth.teamId) await socket.leave('team' in req ? teamRoom(auth.teamId) : documentRoom(auth.teamId, req.documentId));
        return undefined;
      }),
    );
  });

  // Events are delivered one after the other, in the order they arrive.
  let delivering: Promise<void> = Promise.resolve();
  const stop = deps.events.listen((e) => {
    delivering = delivering.then(() => deliver(e)).catch((err: unknown) => logger.error({ err }, 'socket delivery failed'));
  });

  async function deliver(e: LiveEvent): Promise<void> {
    const { teamId, documentId } = e.event;
    const rooms = [teamRoom(teamId), documentRoom(teamId, documentId)];
    const sockets = await io.local.in(rooms).fetchSockets();
    // Sockets of one caller (a session or a key) share one check.
    const checks = new Map<string, Promise<unknown>>();
    await Promise.all(
      sockets.map(async (socket) => {
        const auth = socket.data.auth as RequestAuth;
        const key = callerKey(auth);
        let check = checks.get(key);
        if (!check) {
          check = currentTeamScopeFor(auth, 'socket.io subscribe', deps.accounts).then(
            () => null,
            (err: unknown) => err,
          );
          checks.set(key, check);
        }
        const refusal = await check;
        if (refusal) await endAccess(socket, teamId, refusal);
      }),
    );
    const name = e.kind === 'progress' ? 'job:progress' : 'document:changed';
    io.local.to(rooms).emit(name, e.event);
  }

  /** Takes a socket that lost access out of the team's rooms and tells it why. */
  async function endAccess(socket: RemoteSocket<DefaultEventsMap, unknown>, teamId: string, err: unknown): Promise<void> {
    if (!(err instanceof AppError)) throw err;
    for (const room of [...socket.rooms]) if (room === teamRoom(teamId) || room.startsWith(`doc:${teamId}:`)) socket.leave(room);
    socket.emit('access:ended', { code: err.code, message: err.message });
    if (err instanceof AuthenticationError) socket.disconnect(true);
  }

  async function answer(ack: Ack | undefined, work: () => Promise<unknown>): Promise<void> {
    try {
      const state = await work();
      ack?.({ ok: true, state });
    } catch (err) {
      if (!(err instanceof AppError)) logger.error({ err }, 'socket request failed');
      const public_ = err instanceof AppError && err.expose;
      ack?.({
        ok: false,
        error: public_ ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'Internal server error' },
      });
    }
  }

  return {
    io,
    async close() {
      stop();
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
}

/** Who a connection acts as, in which team: connections with the same key have the same access. */
function callerKey(auth: RequestAuth): string {
  const who = auth.principal ? principalKey(auth.principal) : `anonymous:${auth.error?.code ?? ''}`;
  return `${who}@${auth.teamId ?? ''}`;
}

function parse(raw: unknown): z.infer<typeof roomRequest> {
  const r = roomRequest.safeParse(raw);
  if (!r.success) throw new ValidationError('Expected { team: true } or { documentId }', { code: 'BAD_REQUEST' });
  return r.data;
}
