import type { Queryable } from './db/database.js';

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
   * enqueues back-channel logout jobs for the relying parties that held those sessions — all in `tx` (the
   * transaction of the state change, S-56) or, without one, in a transaction of its own.
   */
  endAll(accountId: string, options: { keepSessionUid?: string | undefined }, tx?: Queryable): Promise<void>;
  /** The grants (signed-in clients) of an account, newest first. */
  listGrants(accountId: string): Promise<GrantSummary[]>;
  /** Revokes one grant and everything issued under it. */
  revokeGrant(accountId: string, grantId: string): Promise<boolean>;
}

/** What must happen when a person's access for a unit ends or shrinks (R-B3, R-B4, R-B6); implemented in src/oidc. */
export interface UnitAccessRevoker {
  /**
   * Unbinding, expiry: every grant and token for (person, unit) goes and back-channel logout jobs are enqueued,
   * in the caller's transaction `tx` (revocation is part of the state change, S-56).
   */
  revokeUnitAccess(tx: Queryable, personId: string, unitId: string): Promise<void>;
  /** Narrowed permissions: outstanding access tokens go; the next refresh carries the current set. */
  refreshUnitAccess(tx: Queryable, personId: string, unitId: string): Promise<void>;
  /** A disabled unit: everyone's access for it. */
  revokeAllForUnit(tx: Queryable, unitId: string): Promise<void>;
  /** The unit now requires a second factor: every grant for it that a sign-in without one could still use (issue #18). */
  revokeWithoutSecondFactor(tx: Queryable, unitId: string): Promise<void>;
}
