/**
 * The team's labels (document types and sensitivities), asked of the hub once per team and
 * shared by every page that needs them: the documents list's filters, search's filters, the
 * viewer's label pickers. A team switch (another `session.teamId`) asks again; so does a call
 * after a failed load, or after `invalidateTeamLabels()` (an owner edited the labels).
 */
import type { Label, LabelSet } from '@quire/graphql';
import { untrack } from 'svelte';
import { gql } from '$lib/api/graphql.ts';
import { session } from '$lib/api/session.svelte.ts';

/** One of the team's labels: its name and the description the classifier reads (`LABELS_QUERY` reads both). */
export type TeamLabel = Label;
/** The team's labels of each kind. */
export type TeamLabels = LabelSet;

const LABELS_QUERY = '{ labels { types { name description } sensitivities { name description } } }';

let cached: { teamId: string | null; labels: Promise<TeamLabels> } | null = null;

/**
 * The current team's labels, loaded once per team. Rejects (with an `ApiError`) when they
 * cannot be read; the next call then tries again. Safe to call inside an `$effect`: it does
 * not make the effect depend on the team it reads or on the cache it fills.
 */
export function teamLabels(): Promise<TeamLabels> {
  return untrack(() => {
    const teamId = session.teamId;
    if (cached && cached.teamId === teamId) return cached.labels;
    const entry = {
      teamId,
      labels: gql<{ labels: TeamLabels }>(LABELS_QUERY).then((d) => d.labels),
    };
    cached = entry;
    // A failure is not kept: the next call asks again.
    entry.labels.catch(() => {
      if (cached === entry) cached = null;
    });
    return entry.labels;
  });
}

/** Forgets the labels, so the next `teamLabels()` reads them again (after an owner changed them). */
export function invalidateTeamLabels(): void {
  cached = null;
}
