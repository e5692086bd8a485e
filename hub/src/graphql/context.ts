/** What every resolver receives: the caller's team scope, the services and live events. */
import type { DocumentService } from '../services/document.service.ts';
import type { LiveEvents } from '../services/live-events.ts';
import type { SearchService } from '../services/search.service.ts';
import type { TeamScope } from '../store/store.ts';

export interface GraphQLContext {
  scope: TeamScope;
  services: { documents: DocumentService; search: SearchService };
  events: LiveEvents;
}
