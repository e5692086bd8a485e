/** The retrieval evaluation harness: BEIR loading and the standard ranking metrics. */
export * from './beir.ts';
export * from './metrics.ts';
