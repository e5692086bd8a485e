/** Small formatting helpers shared by the pages. */

/** 1 536 → "1.5 KB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Milliseconds left → "about 12 s", "about 3 min"; null while unknown. */
export function formatEta(ms: number | null | undefined): string | null {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return null;
  if (ms < 1500) return 'almost done';
  const s = Math.round(ms / 1000);
  if (s < 90) return `about ${s} s left`;
  return `about ${Math.round(s / 60)} min left`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/** An ISO date-time as the reader's locale writes it. */
export function formatDate(iso: string | null | undefined): string {
  return iso ? dateFormat.format(new Date(iso)) : '';
}

/** An ISO date-time relative to now: "just now", "5 min ago", else the date. */
export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return formatDate(iso);
}

/** 0.873 → "87 %". */
export function formatPercent(x: number | null | undefined): string {
  return x === null || x === undefined ? '' : `${Math.round(x * 100)} %`;
}

/** Pipeline stage names as a person reads them. */
export const STAGE_NAMES: Record<string, string> = {
  queued: 'Waiting',
  upload: 'Uploading',
  detect: 'Reading file',
  extract: 'Reading text',
  ocr: 'Recognising text',
  chunk: 'Splitting passages',
  embed: 'Understanding',
  classify: 'Classifying',
  fields: 'Finding fields',
  index: 'Indexing',
  done: 'Done',
};

export function stageName(stage: string | null | undefined): string {
  if (!stage) return '';
  return STAGE_NAMES[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1);
}
