/**
 * The rules a Store adapter applies inside its atomic steps, written once for every adapter.
 * An adapter reads what a rule needs, asks the rule, and writes what it decided in the same
 * transaction (SQLite) or under the same unique key (MongoDB): the adapters differ in how they
 * make a step atomic, never in what the step decides.
 */
import { ConflictError } from '@quire/kernel';
import { ROLE_RANK, Role, type MatchedField, type MatchPassage, type MatchRecord, type NewMatch } from './store.ts';

// --- memberships ------------------------------------------------------------------------------

/**
 * The role a member ends up with when offered `offered` (added again, an invitation accepted):
 * a membership is only ever raised that way, never lowered. Null when it stays as it is.
 */
export function raisedRole(current: Role | undefined, offered: Role): Role | null {
  return current === undefined || ROLE_RANK[offered] > ROLE_RANK[current] ? offered : null;
}

/**
 * Refuses with `LAST_OWNER` a change of `userId` from `from` to `to` (null: removed) that
 * would leave the team without an owner. `owners` (the team's owners before the change) is
 * asked for only when `userId` gives up being one.
 */
export function assertTeamKeepsOwner(change: { userId: string; from: Role; to: Role | null }, owners: () => Iterable<string>): void {
  if (change.from !== Role.Owner || change.to === Role.Owner) return;
  for (const owner of owners()) if (owner !== change.userId) return;
  throw new ConflictError('A team keeps at least one owner', { code: 'LAST_OWNER' });
}

// --- matches ------------------------------------------------------------------------------------

/**
 * What makes two proposals the same match: the two documents, whichever way round, and the
 * rule (similarity matches share one key, so a related pair that becomes a duplicate stays
 * one match).
 */
export function matchPairKey(m: Pick<NewMatch, 'kind' | 'ruleId' | 'documentAId' | 'documentBId'>): string {
  const [x, y] = [m.documentAId, m.documentBId].sort();
  return m.kind === 'rule' ? `rule:${m.ruleId ?? ''}:${x}:${y}` : `similarity:${x}:${y}`;
}

/** The same passage pair seen from the other document. */
export function flipPassage(p: MatchPassage): MatchPassage {
  return { chunkA: p.chunkB, pageA: p.pageB, textA: p.textB, chunkB: p.chunkA, pageB: p.pageA, textB: p.textA, similarity: p.similarity };
}

/** The same compared field pair seen from the other document. */
export function flipField(f: MatchedField): MatchedField {
  return { fieldA: f.fieldB, fieldB: f.fieldA, valueA: f.valueB, valueB: f.valueA, comparison: f.comparison };
}

/** The evidence of a match: what a new proposal of the same pair brings. */
export type MatchEvidence = Pick<MatchRecord, 'kind' | 'score' | 'passages' | 'fields'>;

/**
 * What a new proposal of an existing match writes onto it: while the match is open, the
 * proposal's evidence, turned to the orientation the match was first proposed in; once it is
 * resolved, nothing (null): a team's decision is not reopened by the evidence that led to it.
 */
export function refreshedEvidence(existing: Pick<MatchRecord, 'status' | 'documentAId'>, proposal: NewMatch): MatchEvidence | null {
  if (existing.status !== 'open') return null;
  const turned = existing.documentAId !== proposal.documentAId;
  return {
    kind: proposal.kind,
    score: proposal.score,
    passages: turned ? proposal.passages.map(flipPassage) : proposal.passages,
    fields: turned ? proposal.fields.map(flipField) : proposal.fields,
  };
}
