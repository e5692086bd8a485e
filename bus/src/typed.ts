/**
 * Typed helpers over the Bus port: enqueue, consume, publish and subscribe with the payload
 * schemas of the subjects in `@quire/kernel`, validated at both ends.
 */
import { ValidationError } from '@quire/kernel';
import type { EventDefinition, QueueDefinition, SystemEventDefinition } from '@quire/kernel';
import type { z } from 'zod';
import type { Bus, ConsumeOptions, EventEnvelope, JobEnvelope, JobHandler, Subscription } from './bus.ts';

/**
 * Enqueues a job after validating its payload against the queue's schema. The job id is
 * the idempotency key.
 */
export async function enqueueJob<P>(
  bus: Bus,
  queue: QueueDefinition<P>,
  job: { id: string; payload: P; correlationId: string },
): Promise<void> {
  const envelope: JobEnvelope<P> = {
    id: job.id,
    queue: queue.name,
    payload: parseOrThrow(queue.schema, queue.name, job.payload),
    correlationId: job.correlationId,
    enqueuedAt: Date.now(),
  };
  await bus.enqueue(envelope);
}

/**
 * Consumes a queue with payloads validated at the boundary: a job whose payload does not
 * match the schema fails non-retryably with code `INVALID_PAYLOAD` (it cannot get better
 * by retrying) and is dead-lettered.
 */
export function consumeQueue<P>(
  bus: Bus,
  queue: QueueDefinition<P>,
  handler: JobHandler<P>,
  options?: ConsumeOptions,
): Promise<Subscription> {
  return bus.consume<unknown>(
    queue.name,
    async (delivery) => {
      const parsed = queue.schema.safeParse(delivery.envelope.payload);
      if (!parsed.success) {
        return { status: 'failed', code: 'INVALID_PAYLOAD', message: parsed.error.message, retryable: false };
      }
      const envelope: JobEnvelope<P> = { ...delivery.envelope, payload: parsed.data };
      return handler({
        envelope,
        attempt: delivery.attempt,
        signal: delivery.signal,
        heartbeat: () => delivery.heartbeat(),
      });
    },
    options,
  );
}

/** Publishes a team event after validating its payload. */
export async function publishEvent<P>(
  bus: Bus,
  event: EventDefinition<P>,
  teamId: string,
  payload: P,
  correlationId?: string,
): Promise<void> {
  await bus.publish(event.subject(teamId), parseOrThrow(event.schema, event.name, payload), correlationId);
}

/**
 * Subscribes to one team's events of a kind, or every team's without `teamId`. Events whose
 * payload does not match the schema are passed to `onInvalid` (default: dropped), never to
 * `handler`.
 */
export function subscribeEvent<P>(
  bus: Bus,
  event: EventDefinition<P>,
  handler: (payload: P, event: EventEnvelope<P>) => void,
  options: { teamId?: string; onInvalid?: (event: EventEnvelope<unknown>, error: z.ZodError) => void } = {},
): Promise<Subscription> {
  return subscribeParsed(bus, event.pattern(options.teamId), event.schema, handler, options.onInvalid);
}

/** Publishes an event that belongs to no team (a {@link SystemEventDefinition}) after validating its payload. */
export async function publishSystemEvent<P>(bus: Bus, event: SystemEventDefinition<P>, payload: P): Promise<void> {
  await bus.publish(event.subject, parseOrThrow(event.schema, event.subject, payload));
}

/**
 * Subscribes to an event that belongs to no team. Payloads that do not match the schema go to
 * `onInvalid` (default: dropped), never to `handler`.
 */
export function subscribeSystemEvent<P>(
  bus: Bus,
  event: SystemEventDefinition<P>,
  handler: (payload: P, event: EventEnvelope<P>) => void,
  options: { onInvalid?: (event: EventEnvelope<unknown>, error: z.ZodError) => void } = {},
): Promise<Subscription> {
  return subscribeParsed(bus, event.subject, event.schema, handler, options.onInvalid);
}

/**
 * The payload parsed by `schema`.
 * @throws ValidationError with code `INVALID_PAYLOAD` when it does not match; `label` names it.
 */
function parseOrThrow<P>(schema: z.ZodType<P>, label: string, payload: unknown): P {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) {
    throw new ValidationError(`invalid ${label} payload: ${parsed.error.message}`, { code: 'INVALID_PAYLOAD' });
  }
  return parsed.data;
}

/** Subscribes to `pattern`, passing payloads that match `schema` to `handler` and the rest to `onInvalid`. */
function subscribeParsed<P>(
  bus: Bus,
  pattern: string,
  schema: z.ZodType<P>,
  handler: (payload: P, event: EventEnvelope<P>) => void,
  onInvalid?: (event: EventEnvelope<unknown>, error: z.ZodError) => void,
): Promise<Subscription> {
  return bus.subscribe<unknown>(pattern, (raw) => {
    const parsed = schema.safeParse(raw.payload);
    if (parsed.success) handler(parsed.data, { ...raw, payload: parsed.data });
    else onInvalid?.(raw, parsed.error);
  });
}
