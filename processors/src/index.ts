/** Public entry of @quire/processors: protocol, ports and the processor node's building blocks. */
export * from './errors.ts';
export * from './protocol.ts';
export type * from './bus/bus.ts';
export type * from './engines/embedder.ts';
