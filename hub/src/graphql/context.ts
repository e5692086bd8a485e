/**
 * What every resolver receives: the caller, the services and live events. Each resolver asks
 * the policy for its team scope (`teamScopeFor(ctx.auth, 'Query.x')`); none is assumed.
 */
import type { RequestAuth } from '../auth/request-auth.ts';
import type { LiveEvents } from '../services/live-events.ts';
import type { HubServices } from '../services/services.ts';

export interface GraphQLContext {
  /** The caller (if any), the team the request names or defaults to, and where it came from. */
  auth: RequestAuth;
  services: HubServices;
  events: LiveEvents;
}
