/**
 * GraphQL over HTTP for the pages: one call per operation, with the session's token and team,
 * refreshed and retried once when the token expired. Errors arrive as {@link ApiError}.
 */
import { postGraphQL, session } from './session.svelte.ts';

/** Runs a query or mutation in the current team, or in `options.teamId`. */
export function gql<T>(query: string, variables: Record<string, unknown> = {}, options: { teamId?: string } = {}): Promise<T> {
  return session.withAuth((headers) =>
    postGraphQL<T>(query, variables, options.teamId ? { ...headers, 'x-quire-team': options.teamId } : headers),
  );
}
