/**
 * The dashboard's live value (`Subscription.dashboard`) and the small computations its
 * views share: counts by key, and the last hour's throughput as one bucket per minute.
 */
import type { Dashboard as SchemaDashboard, ProcessingNode, ThroughputBucket } from '@quire/graphql';
import type { Selected } from '$lib/api/graphql.ts';

export interface Count {
  key: string | null;
  count: number;
}

/** `DASHBOARD_SUBSCRIPTION` reads every field of these: the schema's types as they are. */
export type { ProcessingNode, ThroughputBucket };

/** The dashboard as `DASHBOARD_SUBSCRIPTION` reads it. */
export type Dashboard = Selected<SchemaDashboard, 'total' | 'queueDepth' | 'processing' | 'throughput' | 'nodes' | 'activity'> & {
  byStatus: Count[];
  byType: Count[];
  bySensitivity: Count[];
};

/** Minutes of throughput the chart shows. */
export const MINUTES = 60;

export const DASHBOARD_SUBSCRIPTION = `subscription Dashboard($minutes: Int) {
  dashboard {
    total
    queueDepth
    processing
    byStatus { key count }
    byType { key count }
    bySensitivity { key count }
    throughput(minutes: $minutes) { at processed failed }
    nodes { id host device executionProvider models concurrency version startedAt activeJobs jobsDone lastSeenAt }
    activity { annotationsLastDay matchesOpen matchesResolvedLastDay }
  }
}`;

/** The count of `key` (any case), 0 when absent. */
export function countOf(counts: Count[], key: string): number {
  const k = key.toLowerCase();
  return counts.find((c) => (c.key ?? '').toLowerCase() === k)?.count ?? 0;
}

const MINUTE = 60_000;

/**
 * The last `minutes` minutes as one bucket each, oldest first, ending with the current
 * minute (or the hub's latest bucket, when the hub's clock is ahead). Minutes the hub left
 * out count zero.
 */
export function lastMinutes(buckets: ThroughputBucket[], now: number, minutes = MINUTES): ThroughputBucket[] {
  const byMinute = new Map<number, ThroughputBucket>();
  let latest = Math.floor(now / MINUTE);
  for (const b of buckets) {
    const m = Math.floor(Date.parse(b.at) / MINUTE);
    if (!Number.isFinite(m)) continue;
    const had = byMinute.get(m);
    byMinute.set(m, had ? { at: had.at, processed: had.processed + b.processed, failed: had.failed + b.failed } : b);
    latest = Math.max(latest, m);
  }
  const out: ThroughputBucket[] = [];
  for (let m = latest - minutes + 1; m <= latest; m += 1) {
    const b = byMinute.get(m);
    out.push({ at: new Date(m * MINUTE).toISOString(), processed: b?.processed ?? 0, failed: b?.failed ?? 0 });
  }
  return out;
}

/** "1 document", "3 documents". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
