/**
 * Socket.IO: clients join rooms per team and per document and receive live progress and
 * document events. Every replica receives every event from the bus and emits it to its own
 * sockets only (`io.local`), so no Socket.IO adapter is needed for fan-out across replicas.
 *
 * Client → server: `subscribe` / `unsubscribe` with `{ team: true }` or `{ documentId }`,
 * answered by an acknowledgement `{ ok: true, state }` or `{ ok: false, error: { code, message } }`.
 * The handshake's `auth` (`{ token, team }`) names the caller, and a connection without a valid
 * token or API key is refused there (`connect_error` with `data: { code, message }`); every `subscribe` asks the
 * policy (`socket.io subscribe`) for the team it may watch, so a document of another team is
 * refused exactly like one that does not exist. Before each event reaches a room, every socket
 * in it is checked again (`currentTeamScopeFor`); one that lost access leaves the team's
 * rooms and receives `access:ended` with the refusal, and one whose session ended is
 * disconnected.
 * Server → client: `job:progress` (ProgressEvent), `document:changed` (DocumentEvent) and
 * `access:ended` ({ code, message }).
 */
import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import type { Logger } from 'pino';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '@quire/kernel';
import { currentTeamScopeFor, type RequestAuth } from '../auth/request-auth.ts';
import type { AuthService } from '../services/auth.service.ts';
import type { DocumentService } from '../services/document.service.ts';
import type { LiveEvent, LiveEvents } from '../services/live-events.ts';
import { answer, authenticate, inOrder, recheckRooms } from './socket-access.ts';

const roomRequest = z.union([z.object({ team: z.literal(true) }), z.object({ documentId: z.string().min(1).max(100) })]);

// Every room name ends with ':' so that one team's prefix never matches another team's rooms.
const teamRoom = (teamId: string) => `team:${teamId}:`;
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
  authenticate(io.of('/'), deps.authForHandshake, logger);

  io.on('connection', (socket: Socket) => {
    const auth = socket.data.auth as RequestAuth;
    socket.on('subscribe', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
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
    socket.on('unsubscribe', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
        const req = parse(raw);
        // Leaving needs no check: a socket is only ever in rooms of the team it was granted.
        if (auth.teamId) await socket.leave('team' in req ? teamRoom(auth.teamId) : documentRoom(auth.teamId, req.documentId));
        return undefined;
      }),
    );
  });

  const queue = inOrder(logger, 'socket delivery');
  const stop = deps.events.listen((e) => {
    // Collaboration events go to the `/collab` namespace.
    if (e.kind === 'progress' || e.kind === 'document') queue(() => deliver(e));
  });

  async function deliver(e: Extract<LiveEvent, { kind: 'progress' | 'document' }>): Promise<void> {
    const { teamId, documentId } = e.event;
    const rooms = [teamRoom(teamId), documentRoom(teamId, documentId)];
    await recheckRooms(io.of('/'), rooms, {
      entry: 'socket.io subscribe',
      accounts: deps.accounts,
      teamRoomPrefixes: [teamRoom(teamId), `doc:${teamId}:`],
    });
    const name = e.kind === 'progress' ? 'job:progress' : 'document:changed';
    io.local.to(rooms).emit(name, e.event);
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

function parse(raw: unknown): z.infer<typeof roomRequest> {
  const r = roomRequest.safeParse(raw);
  if (!r.success) throw new ValidationError('Expected { team: true } or { documentId }', { code: 'BAD_REQUEST' });
  return r.data;
}
