/**
 * Public entry of @quire/bus: the Bus port (jobs, events, and an object store with a bounded
 * lifetime for document originals), its in-process (`MemoryBus`) and NATS JetStream
 * (`NatsBus`) adapters, and typed helpers that validate payloads against the subjects of
 * `@quire/kernel`. `NatsBus` loads the `nats` client only when it starts, so a process on the
 * in-process bus never loads it. Contract suites are in `@quire/bus/testing`.
 */
export type * from './bus.ts';
export { DEFAULT_OBJECT_TTL_MS, MAX_EVENT_BYTES, MAX_JOB_BYTES } from './bus.ts';
export { BusClosingError, BusUnavailableError, LeaseLostError } from './wire.ts';
export { InMemoryJobStorage, MemoryBus } from './bus.memory.ts';
export type { MemoryBusOptions, StoredDeadLetter } from './bus.memory.ts';
export { NatsBus, NatsHeaders, deleteNatsBusStreams } from './bus.nats.ts';
export type { NatsBusOptions } from './bus.nats.ts';
export { consumeQueue, enqueueJob, publishEvent, publishSystemEvent, subscribeEvent, subscribeSystemEvent } from './typed.ts';
