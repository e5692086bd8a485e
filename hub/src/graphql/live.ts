/**
 * The loop every live GraphQL subscription of collaboration and dashboards shares: values
 * from a source, each delivered only after the subscriber's access was read again, so that a
 * member removed or demoted, an ended session or a revoked key gets the refusal instead.
 */
import type { EntryPoint } from '../auth/policy.ts';
import { currentTeamScopeFor } from '../auth/request-auth.ts';
import type { LiveEvent } from '../services/live-events.ts';
import type { GraphQLContext } from './context.ts';

/**
 * Yields `first()` (when given), then what `open` produces until the subscription ends,
 * re-checking access before each. `open` is called before `first` is yielded, so a source
 * that listens from its call misses nothing while the subscription sends the first value;
 * the signal it gets aborts when the subscription ends.
 */
export async function* recheckEach<T>(
  ctx: GraphQLContext,
  entry: EntryPoint,
  open: (signal: AbortSignal) => AsyncIterable<T>,
  first?: () => T,
): AsyncGenerator<T> {
  const controller = new AbortController();
  const source = open(controller.signal);
  try {
    // The first value needs no second check: the subscription was authorized a moment ago.
    if (first) yield first();
    for await (const value of source) {
      await currentTeamScopeFor(ctx.auth, entry, ctx.services.auth);
      yield value;
    }
  } finally {
    controller.abort();
  }
}

/** The live events a subscription wants, as `pick` turns them into its payloads (undefined: not for it). */
export function follow<T>(ctx: GraphQLContext, entry: EntryPoint, pick: (e: LiveEvent) => T | undefined): AsyncGenerator<T> {
  return recheckEach(ctx, entry, async function* (signal) {
    for await (const e of ctx.events.stream((x) => pick(x) !== undefined, signal)) yield pick(e)!;
  });
}
