/**
 * Public entry of @quire/graphql: the schema SDL (the public contract) and the TypeScript
 * types generated from it (`npm run codegen`). It depends on nothing else of Quire's.
 */
import { readdirSync, readFileSync } from 'node:fs';

const schemaDir = new URL('../schema/', import.meta.url);

/** The SDL of every `schema/*.graphql` file, in name order. */
export const typeDefs: string = readdirSync(schemaDir)
  .filter((f) => f.endsWith('.graphql'))
  .sort()
  .map((f) => readFileSync(new URL(f, schemaDir), 'utf8'))
  .join('\n');

export type * from './generated/types.ts';
export type * from './generated/types.ts';
