/**
 * Reads a BEIR-format retrieval set: `corpus.jsonl` (`_id`, `title`, `text`), `queries.jsonl`
 * (`_id`, `text`) and graded qrels in `qrels/test.tsv` (with or without a header line).
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { isJudged } from './metrics.ts';

export interface BeirDataset {
  /** The folder's name, e.g. `msmarco_subset_agentset`. */
  readonly name: string;
  readonly docs: { id: string; title: string; text: string }[];
  /** Only queries with at least one relevant judgement, as BEIR scores them. */
  readonly queries: { id: string; text: string }[];
  /** query id → (document id → grade). */
  readonly qrels: Map<string, Map<string, number>>;
}

/** Parses a JSON Lines file. */
export function readJsonLines(path: string): Record<string, unknown>[] {
  // Split on \n only: some passages hold U+2028, which other line splitters break on.
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Loads a BEIR directory. */
export function loadBeirDataset(dir: string): BeirDataset {
  const qrels = new Map<string, Map<string, number>>();
  for (const line of readFileSync(join(dir, 'qrels', 'test.tsv'), 'utf8').split('\n')) {
    const [queryId, docId, grade] = line.trim().split('\t');
    // Skips the header line (query-id corpus-id score) where there is one.
    if (!queryId || !docId || grade === undefined || !/^-?\d+$/.test(grade)) continue;
    const forQuery = qrels.get(queryId) ?? new Map<string, number>();
    forQuery.set(docId, Number(grade));
    qrels.set(queryId, forQuery);
  }
  return {
    name: basename(resolve(dir)),
    docs: readJsonLines(join(dir, 'corpus.jsonl')).map((d) => ({
      id: String(d._id),
      title: String(d.title ?? ''),
      text: String(d.text ?? ''),
    })),
    queries: readJsonLines(join(dir, 'queries.jsonl'))
      .map((q) => ({ id: String(q._id), text: String(q.text) }))
      .filter((q) => isJudged(qrels.get(q.id))),
    qrels,
  };
}

/** The text a passage is embedded and indexed as: title, then body. */
export function passageText(doc: { title: string; text: string }): string {
  return `${doc.title} ${doc.text}`.trim();
}
