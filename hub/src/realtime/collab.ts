/**
 * The `/collab` Socket.IO namespace: live sessions on documents and the team's match review.
 *
 * Client → server (each answered by an acknowledgement `{ ok: true, state }` or
 * `{ ok: false, error: { code, message, details? } }`):
 * - `join` `{ documentId, since? }`: enters the document's session. The answer holds who is
 *   here (`presence`), the caller's own entry (`you`) and what the client missed (`catchUp`):
 *   the operations after `since` in order, or the current annotations when `since` is absent
 *   or too far behind. The socket joins the room before the log is read, so an operation is
 *   either in `catchUp` or arrives live (possibly both: clients skip sequence numbers they
 *   have); a gap in the numbers is closed with `sync`.
 * - `sync` `{ documentId, since }`: the same catch-up, without joining.
 * - `leave` `{ documentId }`.
 * - `op` `{ documentId, op }`: an annotation operation (see AnnotationService); the answer
 *   is the accepted operation, or `CONFLICT` with `details.current`.
 * - `presence` `{ documentId } | { review: true }` with `page`, `cursor`, `selection`,
 *   `matchId`: where the caller is looking, in a session it joined.
 * - `review:join` / `review:leave`: the team's match review session.
 *
 * Server → client: `annotation` (an accepted operation with its `seq`), `presence`
 * (`{ session, action: 'update' | 'leave', entry }`), `match` (a match proposed or
 * resolved, to the review session) and `access:ended`.
 *
 * A connection without a valid token or API key is refused at the handshake, as on the
 * default namespace. Every request asks the policy as the caller's access is now; before each event reaches a
 * room, the access of every caller in it is read again, as on the default namespace.
 */
import type { Namespace, Server, Socket } from 'socket.io';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ValidationError } from '@quire/kernel';
import type { EntryPoint } from '../auth/policy.ts';
import { currentTeamScopeFor, type RequestAuth } from '../auth/request-auth.ts';
import type { AnnotationService } from '../services/annotation.service.ts';
import type { AuthService } from '../services/auth.service.ts';
import type { LiveEvent, LiveEvents } from '../services/live-events.ts';
import { REVIEW_SESSION, colourFor, documentSession, type PresenceChange, type PresenceService } from '../services/presence.service.ts';
import { ackOf, answer, authenticate, inOrder, recheckRooms, type SocketAuth } from './socket-access.ts';

const documentId = z.string().min(1).max(100);
const joinRequest = z.object({ documentId, since: z.number().int().nonnegative().nullable().optional() });
const syncRequest = z.object({ documentId, since: z.number().int().nonnegative() });
const leaveRequest = z.object({ documentId });
const opRequest = z.object({ documentId, op: z.unknown() });
const presenceRequest = z.union([z.object({ documentId }).passthrough(), z.object({ review: z.literal(true) }).passthrough()]);

/** Every collaboration room of a team starts with this. */
const teamPrefix = (teamId: string) => `collab:${teamId}:`;
const sessionRoom = (teamId: string, session: string) => `${teamPrefix(teamId)}${session}`;

/** Presence moves a client may send per second; more are dropped (the next one carries the state). */
const PRESENCE_PER_SECOND = 20;

export function attachCollab(
  io: Server,
  deps: {
    events: LiveEvents;
    annotations: AnnotationService;
    presence: PresenceService;
    accounts: AuthService;
    authForHandshake: (auth: Record<string, unknown>, address: string) => Promise<RequestAuth>;
    logger: Logger;
  },
): { close(): void } {
  const { logger, accounts } = deps;
  const nsp: Namespace = io.of('/collab');
  authenticate(nsp, deps.authForHandshake, logger);
  const scopeFor = (auth: RequestAuth, entry: EntryPoint) => currentTeamScopeFor(auth, entry, accounts);

  nsp.on('connection', (socket: Socket) => {
    const auth = socket.data.auth as SocketAuth;
    let presenceWindow = { start: 0, count: 0 };

    const who = async () => {
      const principal = auth.principal;
      if (principal.kind === 'user') {
        const user = await accounts.getUser(principal.userId);
        return { userId: principal.userId, name: user?.email ?? 'someone', colour: colourFor(principal.userId) };
      }
      return { userId: null, name: 'API key', colour: colourFor(principal.apiKeyId) };
    };

    /** Enters a session (room and presence) and answers who is there. */
    const enter = async (teamId: string, session: string) => {
      const person = await who();
      // A connection that closed meanwhile must not be entered: nothing would take it out.
      if (socket.disconnected) throw new ValidationError('The connection closed', { code: 'DISCONNECTED' });
      await socket.join(sessionRoom(teamId, session));
      const you = await deps.presence.update({ connectionId: socket.id, teamId, session, ...person }, {});
      return { you, presence: deps.presence.list(teamId, session) };
    };

    /** Leaves a session (room and presence). Needs no check: a socket is only ever in rooms of the team it was granted. */
    const exit = async (session: string) => {
      if (!auth.teamId) return;
      await socket.leave(sessionRoom(auth.teamId, session));
      await deps.presence.leave(socket.id, session);
    };

    socket.on('join', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
        const req = parse(joinRequest, raw, '{ documentId, since? }');
        const scope = await scopeFor(auth, 'socket.io join');
        // Checks the document before anything is joined: another team's id is simply not found.
        await deps.annotations.mustGetDocument(scope, req.documentId);
        const entered = await enter(scope.teamId, documentSession(req.documentId));
        const catchUp = await deps.annotations.since(scope, req.documentId, req.since ?? null);
        return { ...entered, catchUp };
      }),
    );

    socket.on('sync', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
        const req = parse(syncRequest, raw, '{ documentId, since }');
        const scope = await scopeFor(auth, 'socket.io join');
        return { catchUp: await deps.annotations.since(scope, req.documentId, req.since) };
      }),
    );

    socket.on('leave', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
        await exit(documentSession(parse(leaveRequest, raw, '{ documentId }').documentId));
        return undefined;
      }),
    );

    socket.on('op', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
        const req = parse(opRequest, raw, '{ documentId, op }');
        const scope = await scopeFor(auth, 'socket.io op');
        return deps.annotations.apply(scope, req.documentId, req.op);
      }),
    );

    socket.on('presence', (raw: unknown, ack?: unknown) =>
      answer(logger, ack, async () => {
        const req = parse(presenceRequest, raw, '{ documentId } or { review: true }, with page, cursor, selection or matchId');
        const now = Date.now();
        if (now - presenceWindow.start >= 1000) presenceWindow = { start: now, count: 0 };
        presenceWindow.count += 1;
        if (presenceWindow.count > PRESENCE_PER_SECOND) return { dropped: true };
        const session = 'documentId' in req ? documentSession(String(req.documentId)) : REVIEW_SESSION;
        if (!auth.teamId || !socket.rooms.has(sessionRoom(auth.teamId, session))) {
          throw new ValidationError('Join the session before telling where you are', { code: 'NOT_JOINED' });
        }
        const { documentId: _d, review: _r, ...state } = req as Record<string, unknown>;
        const person = await who();
        if (socket.disconnected) throw new ValidationError('The connection closed', { code: 'DISCONNECTED' });
        return deps.presence.update({ connectionId: socket.id, teamId: auth.teamId, session, ...person }, state);
      }),
    );

    // The review messages carry no payload: the callback may come first.
    socket.on('review:join', (...args: unknown[]) =>
      answer(logger, ackOf(args), async () => {
        const scope = await scopeFor(auth, 'socket.io review');
        return enter(scope.teamId, REVIEW_SESSION);
      }),
    );

    socket.on('review:leave', (...args: unknown[]) =>
      answer(logger, ackOf(args), async () => {
        await exit(REVIEW_SESSION);
        return undefined;
      }),
    );

    socket.on('disconnect', () => {
      deps.presence.leave(socket.id).catch((err: unknown) => logger.warn({ err }, 'presence not cleared'));
    });
  });

  const queue = inOrder(logger, 'collab delivery');
  const stopEvents = deps.events.listen((e) => {
    if (e.kind === 'annotation' || e.kind === 'match') queue(() => deliver(e));
  });
  const stopPresence = deps.presence.onChange((change) => queue(() => deliverPresence(change)));

  async function toRoom(teamId: string, session: string, entry: EntryPoint, name: string, payload: unknown): Promise<void> {
    const room = sessionRoom(teamId, session);
    await recheckRooms(nsp, [room], { entry, accounts, teamRoomPrefixes: [teamPrefix(teamId)] });
    nsp.local.to(room).emit(name, payload);
  }

  async function deliver(e: Extract<LiveEvent, { kind: 'annotation' | 'match' }>): Promise<void> {
    if (e.kind === 'annotation') await toRoom(e.event.teamId, documentSession(e.event.documentId), 'socket.io join', 'annotation', e.event);
    else await toRoom(e.event.teamId, REVIEW_SESSION, 'socket.io review', 'match', e.event);
  }

  async function deliverPresence(change: PresenceChange): Promise<void> {
    const { teamId, session } = change.entry;
    const entry: EntryPoint = session === REVIEW_SESSION ? 'socket.io review' : 'socket.io join';
    await toRoom(teamId, session, entry, 'presence', { session, ...change });
  }

  return {
    close() {
      stopEvents();
      stopPresence();
    },
  };
}

function parse<T>(schema: z.ZodType<T>, raw: unknown, expected: string): T {
  const r = schema.safeParse(raw);
  if (!r.success) throw new ValidationError(`Expected ${expected}`, { code: 'BAD_REQUEST' });
  return r.data;
}
