/** Day filters: the reader's local calendar days as the hub's date bounds. */

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * Local midnight starting the day `days` after a `YYYY-MM-DD` date, as an ISO instant; null for
 * a date that is not a real day (`2024-02-30`).
 */
function localMidnight(date: string, days = 0): string | null {
  if (!DATE.test(date)) return null;
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const at = new Date(`${date}T00:00:00`);
  if (Number.isNaN(at.getTime()) || at.getFullYear() !== y || at.getMonth() !== m - 1 || at.getDate() !== d) return null;
  at.setDate(at.getDate() + days);
  return at.toISOString();
}

/**
 * The `createdFrom` / `createdTo` of a hub filter (`SearchFilter`, `DocumentFilter`) for the
 * reader's local days `from` and `to` (`YYYY-MM-DD`, empty when not set), both days whole and
 * included. The hub's `createdFrom` is inclusive and its `createdTo` exclusive, so `from` is
 * that day's local midnight and `to` the next day's. A bound that is not set (or not a real
 * day) is left out.
 */
export function createdRange(from: string, to: string): { createdFrom?: string; createdTo?: string } {
  const range: { createdFrom?: string; createdTo?: string } = {};
  const start = from ? localMidnight(from) : null;
  const end = to ? localMidnight(to, 1) : null;
  if (start) range.createdFrom = start;
  if (end) range.createdTo = end;
  return range;
}
