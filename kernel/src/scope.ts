/** Team scopes: every read and write of team data names the team it is confined to. */

/** The team a call is confined to. Built only by the hub's request context. */
export interface TeamScope {
  /** Non-empty team id; a blank one is refused with a `ValidationError`. */
  readonly teamId: string;
}
