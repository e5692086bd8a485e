/**
 * What every resolver receives: the caller, the services and live events. Each resolver asks
 * the policy for its team scope (`teamScopeFor(ctx.auth, 'Query.x')`); none is assumed.
 */
import DataLoader from 'dataloader';
import type { RequestAuth } from '../auth/request-auth.ts';
import type { LiveEvents } from '../services/live-events.ts';
import type { HubServices } from '../services/services.ts';
import type { JobRecord, TeamScope } from '../store/store.ts';

export interface GraphQLContext {
  /** The caller (if any), the team the request names or defaults to, and where it came from. */
  auth: RequestAuth;
  services: HubServices;
  events: LiveEvents;
  loaders: Loaders;
}

/**
 * Reads that many resolvers of one operation make, gathered into one store read per tick (a
 * page of documents reads its rows' jobs at once). They batch but do not cache: a subscription
 * resolves the same job again as it progresses, and must read it afresh.
 */
export interface Loaders {
  job: DataLoader<{ scope: TeamScope; id: string }, JobRecord | undefined, string>;
}

export function createLoaders(services: HubServices): Loaders {
  return {
    job: new DataLoader(
      async (keys) => {
        const idsByTeam = new Map<string, Set<string>>();
        for (const k of keys) idsByTeam.set(k.scope.teamId, (idsByTeam.get(k.scope.teamId) ?? new Set()).add(k.id));
        const found = new Map<string, JobRecord>();
        for (const [teamId, ids] of idsByTeam) {
          for (const job of await services.documents.jobs({ teamId }, [...ids])) found.set(`${teamId}/${job.id}`, job);
        }
        return keys.map((k) => found.get(`${k.scope.teamId}/${k.id}`));
      },
      { cache: false, cacheKeyFn: (k) => `${k.scope.teamId}/${k.id}` },
    ),
  };
}
