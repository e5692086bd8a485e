/**
 * Payloads of the collaboration events hubs publish to each other: accepted annotation
 * operations, presence in live sessions, and match changes. Only the envelope is checked
 * here; the hub that owns a record's shape builds and reads it.
 */
import { z } from 'zod';

/** An accepted annotation operation: its place in the document's log and the annotation after it. */
export const annotationEventSchema = z.object({
  teamId: z.string().min(1),
  documentId: z.string().min(1),
  seq: z.number().int().positive(),
  opId: z.string().min(1),
  actorId: z.string().nullable(),
  at: z.number(),
  op: z.record(z.string(), z.unknown()),
  annotation: z.record(z.string(), z.unknown()),
});
export type AnnotationEvent = z.infer<typeof annotationEventSchema>;

/**
 * A change of presence in a session (a document, or the team's match review): a connection
 * arrived or moved (`update`, with its entry), left (`leave`), or a hub repeats the entries
 * it holds (`refresh`) so that others can expire the entries of a hub that died.
 */
export const presenceEventSchema = z.object({
  teamId: z.string().min(1),
  hubId: z.string().min(1),
  action: z.enum(['update', 'leave', 'refresh']),
  entries: z.array(z.record(z.string(), z.unknown())),
  at: z.number(),
});
export type PresenceEvent = z.infer<typeof presenceEventSchema>;

/** A proposed match was created or resolved. */
export const matchEventSchema = z.object({
  teamId: z.string().min(1),
  matchId: z.string().min(1),
  action: z.enum(['proposed', 'resolved', 'removed']),
  match: z.record(z.string(), z.unknown()),
  at: z.number(),
});
export type MatchEvent = z.infer<typeof matchEventSchema>;
