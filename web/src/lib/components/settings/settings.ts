/** Words the settings sections share: roles, and errors in plain words. */
import { ApiError, plainMessage } from '$lib/api/errors.ts';
import type { Role } from '$lib/api/session.svelte.ts';

export const ROLES: { value: Role; name: string; what: string }[] = [
  { value: 'OWNER', name: 'Owner', what: 'everything, including members, roles and API keys' },
  { value: 'EDITOR', name: 'Editor', what: 'upload, annotate, resolve matches, reprocess and delete documents' },
  { value: 'VIEWER', name: 'Viewer', what: 'read and search only' },
];

export function roleName(role: string): string {
  return ROLES.find((r) => r.value === role)?.name ?? role;
}

const PLAIN: Record<string, string> = {
  LAST_OWNER: 'A team keeps at least one owner. Make someone else an owner first.',
  INVALID_CREDENTIALS: 'Your current password is not right.',
};

/**
 * Plain words for an error in settings: a few codes read differently here than on the sign-in
 * page, and validation messages lose their field paths ("conditions.0.tolerance: …").
 */
export function errorText(err: unknown, overrides: Record<string, string> = {}): string {
  if (err instanceof ApiError) {
    const known = overrides[err.code] ?? PLAIN[err.code];
    if (known) return known;
    if (err.code === 'VALIDATION_FAILED' || err.code === 'BAD_MATCH_RULE') return fieldMessage(err.message);
  }
  return plainMessage(err);
}

const FIELD_WORDS: Record<string, string> = {
  name: 'Name',
  email: 'Email',
  role: 'Role',
  typeA: 'First document type',
  typeB: 'Second document type',
  conditions: 'Conditions',
  fieldA: 'first field',
  fieldB: 'second field',
  comparison: 'comparison',
  tolerance: 'tolerance',
  description: 'Description',
};

/** "Invalid match rule: conditions.0.tolerance: too big" → "Condition 1, tolerance: too big". */
function fieldMessage(message: string): string {
  const m = /^(?:Invalid [a-z ]+: )?([A-Za-z0-9_.]+): (.*)$/.exec(message);
  if (!m) return message;
  const parts = m[1]!.split('.');
  const words: string[] = [];
  for (let i = 0; i < parts.length; i += 1) {
    const p = parts[i]!;
    if (p === 'conditions' && /^\d+$/.test(parts[i + 1] ?? '')) {
      words.push(`Condition ${Number(parts[i + 1]) + 1}`);
      i += 1;
    } else words.push(FIELD_WORDS[p] ?? p);
  }
  const text = m[2]!;
  return `${words.join(', ')}: ${text.charAt(0).toLowerCase()}${text.slice(1)}`;
}
