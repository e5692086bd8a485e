/** Match rules: their shape, the form's draft of one, and rules in words. */
import type { MatchComparison, MatchCondition as SchemaMatchCondition, MatchRule as SchemaMatchRule } from '@quire/graphql';
import type { Selected } from '$lib/api/graphql.ts';

export type Comparison = MatchComparison;

/** A rule's condition as `RULE_FIELDS` reads it. */
export type MatchCondition = Selected<SchemaMatchCondition, 'fieldA' | 'fieldB' | 'comparison' | 'tolerance'>;

/** A rule as `RULE_FIELDS` reads it. */
export type MatchRule = Selected<SchemaMatchRule, 'id' | 'name' | 'typeA' | 'typeB' | 'enabled' | 'updatedAt'> & {
  conditions: MatchCondition[];
};

export const RULE_FIELDS = 'id name typeA typeB conditions { fieldA fieldB comparison tolerance } enabled updatedAt';

export const FIELDS: { value: string; name: string }[] = [
  { value: 'number', name: 'Number' },
  { value: 'orderNumber', name: 'Order number' },
  { value: 'date', name: 'Date' },
  { value: 'total', name: 'Total' },
  { value: 'currency', name: 'Currency' },
  { value: 'counterparty', name: 'Counterparty' },
];

export const COMPARISONS: { value: Comparison; name: string; unit: string | null }[] = [
  { value: 'EQUALS', name: 'is the same as', unit: null },
  { value: 'AMOUNT_WITHIN', name: 'is an amount within', unit: '%' },
  { value: 'DATE_WITHIN_DAYS', name: 'is a date within', unit: 'days' },
];

export const fieldName = (f: string) => FIELDS.find((x) => x.value === f)?.name ?? f;

/** One condition as the form edits it: the tolerance in the unit people type (%, days). */
export interface DraftCondition {
  key: number;
  fieldA: string;
  fieldB: string;
  comparison: Comparison;
  /** A number input's binding: a number, or empty. */
  tolerance: string | number | null;
}

export interface Draft {
  name: string;
  typeA: string;
  typeB: string;
  conditions: DraftCondition[];
  enabled: boolean;
}

let nextKey = 1;

export function draftCondition(c?: MatchCondition): DraftCondition {
  const t = c?.tolerance ?? null;
  const shown =
    c?.comparison === 'AMOUNT_WITHIN'
      ? String(Number(((t ?? 0) * 100).toFixed(4)))
      : c?.comparison === 'DATE_WITHIN_DAYS'
        ? String(t ?? 0)
        : '';
  return {
    key: nextKey++,
    fieldA: c?.fieldA ?? 'orderNumber',
    fieldB: c?.fieldB ?? 'number',
    comparison: c?.comparison ?? 'EQUALS',
    tolerance: shown,
  };
}

export function draftOf(rule: MatchRule | null, types: string[]): Draft {
  if (rule)
    return {
      name: rule.name,
      typeA: rule.typeA,
      typeB: rule.typeB,
      conditions: rule.conditions.map(draftCondition),
      enabled: rule.enabled,
    };
  return { name: '', typeA: types[0] ?? '', typeB: types[1] ?? types[0] ?? '', conditions: [draftCondition()], enabled: true };
}

/** The default tolerance when a comparison is chosen: 1 % or 3 days. */
export function defaultTolerance(c: Comparison): string {
  return c === 'AMOUNT_WITHIN' ? '1' : c === 'DATE_WITHIN_DAYS' ? '3' : '';
}

/** The hub's input for a draft, or the first problem in plain words. */
export function inputOf(d: Draft): { input: Record<string, unknown> } | { problem: string } {
  if (!d.name.trim()) return { problem: 'Give the rule a name.' };
  if (!d.typeA || !d.typeB) return { problem: 'Choose both document types.' };
  if (d.conditions.length === 0) return { problem: 'Add at least one condition.' };
  const conditions = [];
  for (const [i, c] of d.conditions.entries()) {
    let tolerance: number | null = null;
    if (c.comparison !== 'EQUALS') {
      const raw = String(c.tolerance ?? '').trim();
      const n = Number(raw.replace(',', '.'));
      if (raw === '' || !Number.isFinite(n) || n < 0) return { problem: `Condition ${i + 1}: enter a tolerance of 0 or more.` };
      if (c.comparison === 'AMOUNT_WITHIN' && n > 100) return { problem: `Condition ${i + 1}: an amount tolerance is at most 100 %.` };
      if (c.comparison === 'DATE_WITHIN_DAYS' && n > 365) return { problem: `Condition ${i + 1}: a date tolerance is at most 365 days.` };
      tolerance = c.comparison === 'AMOUNT_WITHIN' ? n / 100 : n;
    }
    conditions.push({ fieldA: c.fieldA, fieldB: c.fieldB, comparison: c.comparison, tolerance });
  }
  return { input: { name: d.name.trim(), typeA: d.typeA, typeB: d.typeB, conditions, enabled: d.enabled } };
}

/** "Order number of invoice is the same as Number of purchase_order". */
export function conditionText(c: MatchCondition, typeA: string, typeB: string): string {
  const a = `${fieldName(c.fieldA)} of the ${typeA}`;
  const b = `${fieldName(c.fieldB)} of the ${typeB}`;
  if (c.comparison === 'AMOUNT_WITHIN') return `${a} is within ${Number(((c.tolerance ?? 0) * 100).toFixed(4))} % of ${b}`;
  if (c.comparison === 'DATE_WITHIN_DAYS') return `${a} is within ${c.tolerance ?? 0} ${c.tolerance === 1 ? 'day' : 'days'} of ${b}`;
  return `${a} is the same as ${b}`;
}
