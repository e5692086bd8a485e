/** The services a running hub offers to its edges (HTTP, GraphQL, Socket.IO) and to in-process callers. */
import type { AnnotationService } from './annotation.service.ts';
import type { AuthService } from './auth.service.ts';
import type { ClassificationService } from './classification.service.ts';
import type { DashboardService } from './dashboard.service.ts';
import type { DocumentService } from './document.service.ts';
import type { IngestService } from './ingest.service.ts';
import type { MatchService } from './match.service.ts';
import type { PresenceService } from './presence.service.ts';
import type { SearchService } from './search.service.ts';

export interface HubServices {
  auth: AuthService;
  ingest: IngestService;
  documents: DocumentService;
  search: SearchService;
  annotations: AnnotationService;
  presence: PresenceService;
  classification: ClassificationService;
  matches: MatchService;
  dashboard: DashboardService;
}
