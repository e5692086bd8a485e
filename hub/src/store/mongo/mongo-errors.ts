/** What the MongoDB adapters read from the driver's errors. */

/** The server's duplicate-key error code (a unique index refused an insert). */
const DUPLICATE_KEY = 11000;

/** Whether `err` is a unique index refusing a write. */
export function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === DUPLICATE_KEY;
}
