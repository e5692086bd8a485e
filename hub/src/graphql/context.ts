/** What every resolver receives: the caller, their team scope, the services and live events. */
import type { RequestAuth } from '../auth/request-auth.ts';
import type { AuthService } from '../services/auth.service.ts';
import type { DocumentService } from '../services/document.service.ts';
import type { LiveEvents } from '../services/live-events.ts';
import type { SearchService } from '../services/search.service.ts';
import type { TeamScope } from '../store/store.ts';

export interface GraphQLContext {
  /** The team document operations act in (the default team until they require a principal). */
  scope: TeamScope;
  /** The caller (if any), the team the request names or defaults to, and where it came from. */
  auth: RequestAuth;
  services: { documents: DocumentService; search: SearchService; auth: AuthService };
  events: LiveEvents;
}
