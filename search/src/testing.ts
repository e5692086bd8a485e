/**
 * The SearchIndex contract suite, for adapters to run in their tests. It imports `node:test`,
 * so it is an entry of its own and never loaded by a running hub.
 */
export { defineSearchIndexContract, type SearchIndexFixture } from './contract.ts';
