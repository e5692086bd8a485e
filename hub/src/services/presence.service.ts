/**
 * Presence in live sessions: who has a document (or the team's match review) open, in which
 * colour, and what they are looking at (page, cursor, selection, the match in front of them).
 *
 * Each hub holds the entries of its own connections and learns the others' from the bus, so
 * every hub can answer "who is here" without a shared Socket.IO adapter. A hub repeats its
 * entries every `refreshMs`; entries of another hub that were not repeated for `ttlMs` are
 * dropped (that hub died). A connection that closes leaves at once.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ValidationError } from '@quire/kernel';
import type { LiveEvents } from './live-events.ts';

/** Colours people are shown in: distinct, readable on white and on dark backgrounds. */
export const PRESENCE_COLOURS = [
  '#e6194b',
  '#3cb44b',
  '#4363d8',
  '#f58231',
  '#911eb4',
  '#42d4f4',
  '#f032e6',
  '#469990',
  '#9a6324',
  '#800000',
  '#808000',
  '#000075',
] as const;

/** The same person has the same colour everywhere. */
export function colourFor(who: string): string {
  const n = createHash('sha256').update(who).digest().readUInt32BE(0);
  return PRESENCE_COLOURS[n % PRESENCE_COLOURS.length]!;
}

/** What a client may say about where it is looking; everything is optional. */
export const presenceStateSchema = z.object({
  page: z.number().int().positive().nullable().optional(),
  /** Pointer position on the page, in page pixels. */
  cursor: z.object({ x: z.number(), y: z.number() }).nullable().optional(),
  /** The current selection: a text range of a chunk, or a box on a page. */
  selection: z
    .union([
      z.object({
        kind: z.literal('highlight'),
        chunkOrdinal: z.number().int().nonnegative(),
        start: z.number().int(),
        end: z.number().int(),
      }),
      z.object({
        kind: z.literal('box'),
        page: z.number().int().positive(),
        box: z.object({ x: z.number(), y: z.number(), w: z.number(), h: z.number() }),
      }),
    ])
    .nullable()
    .optional(),
  /** In the match review: the match being looked at. */
  matchId: z.string().min(1).max(100).nullable().optional(),
});
export type PresenceState = z.infer<typeof presenceStateSchema>;

/** One connection in one session. */
export interface PresenceEntry {
  /** The connection (a Socket.IO socket id): one person may be here from several tabs. */
  connectionId: string;
  teamId: string;
  /** `document:<id>` or `review`. */
  session: string;
  userId: string | null;
  name: string;
  colour: string;
  page: number | null;
  cursor: { x: number; y: number } | null;
  selection: PresenceState['selection'] | null;
  matchId: string | null;
  /** When the entry last changed or was repeated, epoch ms. */
  at: number;
}

export type PresenceChange = { action: 'update' | 'leave'; entry: PresenceEntry };

export const documentSession = (documentId: string) => `document:${documentId}`;
export const REVIEW_SESSION = 'review';

interface Held {
  entry: PresenceEntry;
  hubId: string;
}

export class PresenceService {
  private readonly entries = new Map<string, Held>();
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  private stopListening: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: {
      events: LiveEvents;
      /** This hub's id, unique among the hubs sharing a bus. */
      hubId: string;
      logger: Logger;
      refreshMs?: number;
      ttlMs?: number;
    },
  ) {}

  private get refreshMs(): number {
    return this.deps.refreshMs ?? 10_000;
  }

  private get ttlMs(): number {
    return this.deps.ttlMs ?? 3 * this.refreshMs;
  }

  start(): void {
    this.stopListening = this.deps.events.listen((e) => {
      if (e.kind === 'presence') this.receive(e.event.hubId, e.event.action, e.event.entries as unknown as PresenceEntry[]);
    });
    this.timer = setInterval(() => this.tick(), this.refreshMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.stopListening?.();
    // Tell the other hubs at once rather than letting our entries expire.
    const mine = [...this.entries.values()].filter((h) => h.hubId === this.deps.hubId).map((h) => h.entry);
    await this.publish('leave', mine).catch(() => {});
    this.entries.clear();
  }

  /** Calls `listener` for every arrival, move and departure until the returned function is called. */
  onChange(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Everyone in a team's session, first arrived first. */
  list(teamId: string, session: string): PresenceEntry[] {
    return [...this.entries.values()]
      .map((h) => h.entry)
      .filter((e) => e.teamId === teamId && e.session === session)
      .sort((a, b) => a.connectionId.localeCompare(b.connectionId));
  }

  /** Enters or moves a connection of this hub in a session. */
  async update(base: Omit<PresenceEntry, 'at' | 'page' | 'cursor' | 'selection' | 'matchId'>, raw: unknown): Promise<PresenceEntry> {
    const parsed = presenceStateSchema.safeParse(raw ?? {});
    if (!parsed.success) throw new ValidationError(`Invalid presence: ${parsed.error.issues[0]!.message}`, { code: 'BAD_PRESENCE' });
    const key = keyOf(base);
    const previous = this.entries.get(key)?.entry;
    const state = parsed.data;
    const pick = <K extends keyof PresenceState>(k: K) => (state[k] === undefined ? (previous?.[k] ?? null) : state[k]);
    const entry: PresenceEntry = {
      ...base,
      page: pick('page') as number | null,
      cursor: pick('cursor') as PresenceEntry['cursor'],
      selection: pick('selection') as PresenceEntry['selection'],
      matchId: pick('matchId') as string | null,
      at: Date.now(),
    };
    // Held at once, so that this hub answers with it even before the bus echoes it.
    this.entries.set(key, { entry, hubId: this.deps.hubId });
    await this.publish('update', [entry]);
    return entry;
  }

  /** Takes a connection of this hub out of one session, or (without `session`) out of all. */
  async leave(connectionId: string, session?: string): Promise<void> {
    const gone = [...this.entries.values()]
      .filter((h) => h.hubId === this.deps.hubId && h.entry.connectionId === connectionId && (!session || h.entry.session === session))
      .map((h) => h.entry);
    if (gone.length === 0) return;
    // Taken out here first: if the bus fails, this hub must not keep repeating the entry.
    this.receive(this.deps.hubId, 'leave', gone);
    await this.publish('leave', gone);
  }

  private async publish(action: 'update' | 'leave' | 'refresh', entries: PresenceEntry[]): Promise<void> {
    const byTeam = new Map<string, PresenceEntry[]>();
    for (const e of entries) byTeam.set(e.teamId, [...(byTeam.get(e.teamId) ?? []), e]);
    for (const [teamId, list] of byTeam) {
      await this.deps.events.presenceChanged({
        teamId,
        hubId: this.deps.hubId,
        action,
        entries: list as unknown as Record<string, unknown>[],
        at: Date.now(),
      });
    }
  }

  private receive(hubId: string, action: 'update' | 'leave' | 'refresh', entries: PresenceEntry[]): void {
    for (const entry of entries) {
      const key = keyOf(entry);
      const held = this.entries.get(key);
      if (action === 'leave') {
        if (!held) continue;
        this.entries.delete(key);
        this.emit({ action: 'leave', entry: held.entry });
        continue;
      }
      // A refresh only keeps an entry alive; it must not bring back one that left.
      if (action === 'refresh' && !held && hubId === this.deps.hubId) continue;
      this.entries.set(key, { entry: { ...entry, at: Date.now() }, hubId });
      if (action === 'update' || !held) this.emit({ action: 'update', entry });
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const [key, held] of this.entries) {
      if (held.hubId !== this.deps.hubId && now - held.entry.at > this.ttlMs) {
        this.entries.delete(key);
        this.emit({ action: 'leave', entry: held.entry });
      }
    }
    const mine = [...this.entries.values()].filter((h) => h.hubId === this.deps.hubId).map((h) => h.entry);
    if (mine.length > 0) this.publish('refresh', mine).catch((err: unknown) => this.deps.logger.warn({ err }, 'presence refresh failed'));
  }

  private emit(change: PresenceChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.deps.logger.warn({ err }, 'presence listener failed');
      }
    }
  }
}

function keyOf(e: { teamId: string; session: string; connectionId: string }): string {
  return `${e.teamId}\u0000${e.session}\u0000${e.connectionId}`;
}
