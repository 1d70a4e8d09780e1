// A plain PostgreSQL adapter for bare node-oidc-provider: the floor of "node-oidc-provider on PostgreSQL" that
// Q-P2's ratio is read against next to the in-memory one (bench/README.md). It is what an integrator following
// the library's adapter interface would write: one table, one parameterised statement per method, nothing
// batched, joined or cached; consumption is a plain UPDATE. It has none of our guarantees (no locks against
// parallel redemption, no per-request reads of current data, no unit claims): it only prices the round trips.
import pg from 'pg';
import type { Adapter, AdapterPayload } from 'oidc-provider';

export const BARE_PG_SCHEMA = `CREATE TABLE IF NOT EXISTS bare_oidc (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  uid text,
  user_code text,
  expires_at timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX IF NOT EXISTS bare_oidc_grant ON bare_oidc (grant_id);
CREATE INDEX IF NOT EXISTS bare_oidc_uid ON bare_oidc (model, uid);
CREATE INDEX IF NOT EXISTS bare_oidc_user_code ON bare_oidc (model, user_code)`;

const LIVE = '(expires_at IS NULL OR expires_at > now())';

interface Stored {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

function payloadOf(row: Stored | undefined): AdapterPayload | undefined {
  if (!row) return undefined;
  return row.consumed_at ? { ...row.payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : row.payload;
}

/** The adapter class node-oidc-provider instantiates per model, over one pool. */
export function barePgAdapter(pool: pg.Pool): new (model: string) => Adapter {
  return class BarePgAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      await pool.query(
        `INSERT INTO bare_oidc (model, id, payload, grant_id, uid, user_code, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
           user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`,
        [this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.uid ?? null, payload.userCode ?? null, expiresIn ?? null],
      );
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const { rows } = await pool.query<Stored>(`SELECT payload, consumed_at FROM bare_oidc WHERE model = $1 AND id = $2 AND ${LIVE}`, [this.model, id]);
      return payloadOf(rows[0]);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const { rows } = await pool.query<Stored>(`SELECT payload, consumed_at FROM bare_oidc WHERE model = $1 AND uid = $2 AND ${LIVE}`, [this.model, uid]);
      return payloadOf(rows[0]);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const { rows } = await pool.query<Stored>(`SELECT payload, consumed_at FROM bare_oidc WHERE model = $1 AND user_code = $2 AND ${LIVE}`, [this.model, userCode]);
      return payloadOf(rows[0]);
    }

    async consume(id: string): Promise<void> {
      await pool.query('UPDATE bare_oidc SET consumed_at = now() WHERE model = $1 AND id = $2', [this.model, id]);
    }

    async destroy(id: string): Promise<void> {
      await pool.query('DELETE FROM bare_oidc WHERE model = $1 AND id = $2', [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await pool.query('DELETE FROM bare_oidc WHERE grant_id = $1', [grantId]);
    }
  };
}
