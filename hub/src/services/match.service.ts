/**
 * Matches between documents, proposed after each document is processed and resolved by
 * people.
 *
 * - Similarity: each of the new document's passages is looked up among the team's other
 *   passages (vector k-NN); the documents they lead to are compared as wholes (cosine of
 *   the documents' mean embeddings). Nearly the same → `duplicate`; close → `related`; the
 *   most similar passage pairs are the evidence.
 * - Rules: a team's rule matches documents of type A with documents of type B when each
 *   condition on their extracted fields holds (equal numbers, amounts within a tolerance,
 *   dates within some days); the compared values are the evidence.
 *
 * A match is `open` until someone confirms or rejects it. Resolving names the version it
 * saw; a stale resolution is refused with `CONFLICT` and who resolved it how, never applied
 * over it. Confirmed matches join documents into matched sets; a confirmed duplicate may name
 * the copy to keep.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { ConflictError, DocumentStatus, NotFoundError, ValidationError, type FieldValue, type Fields } from '@quire/kernel';
import { dot, meanVector } from '@quire/processors';
import type { SearchIndex } from '@quire/search';
import {
  AuditAction,
  actorIdOf,
  auditEntry,
  effectiveLabels,
  type ActingScope,
  type DocumentRecord,
  type MatchComparison,
  type MatchCondition,
  type MatchKind,
  type MatchPassage,
  type MatchRecord,
  type MatchRuleRecord,
  type MatchStatus,
  type MatchedField,
  type NewMatch,
  type Store,
  type TeamScope,
} from '../store/store.ts';
import { flipPassage, matchPairKey } from '../store/rules.ts';
import type { LiveEvents } from './live-events.ts';

/**
 * Document similarity (cosine of mean chunk embeddings, all-MiniLM-L6-v2) from which a pair is
 * a duplicate or related. Measured on the test documents: a rescan of the same invoice 0.99,
 * two different invoices 0.7 to 0.8, unrelated documents below 0.5.
 */
export const DEFAULT_MATCH_THRESHOLDS = { duplicate: 0.95, related: 0.85, passage: 0.6 } as const;

/** Passages of the new document looked up, and neighbours asked for each. */
const MAX_PASSAGES = 16;
const NEIGHBOURS = 10;
/** Evidence kept per match, and how much of each passage's text. */
const EVIDENCE_PASSAGES = 3;
const EVIDENCE_CHARS = 300;
/** Documents of a type a rule looks at. */
const RULE_CANDIDATES = 1000;

const FIELD_NAMES = ['number', 'orderNumber', 'date', 'total', 'currency', 'counterparty'] as const satisfies readonly (keyof Fields)[];

const conditionSchema = z
  .object({
    fieldA: z.enum(FIELD_NAMES),
    fieldB: z.enum(FIELD_NAMES),
    comparison: z.enum(['equals', 'amount_within', 'date_within_days']),
    tolerance: z.number().nonnegative().max(365).nullable().default(null),
  })
  .refine((c) => c.comparison !== 'amount_within' || (c.tolerance ?? 0) <= 1, {
    message: 'an amount tolerance is a fraction, at most 1',
    path: ['tolerance'],
  });
const ruleSchema = z.object({
  name: z.string().trim().min(1).max(100),
  typeA: z.string().trim().min(1).max(100),
  typeB: z.string().trim().min(1).max(100),
  conditions: z.array(conditionSchema).min(1).max(10),
  enabled: z.boolean().default(true),
});
export type MatchRuleInput = z.input<typeof ruleSchema>;

export type MatchDecision = 'confirm' | 'reject' | 'reopen';

/** Documents joined by confirmed matches. */
export interface MatchedSet {
  id: string;
  documentIds: string[];
  canonicalDocumentId: string | null;
  matches: MatchRecord[];
}

export class MatchService {
  constructor(
    private readonly deps: {
      store: Store;
      index: SearchIndex;
      events: LiveEvents;
      /** The team's document type names, which rules must use. */
      typeNames: (scope: TeamScope) => Promise<readonly string[]>;
      thresholds?: { duplicate: number; related: number; passage: number };
    },
  ) {}

  private get thresholds() {
    return this.deps.thresholds ?? DEFAULT_MATCH_THRESHOLDS;
  }

  /**
   * After a document was processed: records its embedding (the mean of its chunks') and
   * proposes its similarity and rule matches. Answers the matches proposed or refreshed.
   */
  async proposeFor(scope: TeamScope, documentId: string, chunkVectors: ReadonlyMap<number, Float32Array>): Promise<MatchRecord[]> {
    const { store } = this.deps;
    const doc = await store.getDocument(scope, documentId);
    if (!doc) return [];
    const vectors = [...chunkVectors.values()];
    if (vectors.length > 0) await store.setDocumentVector(scope, doc.id, meanVector(vectors, vectors[0]!.length));
    const proposals = [...(await this.similar(scope, doc, chunkVectors)), ...(await this.byRules(scope, doc))];
    return this.record(scope, proposals);
  }

  async list(scope: TeamScope, options: { status?: MatchStatus; documentId?: string; first?: number }): Promise<MatchRecord[]> {
    const first = options.first ?? 50;
    if (!Number.isInteger(first) || first < 1 || first > 500)
      throw new ValidationError('first must be between 1 and 500', { code: 'BAD_PAGE_SIZE' });
    return this.deps.store.listMatches(scope, { status: options.status, documentId: options.documentId, limit: first });
  }

  get(scope: TeamScope, id: string): Promise<MatchRecord | undefined> {
    return this.deps.store.getMatch(scope, id);
  }

  /**
   * Confirms, rejects or reopens a match seen at `baseVersion`. ConflictError `CONFLICT` when
   * someone resolved it since, with `details.current` (status, who, when).
   */
  async resolve(
    scope: ActingScope,
    id: string,
    input: { decision: MatchDecision; baseVersion: number; canonicalDocumentId?: string | null; note?: string | null },
  ): Promise<MatchRecord> {
    const { store } = this.deps;
    const match = await store.getMatch(scope, id);
    if (!match) throw new NotFoundError(`Match ${id} not found`);
    const status: MatchStatus = input.decision === 'confirm' ? 'confirmed' : input.decision === 'reject' ? 'rejected' : 'open';
    const canonical = input.canonicalDocumentId ?? null;
    if (canonical !== null) {
      if (status !== 'confirmed' || match.kind !== 'duplicate') {
        throw new ValidationError('Only confirming a duplicate names the document to keep', { code: 'BAD_CANONICAL' });
      }
      if (canonical !== match.documentAId && canonical !== match.documentBId) {
        throw new ValidationError('The document to keep must be one of the two matched', { code: 'BAD_CANONICAL' });
      }
    }
    if (input.note && input.note.length > 2000) throw new ValidationError('A note has at most 2000 characters', { code: 'BAD_NOTE' });
    const by = actorIdOf(scope);
    const result = await store.resolveMatch(scope, id, {
      expectedVersion: input.baseVersion,
      status,
      canonicalDocumentId: canonical,
      by,
      at: Date.now(),
      note: input.note ?? null,
    });
    if (!result) throw new NotFoundError(`Match ${id} not found`);
    if (result.status === 'conflict') {
      const current = result.current;
      const who = current.resolvedBy ? ((await store.getUser(current.resolvedBy))?.email ?? current.resolvedBy) : null;
      const what = current.status === 'open' ? 'reopened' : current.status;
      throw new ConflictError(`The match changed since you saw it: ${what}${who ? ` by ${who}` : ''}`, {
        code: 'CONFLICT',
        details: { current: { ...current, resolvedByName: who } },
      });
    }
    await store.appendAudit(
      auditEntry(
        scope,
        AuditAction.MatchResolved,
        { type: 'match', id },
        {
          decision: input.decision,
          kind: match.kind,
          documents: [match.documentAId, match.documentBId],
          canonicalDocumentId: canonical,
        },
      ),
    );
    await this.publish(scope, 'resolved', result.match);
    return result.match;
  }

  /** The team's matched sets: documents joined by confirmed matches. */
  async matchedSets(scope: TeamScope): Promise<MatchedSet[]> {
    const confirmed = await this.deps.store.listConfirmedMatches(scope);
    const parent = new Map<string, string>();
    const find = (x: string): string => {
      let root = x;
      while (parent.get(root) !== root) root = parent.get(root) ?? root;
      parent.set(x, root);
      return root;
    };
    for (const m of confirmed) {
      for (const d of [m.documentAId, m.documentBId]) if (!parent.has(d)) parent.set(d, d);
      const [a, b] = [find(m.documentAId), find(m.documentBId)];
      if (a !== b) parent.set(a < b ? b : a, a < b ? a : b);
    }
    const sets = new Map<string, MatchedSet>();
    for (const m of confirmed) {
      const root = find(m.documentAId);
      const set = sets.get(root) ?? { id: root, documentIds: [], canonicalDocumentId: null, matches: [] };
      set.matches.push(m);
      for (const d of [m.documentAId, m.documentBId]) if (!set.documentIds.includes(d)) set.documentIds.push(d);
      set.canonicalDocumentId ??= m.canonicalDocumentId;
      sets.set(root, set);
    }
    return [...sets.values()].map((s) => ({ ...s, documentIds: s.documentIds.sort() }));
  }

  listRules(scope: TeamScope): Promise<MatchRuleRecord[]> {
    return this.deps.store.listMatchRules(scope);
  }

  /** Adds a rule and applies it to the documents the team has. */
  async createRule(scope: ActingScope, input: unknown): Promise<MatchRuleRecord> {
    const rule = await this.deps.store.insertMatchRule(scope, { id: randomUUID(), ...(await this.parseRule(scope, input)) });
    await this.deps.store.appendAudit(
      auditEntry(scope, AuditAction.MatchRuleCreated, { type: 'match_rule', id: rule.id }, { name: rule.name }),
    );
    await this.applyRule(scope, rule);
    return rule;
  }

  /** Changes a rule and applies it again; matches it proposed before stay as they are. */
  async updateRule(scope: ActingScope, id: string, input: unknown): Promise<MatchRuleRecord> {
    if (!(await this.deps.store.getMatchRule(scope, id))) throw new NotFoundError(`Match rule ${id} not found`);
    const rule = await this.deps.store.updateMatchRule(scope, { id, ...(await this.parseRule(scope, input)) });
    await this.deps.store.appendAudit(auditEntry(scope, AuditAction.MatchRuleUpdated, { type: 'match_rule', id }, { name: rule.name }));
    await this.applyRule(scope, rule);
    return rule;
  }

  async deleteRule(scope: ActingScope, id: string): Promise<boolean> {
    const deleted = await this.deps.store.deleteMatchRule(scope, id);
    if (deleted) await this.deps.store.appendAudit(auditEntry(scope, AuditAction.MatchRuleDeleted, { type: 'match_rule', id }, {}));
    return deleted;
  }

  private async parseRule(scope: TeamScope, input: unknown): Promise<Omit<MatchRuleRecord, 'id' | 'teamId' | 'createdAt' | 'updatedAt'>> {
    const parsed = ruleSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(`Invalid match rule: ${issue.path.join('.')}: ${issue.message}`, { code: 'BAD_MATCH_RULE' });
    }
    const types = await this.deps.typeNames(scope);
    for (const t of [parsed.data.typeA, parsed.data.typeB]) {
      if (!types.includes(t))
        throw new ValidationError(`Unknown document type ${JSON.stringify(t)}; the team's are: ${types.join(', ')}`, {
          code: 'UNKNOWN_LABEL',
        });
    }
    return { ...parsed.data, conditions: parsed.data.conditions as MatchCondition[] };
  }

  private async applyRule(scope: TeamScope, rule: MatchRuleRecord): Promise<void> {
    if (!rule.enabled) return;
    const as = await this.ofType(scope, rule.typeA);
    const bs = rule.typeB === rule.typeA ? as : await this.ofType(scope, rule.typeB);
    const proposals: NewMatch[] = [];
    for (const a of as) for (const b of bs) if (a.id !== b.id) proposals.push(...ruleMatch(rule, a, b));
    await this.record(scope, proposals);
  }

  /** Processed documents of a type (people's labels count), newest first. */
  private async ofType(scope: TeamScope, type: string): Promise<DocumentRecord[]> {
    const page = await this.deps.store.listDocuments(scope, {
      filter: { types: [type], statuses: [DocumentStatus.Processed] },
      first: RULE_CANDIDATES,
    });
    return page.edges.map((e) => e.node);
  }

  private async similar(scope: TeamScope, doc: DocumentRecord, chunkVectors: ReadonlyMap<number, Float32Array>): Promise<NewMatch[]> {
    const { store, index } = this.deps;
    const t = this.thresholds;
    const chunks = await store.getChunks(scope, doc.id);
    const sampled = spread(
      chunks.filter((c) => chunkVectors.has(c.ordinal)),
      MAX_PASSAGES,
    );
    const pairs = new Map<string, MatchPassage[]>();
    for (const chunk of sampled) {
      const hits = await index.search(scope, {
        mode: 'vector',
        vector: chunkVectors.get(chunk.ordinal)!,
        k: NEIGHBOURS,
        filter: { excludeDocumentIds: [doc.id] },
      });
      for (const hit of hits) {
        const similarity = hit.scores.vector ?? 0;
        if (similarity < t.passage) continue;
        const list = pairs.get(hit.documentId) ?? [];
        list.push({
          chunkA: chunk.ordinal,
          pageA: chunk.page,
          textA: chunk.text.slice(0, EVIDENCE_CHARS),
          chunkB: hit.ordinal,
          pageB: hit.page,
          textB: hit.text.slice(0, EVIDENCE_CHARS),
          similarity: round(similarity),
        });
        pairs.set(hit.documentId, list);
      }
    }
    if (pairs.size === 0) return [];
    const mine = (await store.listDocumentVectors(scope, { documentIds: [doc.id] }))[0];
    if (!mine) return [];
    const others = await store.listDocumentVectors(scope, { documentIds: [...pairs.keys()] });
    const out: NewMatch[] = [];
    for (const other of others) {
      const score = round(dot(mine.vector, other.vector));
      const kind: MatchKind | null = score >= t.duplicate ? 'duplicate' : score >= t.related ? 'related' : null;
      if (!kind) continue;
      // The earlier document is A, so a pair is the same match whichever was processed last.
      const evidence = pairs
        .get(other.documentId)!
        .sort((x, y) => y.similarity - x.similarity)
        .slice(0, EVIDENCE_PASSAGES)
        .map(flipPassage);
      out.push({
        id: randomUUID(),
        kind,
        documentAId: other.documentId,
        documentBId: doc.id,
        ruleId: null,
        score,
        passages: evidence,
        fields: [],
      });
    }
    return out;
  }

  private async byRules(scope: TeamScope, doc: DocumentRecord): Promise<NewMatch[]> {
    const type = effectiveLabels(doc).type;
    if (!type) return [];
    const rules = (await this.deps.store.listMatchRules(scope)).filter((r) => r.enabled && (r.typeA === type || r.typeB === type));
    const out: NewMatch[] = [];
    for (const rule of rules) {
      if (rule.typeA === type)
        for (const b of await this.ofType(scope, rule.typeB)) if (b.id !== doc.id) out.push(...ruleMatch(rule, doc, b));
      if (rule.typeB === type)
        for (const a of await this.ofType(scope, rule.typeA)) if (a.id !== doc.id) out.push(...ruleMatch(rule, a, doc));
    }
    return out;
  }

  private async record(scope: TeamScope, proposals: readonly NewMatch[]): Promise<MatchRecord[]> {
    const out: MatchRecord[] = [];
    const seen = new Set<string>();
    for (const p of proposals) {
      const key = matchPairKey(p);
      if (seen.has(key)) continue;
      seen.add(key);
      const { match, created } = await this.deps.store.proposeMatch(scope, p, Date.now());
      if (created) await this.publish(scope, 'proposed', match);
      out.push(match);
    }
    return out;
  }

  private async publish(scope: TeamScope, action: 'proposed' | 'resolved', match: MatchRecord): Promise<void> {
    await this.deps.events.matchChanged({ teamId: scope.teamId, matchId: match.id, action, match: { ...match }, at: Date.now() });
  }
}

/** The rule's match of `a` (type A) with `b` (type B) when every condition holds. */
export function ruleMatch(
  rule: MatchRuleRecord,
  a: Pick<DocumentRecord, 'id' | 'fields'>,
  b: Pick<DocumentRecord, 'id' | 'fields'>,
): NewMatch[] {
  const fields: MatchedField[] = [];
  for (const c of rule.conditions) {
    const va = fieldValue(a.fields, c.fieldA);
    const vb = fieldValue(b.fields, c.fieldB);
    if (va === undefined || vb === undefined || !holds(c.comparison, va, vb, c.tolerance)) return [];
    fields.push({ fieldA: c.fieldA, fieldB: c.fieldB, valueA: va, valueB: vb, comparison: c.comparison });
  }
  return [{ id: randomUUID(), kind: 'rule', documentAId: a.id, documentBId: b.id, ruleId: rule.id, score: 1, passages: [], fields }];
}

function fieldValue(fields: Fields, name: string): string | undefined {
  const v = (fields as Record<string, FieldValue | undefined>)[name];
  return v?.value;
}

/** Whether two extracted values agree under a comparison. */
export function holds(comparison: MatchComparison, a: string, b: string, tolerance: number | null): boolean {
  switch (comparison) {
    case 'equals': {
      const norm = (s: string) => s.toUpperCase().replace(/[^\p{L}\p{N}]/gu, '');
      return norm(a) !== '' && norm(a) === norm(b);
    }
    case 'amount_within': {
      const [x, y] = [amount(a), amount(b)];
      if (x === null || y === null) return false;
      // Rounding of the last cent always passes: amounts are read from print.
      return Math.abs(x - y) <= Math.max((tolerance ?? 0) * Math.max(Math.abs(x), Math.abs(y)), 0.005);
    }
    case 'date_within_days': {
      const [x, y] = [Date.parse(a), Date.parse(b)];
      if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
      return Math.abs(x - y) <= (tolerance ?? 0) * 86_400_000;
    }
  }
}

/** An amount as extracted ("1,234.50", "GBP 745.80"), or null. */
function amount(s: string): number | null {
  const m = /-?\d[\d,]*(\.\d+)?/.exec(s.replace(/\s/g, ''));
  if (!m) return null;
  const n = Number(m[0].replace(/,/g, ''));
  return Number.isFinite(n) ? n : null;
}

/** At most `n` items spread evenly over the list. */
function spread<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

const round = (x: number) => Math.round(x * 10_000) / 10_000;
