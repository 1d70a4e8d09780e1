export interface GrantSummary {
  grantId: string;
  clientId: string;
  scopes: string[];
  createdAt: Date;
}

/** Ends an account's sign-in state at the provider; implemented in src/oidc (the only place that knows it). */
export interface AccountSessions {
  /**
   * Ends every session of the account (except `keepSessionUid`), revokes every grant and token issued to it, and
   * sends back-channel logout to the relying parties that held those sessions.
   */
  endAll(accountId: string, options: { keepSessionUid?: string | undefined }): Promise<void>;
  /** The grants (signed-in clients) of an account, newest first. */
  listGrants(accountId: string): Promise<GrantSummary[]>;
  /** Revokes one grant and everything issued under it. */
  revokeGrant(accountId: string, grantId: string): Promise<boolean>;
}

/** What must happen when a person's access for a unit ends or shrinks (R-B3, R-B4, R-B6); implemented in src/oidc. */
export interface UnitAccessRevoker {
  /** Unbinding, expiry: every grant and token for (person, unit) goes, RPs get a back-channel logout. */
  revokeUnitAccess(personId: string, unitId: string): Promise<void>;
  /** Narrowed permissions: outstanding access tokens go; the next refresh carries the current set. */
  refreshUnitAccess(personId: string, unitId: string): Promise<void>;
  /** A disabled unit: everyone's access for it. */
  revokeAllForUnit(unitId: string): Promise<void>;
}
