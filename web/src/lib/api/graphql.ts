/**
 * GraphQL over HTTP for the pages: one call per operation, with the session's token and team,
 * refreshed and retried once when the token expired. Errors arrive as {@link ApiError}.
 */
import { postGraphQL, session } from './session.svelte.ts';

/**
 * The fields `K` of a schema type `T` from `@quire/graphql` as an operation selecting them
 * answers them: every one present, null where the schema allows it. A nested object the
 * operation selects only part of is spelled out beside it.
 */
export type Selected<T, K extends keyof T> = Required<Pick<T, K>>;

/** Runs a query or mutation in the current team, or in `options.teamId`. */
export function gql<T>(query: string, variables: Record<string, unknown> = {}, options: { teamId?: string } = {}): Promise<T> {
  return session.withAuth((headers) =>
    postGraphQL<T>(query, variables, options.teamId ? { ...headers, 'x-quire-team': options.teamId } : headers),
  );
}
