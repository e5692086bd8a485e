/**
 * `quire eval <search|ocr|classify> …`: quality evaluations on public datasets, through the
 * product's own code paths. Each prints readable tables and ends with one JSON line holding
 * every figure (see report.ts).
 */
import type { Logger } from 'pino';
import { AppError } from '@quire/kernel';
import type { Config } from '../config.ts';

export interface EvalContext {
  config: Config;
  logger: Logger;
}

type EvalRunner = (argv: string[], ctx: EvalContext) => Promise<number>;

const EVALUATIONS: Record<string, { summary: string; load: () => Promise<EvalRunner> }> = {
  search: {
    summary: 'search <beir-dir>         retrieval quality (nDCG@10, Recall@100, MRR@10) per search mode',
    load: async () => (await import('./search.eval.ts')).runSearchEval,
  },
  ocr: {
    summary: 'ocr <dir>                 OCR quality (CER, WER, bag-of-words F1) and speed, beside native tesseract',
    load: async () => (await import('./ocr.eval.ts')).runOcrEval,
  },
  classify: {
    summary: 'classify <file.jsonl>     classification accuracy and macro-F1, zero-shot and k-shot',
    load: async () => (await import('./classify.eval.ts')).runClassifyEval,
  },
};

export const EVAL_USAGE = `Usage: quire eval <evaluation> [options]

Evaluations:
${Object.values(EVALUATIONS)
  .map((e) => `  ${e.summary}`)
  .join('\n')}

Run \`quire eval <evaluation> --help\` for its options.`;

export async function runEvalCommand(argv: string[], ctx: EvalContext): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${EVAL_USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const evaluation = EVALUATIONS[name];
  if (!evaluation) {
    process.stderr.write(`Unknown evaluation ${JSON.stringify(name)}\n\n${EVAL_USAGE}\n`);
    return 2;
  }
  try {
    return await (
      await evaluation.load()
    )(rest, ctx);
  } catch (err) {
    // Bad input (a missing file, a malformed line, a bad option) ends with its code and message.
    if (err instanceof AppError && err.expose) {
      process.stderr.write(`quire eval ${name}: ${err.code}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
