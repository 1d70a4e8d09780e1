import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Queryable } from '../shared/db/database.js';

/** Models whose artefacts belong to a grant and go when it is revoked. */
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

export interface AdapterOptions {
  /** Milliseconds since the epoch; injectable so tests can move the clock. */
  now?: () => number;
}

interface Row {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** No stored identifier contains NUL, and PostgreSQL refuses it in text: such a lookup finds nothing. */
function storable(value: string): boolean {
  return !value.includes('\u0000');
}

function withConsumed(row: Row | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  if (!row.consumed_at) return row.payload;
  return { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) };
}

/**
 * Builds the node-oidc-provider adapter class over PostgreSQL (or embedded PGlite). One table holds every model;
 * each method is one indexed statement. Expired rows are invisible to reads and removed by `sweepExpired`.
 */
export function createAdapter(db: Queryable, options: AdapterOptions = {}): new (name: string) => Adapter {
  const now = options.now ?? Date.now;

  return class PostgresAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const expiresAt = typeof expiresIn === 'number' ? new Date(now() + expiresIn * 1000) : null;
      const grantId = GRANTABLE.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : null;
      await db.query(
        `INSERT INTO oidc_model (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
         ON CONFLICT (model, id) DO UPDATE SET
           payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
           uid = EXCLUDED.uid, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`,
        [
          this.model, id, JSON.stringify(payload), grantId, payload.userCode ?? null, payload.uid ?? null,
          payload.accountId ?? null, expiresAt,
        ],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!storable(id)) return undefined;
      const { rows } = await db.query<Row>(
        `SELECT payload, consumed_at FROM oidc_model
         WHERE model = $1 AND id = $2 AND (expires_at IS NULL OR expires_at > $3)`,
        [this.model, id, new Date(now())],
      );
      return withConsumed(rows[0]);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      if (!storable(uid)) return undefined;
      const { rows } = await db.query<Row>(
        `SELECT payload, consumed_at FROM oidc_model
         WHERE model = $1 AND uid = $2 AND (expires_at IS NULL OR expires_at > $3)`,
        [this.model, uid, new Date(now())],
      );
      return withConsumed(rows[0]);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      if (!storable(userCode)) return undefined;
      const { rows } = await db.query<Row>(
        `SELECT payload, consumed_at FROM oidc_model
         WHERE model = $1 AND user_code = $2 AND (expires_at IS NULL OR expires_at > $3)`,
        [this.model, userCode, new Date(now())],
      );
      return withConsumed(rows[0]);
    }

    /**
     * Marks the artefact consumed. The provider checks `consumed` before calling this, so two requests can both
     * pass that check; the conditional update lets exactly one of them win. A loser is treated like a replay:
     * the grant and everything issued from it are revoked, and the request fails with invalid_grant.
     */
    async consume(id: string): Promise<void> {
      if (!storable(id)) throw new errors.InvalidGrant('grant not found');
      const timestamp = new Date(now());
      const won = await db.query(
        `UPDATE oidc_model SET consumed_at = $3
         WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > $3)`,
        [this.model, id, timestamp],
      );
      if (won.rowCount === 1) return;
      if (!GRANTABLE.has(this.model)) throw new errors.InvalidRequest(`${this.model} already used`);
      const { rows } = await db.query<{ grant_id: string | null }>(
        'SELECT grant_id FROM oidc_model WHERE model = $1 AND id = $2',
        [this.model, id],
      );
      const grantId = rows[0]?.grant_id;
      if (grantId) {
        await db.query("DELETE FROM oidc_model WHERE grant_id = $1 OR (model = 'Grant' AND id = $1)", [grantId]);
      }
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }

    async destroy(id: string): Promise<void> {
      if (!storable(id)) return;
      await db.query('DELETE FROM oidc_model WHERE model = $1 AND id = $2', [this.model, id]);
    }

    /** Removes every artefact issued under the grant (all models), like the provider's reference adapter. */
    async revokeByGrantId(grantId: string): Promise<void> {
      if (!storable(grantId)) return;
      await db.query('DELETE FROM oidc_model WHERE grant_id = $1', [grantId]);
    }
  };
}

/** Deletes expired artefacts in batches; returns how many rows went. */
export async function sweepExpired(db: Queryable, at: Date = new Date(), batch = 5000): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `DELETE FROM oidc_model WHERE ctid IN (
         SELECT ctid FROM oidc_model WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)`,
      [at, batch],
    );
    total += rowCount;
    if (rowCount < batch) return total;
  }
}
