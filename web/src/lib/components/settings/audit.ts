/** The audit log's entries in words. */

export interface AuditEntry {
  id: string;
  at: string;
  action: string;
  actor: { id: string; email: string; name: string | null } | null;
  actorApiKeyId: string | null;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  details: Record<string, unknown> | null;
}

export const AUDIT_FIELDS = 'id at action actor { id email name } actorApiKeyId targetType targetId ip details';

const ACTIONS: Record<string, string> = {
  'user.signed_up': 'Signed up',
  'user.signed_in': 'Signed in',
  'user.sign_in_failed': 'Failed to sign in',
  'user.signed_out': 'Signed out',
  'user.password_changed': 'Changed their password',
  'session.replayed': 'Reused an old sign-in (the session was ended)',
  'invitation.created': 'Created an invitation',
  'invitation.accepted': 'Accepted an invitation',
  'member.role_changed': 'Changed a member’s role',
  'member.removed': 'Removed a member',
  'api_key.created': 'Created an API key',
  'api_key.revoked': 'Revoked an API key',
  'api_key.used': 'Used the API key',
  'document.uploaded': 'Uploaded a document',
  'document.reprocessed': 'Processed a document again',
  'document.deleted': 'Deleted a document',
  'document.labelled': 'Labelled a document',
  'documents.reclassified': 'Classified the documents again',
  'match.resolved': 'Resolved a match',
  'match_rule.created': 'Created a match rule',
  'match_rule.updated': 'Changed a match rule',
  'match_rule.deleted': 'Deleted a match rule',
  'label.added': 'Added a label',
  'label.removed': 'Removed a label',
};

/** "member.role_changed" → "Changed a member’s role"; unknown ones by their words. */
export function actionText(action: string): string {
  if (ACTIONS[action]) return ACTIONS[action];
  const words = action.replace(/[._]/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const ROLE_WORDS: Record<string, string> = {
  OWNER: 'owner',
  EDITOR: 'editor',
  VIEWER: 'viewer',
  owner: 'owner',
  editor: 'editor',
  viewer: 'viewer',
};

/** A short fact from the details worth a column: "editor → viewer", "as viewer", "3 changed". */
export function detailText(e: AuditEntry): string {
  const d = e.details ?? {};
  if (typeof d.from === 'string' && typeof d.to === 'string') return `${ROLE_WORDS[d.from] ?? d.from} → ${ROLE_WORDS[d.to] ?? d.to}`;
  if (e.action === 'documents.reclassified' && typeof d.documents === 'number')
    return `${d.documents} documents, ${d.changed ?? 0} changed`;
  if (typeof d.decision === 'string') return d.decision.toLowerCase();
  if (e.action.startsWith('label.') && typeof d.kind === 'string') return d.kind.toLowerCase() === 'type' ? 'document type' : 'sensitivity';
  if (e.action === 'document.labelled' && typeof d.kind === 'string') return `${d.kind}: ${d.label ?? 'cleared'}`;
  if (typeof d.role === 'string' && e.action !== 'member.removed') {
    return `as ${ROLE_WORDS[d.role] ?? d.role}${typeof d.email === 'string' ? `, for ${d.email}` : ''}`;
  }
  return '';
}

/** Whether the entry has details beyond nothing. */
export function hasDetails(e: AuditEntry): boolean {
  return !!e.details && Object.keys(e.details).length > 0;
}
