/**
 * Upload → searchable, as topology.bench.ts and replicas.bench.ts measure it: one-page text
 * documents, each with a word of its own, uploaded one after the other, each once the previous
 * one is searchable; after each upload GraphQL `search(mode: TEXT)` for its word is asked
 * every `pollMs` until it answers the document. The figure is the time from the start of the
 * upload to that answer, in this process's clock.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { summarizeLatency, type LatencySummary } from '../hub/src/eval/report.ts';
import type { HubProcess } from '../test/helpers/hub.ts';

const SEARCH_QUERY = `query($q: String!) { search(query: $q, mode: TEXT, first: 5) { document { id } } }`;

/** Where the documents go and the searches are asked: a hub, or a topology's balancer. */
export type SearchTarget = Pick<HubProcess, 'upload' | 'gql'>;

export interface SearchableOptions {
  /** How many documents. */
  count: number;
  /** The pause between two searches for one document, ms. */
  pollMs: number;
  /** How long one document may take to become searchable before it counts as lost, ms. */
  timeoutMs: number;
  /** Aborted on Ctrl-C: no further document is uploaded, and the measurement throws. */
  signal: AbortSignal;
}

/** The figures of one upload → searchable measurement. */
export interface SearchableFigures {
  /** Start of the upload → the search answering the document, of the documents found. */
  latencyMs: LatencySummary;
  /** The upload's HTTP request alone. */
  uploadMs: LatencySummary;
  /** Documents not found within `timeoutMs`. */
  lost: number;
}

/** Uploads `count` one-page text documents to `target` and times each until it is searchable. */
export async function measureSearchable(target: SearchTarget, options: SearchableOptions): Promise<SearchableFigures> {
  const { count, pollMs, timeoutMs, signal } = options;
  const latencies: number[] = [];
  const uploads: number[] = [];
  let lost = 0;
  for (let i = 0; i < count && !signal.aborted; i++) {
    const word = uniqueWord();
    const text =
      `Delivery note ${i + 1}\n\nThe consignment with reference ${word} arrived this morning in good order. ` +
      `It was checked against the order, signed for at the loading dock and filed with the week's other notes.\n`;
    const t0 = performance.now();
    const res = await target.upload({ name: `searchable-${i + 1}.txt`, data: new TextEncoder().encode(text), type: 'text/plain' });
    uploads.push(performance.now() - t0);
    if (res.status !== 202) throw new Error(`upload refused (${res.status}): ${JSON.stringify(res.body)}`);
    const id = res.body.documentId as string;
    // A loop of its own rather than waitFor, whose 250 ms pause would be the resolution.
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hits = ((await target.gql(SEARCH_QUERY, { q: word })).data?.search ?? []) as { document: { id: string } }[];
      if (hits.some((h) => h.document.id === id)) {
        latencies.push(performance.now() - t0);
        break;
      }
      if (Date.now() > deadline || signal.aborted) {
        lost += 1;
        break;
      }
      await sleep(pollMs);
    }
  }
  signal.throwIfAborted();
  return { latencyMs: summarizeLatency(latencies), uploadMs: summarizeLatency(uploads), lost };
}

/** A word in no document and no dictionary: twelve random lowercase letters. */
export function uniqueWord(): string {
  return [...randomBytes(12)].map((b) => String.fromCharCode(97 + (b % 26))).join('');
}
