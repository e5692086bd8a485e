/**
 * `@quire/processors/eval`: what the quality evaluations and load tests take from this
 * package: the OCR stage they measure, the text measures and the dataset readers. A separate
 * entry point so the main one stays what the hub runs in production.
 */
export { ocrImage, type OcrStageOptions } from '../stages/ocr.stage.ts';
export * from './ocr-metrics.ts';
export * from './sroie.ts';
export * from './classify-metrics.ts';
export * from './seeded-random.ts';
export * from './text-documents.ts';
