import type { Queryable } from '../shared/db/database.js';
import type { Jobs } from '../shared/jobs.js';
import { aliasedColumns, readOnce, unaliased } from '../shared/request-reads.js';
import type { UnitAccessRevoker } from '../shared/sessions.js';
import { logoutJobs, noticesOf, type StoredSession } from './backchannel.js';
import { SECOND_FACTOR_AMR } from './assurance.js';

export interface GrantUnit {
  grantId: string;
  clientId: string;
  personId: string;
  unitId: string;
  /** The binding that authorised the grant (S-46): the grant holds only while this very binding is in force. */
  bindingId: string;
}

interface GrantUnitRow {
  grant_id: string;
  client_id: string;
  person_id: string;
  unit_id: string;
  binding_id: string;
}

const GRANT_UNIT_FIELDS = ['grant_id', 'client_id', 'person_id', 'unit_id', 'binding_id'] as const;

function toGrantUnit(row: GrantUnitRow): GrantUnit {
  return { grantId: row.grant_id, clientId: row.client_id, personId: row.person_id, unitId: row.unit_id, bindingId: row.binding_id };
}

/** A grant's unit link read by another statement that joins `grant_unit` under `alias` (issue #15: the token lookup). */
export const grantUnitJoin = {
  columns: (alias: string): string => aliasedColumns(alias, GRANT_UNIT_FIELDS),
  read: (row: Record<string, unknown>, alias: string): GrantUnit | undefined => {
    const found = unaliased<GrantUnitRow>(row, alias, GRANT_UNIT_FIELDS, 'grant_id');
    return found && toGrantUnit(found);
  },
};

/**
 * Where the unit chosen in a sign-in lives: node-oidc-provider's Grant cannot hold it, so grant_unit keys it by
 * grant id (one grant per client, person and unit), and session_unit records the identity a person acts as in
 * an SSO session. Also the revocation that ends a person's access for a unit (R-B4, R-B6).
 */
export class UnitGrants implements UnitAccessRevoker {
  constructor(
    private readonly db: Queryable,
    private readonly jobs: Jobs,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async forGrant(grantId: string | undefined): Promise<GrantUnit | undefined> {
    if (!grantId) return undefined;
    // Within a token, introspection or userinfo request, the link its token lookup read already (issue #15).
    return readOnce('grant-unit', grantId, async () => {
      const { rows } = await this.db.query<GrantUnitRow>(`SELECT ${GRANT_UNIT_FIELDS.join(', ')} FROM grant_unit WHERE grant_id = $1`, [grantId]);
      return rows[0] && toGrantUnit(rows[0]);
    });
  }

  /**
   * The newest live grant of this client for this person acting for this unit under this binding (S-46: a grant
   * of an earlier binding of the same pair is never picked up again).
   */
  async findGrant(clientId: string, personId: string, unitId: string, bindingId: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ grant_id: string }>(
      `SELECT g.grant_id FROM grant_unit g JOIN oidc_model m ON m.model = 'Grant' AND m.id = g.grant_id
       WHERE g.client_id = $1 AND g.person_id = $2 AND g.unit_id = $3 AND g.binding_id = $4 AND (m.expires_at IS NULL OR m.expires_at > $5)
       ORDER BY g.created_at DESC LIMIT 1`,
      [clientId, personId, unitId, bindingId, this.now()],
    );
    return rows[0]?.grant_id;
  }

  /** The newest live unit grant of this client for this person, whatever the unit (remembered consent). */
  async latestForClient(clientId: string, personId: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ grant_id: string }>(
      `SELECT g.grant_id FROM grant_unit g JOIN oidc_model m ON m.model = 'Grant' AND m.id = g.grant_id
       WHERE g.client_id = $1 AND g.person_id = $2 AND (m.expires_at IS NULL OR m.expires_at > $3)
       ORDER BY g.created_at DESC LIMIT 1`,
      [clientId, personId, this.now()],
    );
    return rows[0]?.grant_id;
  }

  /**
   * Links a grant to the unit and the binding that authorised it. A grant is linked once: linking it again to
   * the same unit and binding changes nothing; to anything else is refused (false), never silently re-pointed.
   */
  async link(grant: GrantUnit): Promise<boolean> {
    await this.db.query(
      `INSERT INTO grant_unit (grant_id, client_id, person_id, unit_id, binding_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (grant_id) DO NOTHING`,
      [grant.grantId, grant.clientId, grant.personId, grant.unitId, grant.bindingId, this.now()],
    );
    const stored = await this.forGrant(grant.grantId);
    return !!stored && stored.clientId === grant.clientId && stored.personId === grant.personId && stored.unitId === grant.unitId && stored.bindingId === grant.bindingId;
  }

  /** The unit (or null: personally) a person acts as in the SSO session; undefined when never chosen. */
  async sessionUnit(sessionUid: string | undefined): Promise<{ personId: string; unitId: string | null } | undefined> {
    if (!sessionUid) return undefined;
    const { rows } = await this.db.query<{ person_id: string; unit_id: string | null }>('SELECT person_id, unit_id FROM session_unit WHERE session_uid = $1', [sessionUid]);
    return rows[0] && { personId: rows[0].person_id, unitId: rows[0].unit_id };
  }

  async setSessionUnit(sessionUid: string, personId: string, unitId: string | null): Promise<void> {
    await this.db.query(
      `INSERT INTO session_unit (session_uid, person_id, unit_id, selected_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (session_uid) DO UPDATE SET person_id = EXCLUDED.person_id, unit_id = EXCLUDED.unit_id, selected_at = EXCLUDED.selected_at`,
      [sessionUid, personId, unitId, this.now()],
    );
  }

  async clearSessionUnit(sessionUid: string): Promise<void> {
    await this.db.query('DELETE FROM session_unit WHERE session_uid = $1', [sessionUid]);
  }

  async #grantsOf(tx: Queryable, personId: string | undefined, unitId: string): Promise<GrantUnit[]> {
    const { rows } = await tx.query<GrantUnitRow>(
      `SELECT grant_id, client_id, person_id, unit_id, binding_id FROM grant_unit WHERE unit_id = $1 AND ($2::uuid IS NULL OR person_id = $2)`,
      [unitId, personId ?? null],
    );
    return rows.map(toGrantUnit);
  }

  /**
   * R-B4/R-B6: ends the person's access for the unit at once, inside the caller's transaction: every grant for
   * (person, unit) goes with all its codes, access and refresh tokens (introspection inactive, refresh
   * invalid_grant), SSO sessions acting for the unit fall back to asking again, and a back-channel logout job is
   * written for every RP holding a session for it — so a crash after the commit loses nothing (S-56, S-57).
   */
  async revokeUnitAccess(tx: Queryable, personId: string, unitId: string): Promise<void> {
    await this.#revoke(tx, await this.#grantsOf(tx, personId, unitId));
    await tx.query('UPDATE session_unit SET unit_id = NULL, selected_at = $3 WHERE person_id = $1 AND unit_id = $2', [personId, unitId, this.now()]);
  }

  /** Every person's access for a disabled unit. */
  async revokeAllForUnit(tx: Queryable, unitId: string): Promise<void> {
    await this.#revoke(tx, await this.#grantsOf(tx, undefined, unitId));
    await tx.query('UPDATE session_unit SET unit_id = NULL, selected_at = $2 WHERE unit_id = $1', [unitId, this.now()]);
  }

  /**
   * Issue #18, C-T5: the unit now requires a second factor. Every grant for the unit that a sign-in without one
   * could still use goes, as on unbinding (inside the policy change's transaction, S-56, with the back-channel
   * logouts): a grant holding a refresh token or an authorization code whose `amr` has no second factor, or
   * holding none that has one (its access tokens carry no `amr` to tell). Sessions acting for the unit ask again.
   */
  async revokeWithoutSecondFactor(tx: Queryable, unitId: string): Promise<void> {
    const { rows } = await tx.query<GrantUnitRow>(
      `SELECT grant_id, client_id, person_id, unit_id, binding_id FROM grant_unit g WHERE g.unit_id = $1 AND (
         EXISTS (SELECT 1 FROM oidc_model m WHERE m.grant_id = g.grant_id AND m.model IN ('RefreshToken', 'AuthorizationCode')
                 AND NOT (COALESCE(m.payload->'amr', '[]'::jsonb) ?| $2::text[]))
         OR NOT EXISTS (SELECT 1 FROM oidc_model m WHERE m.grant_id = g.grant_id AND m.model IN ('RefreshToken', 'AuthorizationCode')
                 AND (COALESCE(m.payload->'amr', '[]'::jsonb) ?| $2::text[])))`,
      [unitId, [...SECOND_FACTOR_AMR]],
    );
    await this.#revoke(tx, rows.map(toGrantUnit));
    await tx.query('UPDATE session_unit SET unit_id = NULL, selected_at = $2 WHERE unit_id = $1', [unitId, this.now()]);
  }

  /**
   * R-B3/S-42: permissions changed. Outstanding opaque access tokens go (introspection turns inactive); the
   * refresh tokens stay, and the next refresh carries the current set, never more.
   */
  async refreshUnitAccess(tx: Queryable, personId: string, unitId: string): Promise<void> {
    const grants = await this.#grantsOf(tx, personId, unitId);
    if (grants.length === 0) return;
    await tx.query("DELETE FROM oidc_model WHERE model IN ('AccessToken', 'AuthorizationCode') AND grant_id = ANY($1)", [grants.map((g) => g.grantId)]);
  }

  async #revoke(tx: Queryable, grants: GrantUnit[]): Promise<void> {
    if (grants.length === 0) return;
    const ids = grants.map((grant) => grant.grantId);
    const { rows } = await tx.query<{ payload: StoredSession }>(`SELECT payload FROM oidc_model WHERE model = 'Session' AND account_id = ANY($1)`, [
      [...new Set(grants.map((grant) => grant.personId))],
    ]);
    await tx.query("DELETE FROM oidc_model WHERE grant_id = ANY($1) OR (model = 'Grant' AND id = ANY($1))", [ids]);
    await tx.query('DELETE FROM grant_unit WHERE grant_id = ANY($1)', [ids]);
    await this.jobs.enqueue(
      tx,
      logoutJobs(
        noticesOf(
          rows.map((row) => row.payload),
          ids,
        ),
      ),
    );
  }

  /** Removes links whose grant no longer exists (periodic housekeeping). */
  async sweep(): Promise<void> {
    await this.db.query(`DELETE FROM grant_unit g WHERE NOT EXISTS (SELECT 1 FROM oidc_model m WHERE m.model = 'Grant' AND m.id = g.grant_id)`);
    await this.db.query(`DELETE FROM session_unit s WHERE NOT EXISTS (SELECT 1 FROM oidc_model m WHERE m.model = 'Session' AND m.uid = s.session_uid)`);
  }
}
