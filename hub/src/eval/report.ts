/**
 * What every evaluation command and load test shares: order statistics, repeated timed rounds
 * with a warm-up, a plain-text table, the machine it ran on, and the closing JSON line.
 * Measures only; nothing here asserts a time.
 */
import { readFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

/** Nearest-rank percentile of an ascending list (`p` in 0..100); NaN for an empty list. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Median of a list in any order (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median of repeated rounds and how far the rounds spread around it. */
export interface RoundSummary {
  median: number;
  min: number;
  max: number;
  /** (max − min) / median, in percent. */
  spreadPct: number;
  rounds: number[];
}

export function summarizeRounds(values: readonly number[]): RoundSummary {
  const m = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { median: m, min, max, spreadPct: m === 0 ? 0 : ((max - min) / Math.abs(m)) * 100, rounds: [...values] };
}

/** Latency figures of one series of operations, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarizeLatency(samplesMs: readonly number[]): LatencySummary {
  const s = [...samplesMs].sort((a, b) => a - b);
  return {
    count: s.length,
    p50: percentile(s, 50),
    p90: percentile(s, 90),
    p99: percentile(s, 99),
    max: s.at(-1) ?? Number.NaN,
    mean: s.length === 0 ? Number.NaN : s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/**
 * Runs `round` `warmup` times unmeasured, then `rounds` times. A round yields one or more
 * figures at once (enqueue and drain rates, p50 and p99, two contenders run one after the
 * other); each figure is summarised across the measured rounds on its own. Contenders measured in the same round share the machine's
 * state at that moment, which keeps their ratio steadier than separate series would.
 */
export async function measureRoundFigures<K extends string>(options: {
  warmup: number;
  rounds: number;
  round: (index: number) => Promise<Record<K, number>>;
}): Promise<Record<K, RoundSummary>> {
  for (let i = 0; i < options.warmup; i++) await options.round(-1 - i);
  const byFigure = new Map<K, number[]>();
  for (let i = 0; i < options.rounds; i++) {
    for (const [key, value] of Object.entries(await options.round(i)) as [K, number][]) {
      byFigure.set(key, [...(byFigure.get(key) ?? []), value]);
    }
  }
  return Object.fromEntries([...byFigure].map(([key, values]) => [key, summarizeRounds(values)])) as Record<K, RoundSummary>;
}

/**
 * The contenders in the order they take their turns in round `index` (as `measureRoundFigures`
 * numbers rounds, warm-up included): reversed on odd rounds, so that a change of load on the
 * machine falls on all of them alike.
 */
export function inTurn<T>(contenders: readonly T[], index: number): readonly T[] {
  return index % 2 === 0 ? contenders : [...contenders].reverse();
}

/** The machine a figure was taken on. */
export interface MachineInfo {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverage1m: number;
  date: string;
}

export function machineInfo(): MachineInfo {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    date: new Date().toISOString(),
  };
}

export function describeMachine(m: MachineInfo = machineInfo()): string {
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, load ${m.loadAverage1m}, ${m.date.slice(0, 10)}`;
}

export type Cell = string | number | null | undefined;

/** Formats a number for a table: integers as is, others to `digits` significant decimals. */
export function formatCell(value: Cell, digits = 3): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'string') return value;
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return String(value);
  const abs = Math.abs(value);
  return value.toFixed(abs >= 100 ? 1 : abs >= 10 ? 2 : digits);
}

/** A plain-text table: the first column left-aligned, the rest right-aligned. */
export function formatTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const cells = [headers.map(String), ...rows.map((r) => r.map((c) => formatCell(c)))];
  const widths = headers.map((_, col) => Math.max(...cells.map((r) => (r[col] ?? '').length)));
  const line = (r: readonly string[]): string =>
    r
      .map((c, col) => (col === 0 ? c.padEnd(widths[col]!) : c.padStart(widths[col]!)))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

/** Rounds every number in a JSON-able value to `digits` decimals, for a readable last line. */
export function roundNumbers<T>(value: T, digits = 4): T {
  const f = 10 ** digits;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'number') return Number.isFinite(v) ? Math.round(v * f) / f : null;
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * The closing line of every evaluation and load test: one JSON object holding all figures,
 * the machine and the command line, so a reader (and load-tests/results.ts) can take it as is.
 */
export function jsonLine(name: string, figures: Record<string, unknown>, argv: readonly string[] = process.argv.slice(2)): string {
  return JSON.stringify(roundNumbers({ name, ...figures, machine: machineInfo(), args: argv }));
}

/** Bytes on disk of a SQLite database in WAL mode: the file and its write-ahead log. */
export function sqliteFileBytes(path: string): number {
  return ['', '-wal'].reduce((sum, suffix) => sum + (statSync(`${path}${suffix}`, { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** Peak resident memory of this process so far, in MiB (threads included). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Resident memory of a process, in MiB, threads included. */
export interface ProcessMemory {
  /** Resident now (`VmRSS`). */
  rssMiB: number;
  /** Highest resident so far in the process's life (`VmHWM`). */
  peakMiB: number;
}

/**
 * Resident memory of another process (a hub started as a child, say) from
 * `/proc/<pid>/status`; null where there is no `/proc` (not Linux) or the process is gone.
 */
export async function processMemory(pid: number): Promise<ProcessMemory | null> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
}
