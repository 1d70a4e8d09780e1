import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Queryable } from '../shared/db/database.js';

/** What the adapter knows of the token request it serves (set by `atomicTokenRequests`). */
interface TokenRequest {
  /** The refresh token consumed by this request; the refresh token it then saves is recorded as its successor. */
  consumedRefresh?: string;
}

const tokenRequest = new AsyncLocalStorage<TokenRequest>();

/** Runs `work` as one token request: the refresh-token reuse leeway applies only there. */
export function asTokenRequest<T>(work: () => Promise<T>): Promise<T> {
  return tokenRequest.run({}, work);
}

/** Models whose artefacts belong to a grant and go when it is revoked. */
const GRANTABLE = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

export interface AdapterOptions {
  /** Milliseconds since the epoch; injectable so tests can move the clock. */
  now?: () => number;
  /**
   * Seconds after its consumption during which a refresh token may be redeemed again, as long as the successor
   * issued for it was never used (the client did not receive the response, S-55). 0: never.
   */
  refreshReuseSeconds?: number;
  /** Test-only fault injection: called right after a refresh token is consumed, before anything is saved. */
  afterRefreshConsumed?: () => Promise<void>;
}

interface Row {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** Saves an artefact ($1 model … $8 expires_at), replacing the one stored under the same model and id. */
const UPSERT = `INSERT INTO oidc_model (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
  VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)
  ON CONFLICT (model, id) DO UPDATE SET
    payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
    uid = EXCLUDED.uid, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`;

/** No stored identifier contains NUL, and PostgreSQL refuses it in text: such a lookup finds nothing. */
function storable(value: string): boolean {
  return !value.includes('\u0000');
}

/** A find waiting for its batch's statement. */
interface Waiter {
  resolve: (row: Row | undefined) => void;
  reject: (error: unknown) => void;
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
  const leewayMs = (options.refreshReuseSeconds ?? 0) * 1000;
  /**
   * Revocations of one grant take turns: inside a token request a revocation keeps its row locks until the commit,
   * and parallel losers of one redemption race (ours and the library's own revoke) would otherwise delete the same
   * rows in different orders and deadlock. Outside a transaction the lock ends with the statement.
   */
  const lockGrant = (grantId: string) => db.query('SELECT pg_advisory_xact_lock(hashtext($1))', [grantId]);
  /** The leeway applies to refresh tokens, inside a token request (never to introspection or revocation). */
  const leeway = (model: string): TokenRequest | undefined => (model === 'RefreshToken' && leewayMs > 0 ? tokenRequest.getStore() : undefined);

  /**
   * Finds of one id under several models issued together (introspection without `token_type_hint` looks the token
   * up as AccessToken, ClientCredentials and RefreshToken in one `Promise.all`) are answered by one statement. A
   * batch belongs to the code that issued it (its async resource), so it never joins another request's transaction.
   */
  const batches = new WeakMap<object, Map<string, Map<string, Waiter[]>>>();
  const flush = async (id: string, byModel: Map<string, Waiter[]>): Promise<void> => {
    const models = [...byModel.keys()];
    const params = [models.length === 1 ? models[0] : models, id, new Date(now())];
    try {
      const { rows } = await db.query<Row & { model: string }>(
        `SELECT model, payload, consumed_at FROM oidc_model
         WHERE model ${models.length === 1 ? '= $1' : '= ANY($1)'} AND id = $2 AND (expires_at IS NULL OR expires_at > $3)`,
        params,
      );
      for (const [model, waiters] of byModel) {
        const row = rows.find((candidate) => candidate.model === model);
        for (const waiter of waiters) waiter.resolve(row);
      }
    } catch (error) {
      for (const waiters of byModel.values()) for (const waiter of waiters) waiter.reject(error);
    }
  };
  const findBatched = (model: string, id: string): Promise<Row | undefined> => new Promise((resolve, reject) => {
    const owner = executionAsyncResource();
    let pending = batches.get(owner);
    if (!pending) {
      pending = new Map();
      batches.set(owner, pending);
    }
    let byModel = pending.get(id);
    if (!byModel) {
      const batch = new Map<string, Waiter[]>();
      byModel = batch;
      const issued = pending;
      issued.set(id, batch);
      queueMicrotask(() => {
        issued.delete(id);
        void flush(id, batch);
      });
    }
    byModel.set(model, [...(byModel.get(model) ?? []), { resolve, reject }]);
  });

  /** A live record of a model found by one of its secondary keys (the column is one of ours, never input). */
  const findByColumn = async (model: string, column: 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> => {
    if (!storable(value)) return undefined;
    const { rows } = await db.query<Row>(
      `SELECT payload, consumed_at FROM oidc_model
       WHERE model = $1 AND ${column} = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [model, value, new Date(now())],
    );
    return withConsumed(rows[0]);
  };

  return class PostgresAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const expiresAt = typeof expiresIn === 'number' ? new Date(now() + expiresIn * 1000) : null;
      const grantId = GRANTABLE.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : null;
      const values = [
        this.model, id, JSON.stringify(payload), grantId, payload.userCode ?? null, payload.uid ?? null,
        payload.accountId ?? null, expiresAt,
      ];
      const request = this.model === 'RefreshToken' ? tokenRequest.getStore() : undefined;
      const predecessor = request?.consumedRefresh && request.consumedRefresh !== id ? request.consumedRefresh : undefined;
      if (!predecessor) {
        await db.query(UPSERT, values);
        return;
      }
      // A rotation: the successor is saved and recorded on the token it replaces in one statement.
      await db.query(
        `WITH saved AS (${UPSERT} RETURNING id)
         UPDATE oidc_model SET successor_id = (SELECT id FROM saved) WHERE model = 'RefreshToken' AND id = $9`,
        [...values, predecessor],
      );
      if (request) request.consumedRefresh = undefined;
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!storable(id)) return undefined;
      if (leeway(this.model)) {
        // Within the leeway, a consumed refresh token whose successor is unused is shown as not consumed, so the
        // library redeems it again (`consume` below decides, under a row lock).
        const { rows } = await db.query<Row & { successor_unused: boolean }>(
          `SELECT o.payload, o.consumed_at, (s.id IS NOT NULL AND s.consumed_at IS NULL) AS successor_unused
           FROM oidc_model o LEFT JOIN oidc_model s ON s.model = o.model AND s.id = o.successor_id
           WHERE o.model = $1 AND o.id = $2 AND (o.expires_at IS NULL OR o.expires_at > $3)`,
          [this.model, id, new Date(now())],
        );
        const row = rows[0];
        if (row?.consumed_at && row.successor_unused && row.consumed_at.getTime() > now() - leewayMs) return row.payload;
        return withConsumed(row);
      }
      return withConsumed(await findBatched(this.model, id));
    }

    findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return findByColumn(this.model, 'uid', uid);
    }

    findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return findByColumn(this.model, 'user_code', userCode);
    }

    /**
     * Marks the artefact consumed. The provider checks `consumed` before calling this, so two requests can both
     * pass that check; the conditional update lets exactly one of them win. A loser is treated like a replay:
     * the grant and everything issued from it are revoked, and the request fails with invalid_grant.
     */
    async consume(id: string): Promise<void> {
      if (!storable(id)) throw new errors.InvalidGrant('grant not found');
      const timestamp = new Date(now());
      if (tokenRequest.getStore() && GRANTABLE.has(this.model)) {
        // The grant's lock before any row lock: every request redeeming from one grant (the winner, the losers,
        // the library's own revocation) takes the locks in the same order, so parallel redemptions never deadlock.
        await db.query(
          'SELECT pg_advisory_xact_lock(hashtext(grant_id)) FROM oidc_model WHERE model = $1 AND id = $2 AND grant_id IS NOT NULL',
          [this.model, id],
        );
      }
      const request = leeway(this.model);
      if (request) {
        if (await this.#consumeWithLeeway(id, timestamp)) {
          request.consumedRefresh = id;
          await options.afterRefreshConsumed?.();
          return;
        }
        await this.#replayed(id);
      }
      const won = await db.query(
        `UPDATE oidc_model SET consumed_at = $3
         WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > $3)`,
        [this.model, id, timestamp],
      );
      if (won.rowCount === 1) {
        if (this.model === 'RefreshToken') {
          const current = tokenRequest.getStore();
          if (current) current.consumedRefresh = id;
          await options.afterRefreshConsumed?.();
        }
        return;
      }
      await this.#replayed(id);
    }

    /**
     * Consumes a refresh token inside a token request (one transaction, S-55). The row lock makes parallel
     * redemptions take turns. A token already consumed is redeemed again only within the leeway and only while
     * the successor issued for it is unused — proof that the client never got it; that successor is deleted, so a
     * chain keeps one live token. Anything else is a replay.
     */
    async #consumeWithLeeway(id: string, timestamp: Date): Promise<boolean> {
      // The usual case, a token not consumed yet, in one statement (it takes the row lock the SELECT below would).
      const fresh = await db.query(
        `UPDATE oidc_model SET consumed_at = $3
         WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND (expires_at IS NULL OR expires_at > $3)`,
        [this.model, id, timestamp],
      );
      if (fresh.rowCount === 1) return true;
      const { rows } = await db.query<{ consumed_at: Date | null; successor_id: string | null; successor_unused: boolean }>(
        `SELECT o.consumed_at, o.successor_id, (s.id IS NOT NULL AND s.consumed_at IS NULL) AS successor_unused
         FROM oidc_model o LEFT JOIN oidc_model s ON s.model = o.model AND s.id = o.successor_id
         WHERE o.model = $1 AND o.id = $2 AND (o.expires_at IS NULL OR o.expires_at > $3)
         FOR UPDATE OF o`,
        [this.model, id, timestamp],
      );
      const row = rows[0];
      if (!row) return false;
      if (!row.consumed_at) {
        await db.query('UPDATE oidc_model SET consumed_at = $3 WHERE model = $1 AND id = $2', [this.model, id, timestamp]);
        return true;
      }
      if (!row.successor_unused || row.consumed_at.getTime() <= timestamp.getTime() - leewayMs) return false;
      await db.query('DELETE FROM oidc_model WHERE model = $1 AND id = $2 AND consumed_at IS NULL', [this.model, row.successor_id]);
      return true;
    }

    /** A lost race or a replay: the grant and everything issued from it are revoked (S-7). */
    async #replayed(id: string): Promise<never> {
      if (!GRANTABLE.has(this.model)) throw new errors.InvalidRequest(`${this.model} already used`);
      const { rows } = await db.query<{ grant_id: string | null }>(
        'SELECT grant_id FROM oidc_model WHERE model = $1 AND id = $2',
        [this.model, id],
      );
      const grantId = rows[0]?.grant_id;
      if (grantId) {
        await lockGrant(grantId);
        await db.query("DELETE FROM oidc_model WHERE grant_id = $1 OR (model = 'Grant' AND id = $1)", [grantId]);
      }
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }

    async destroy(id: string): Promise<void> {
      if (!storable(id)) return;
      if (this.model === 'Grant') await lockGrant(id);
      await db.query('DELETE FROM oidc_model WHERE model = $1 AND id = $2', [this.model, id]);
    }

    /** Removes every artefact issued under the grant (all models), like the provider's reference adapter. */
    async revokeByGrantId(grantId: string): Promise<void> {
      if (!storable(grantId)) return;
      await lockGrant(grantId);
      await db.query('DELETE FROM oidc_model WHERE grant_id = $1', [grantId]);
    }
  };
}

/**
 * How long a consumed code or refresh token is kept after its use, so that a replay is still recognised (and
 * revokes its grant, S-7) instead of meeting an unknown token; far longer than the reuse leeway.
 */
export const REPLAY_DETECTION_MS = 24 * 3600 * 1000;

/**
 * One batch of the sweep, per kind of row it removes ($1 the bound, $2 the batch size): the rows are found in the
 * order of their partial index (oidc_model_expires_at, oidc_model_consumed_at; without the ORDER BY the planner
 * chose a sequential scan, which reads the whole table when the expired rows lie at its end) and deleted by ctid
 * (a TID scan), so a batch
 * costs its own rows, not a scan of the table; SKIP LOCKED leaves rows a request holds to the next sweep instead of
 * waiting for it (issue #15, Q-P6: the sweep never holds long locks nor makes requests wait).
 */
export const SWEEP_BATCH_STATEMENTS = ['expires_at', 'consumed_at'].map((column) => `DELETE FROM oidc_model WHERE ctid = ANY(ARRAY(
     SELECT ctid FROM oidc_model WHERE ${column} IS NOT NULL AND ${column} <= $1 ORDER BY ${column} LIMIT $2 FOR UPDATE SKIP LOCKED))`);

/**
 * Deletes expired artefacts, and consumed ones past the replay window, in batches of `batch` rows, each batch its
 * own short statement (its locks end with it); returns how many rows went.
 */
export async function sweepExpired(db: Queryable, at: Date = new Date(), batch = 5000): Promise<number> {
  let total = 0;
  const bounds = [at, new Date(at.getTime() - REPLAY_DETECTION_MS)];
  for (const [index, sql] of SWEEP_BATCH_STATEMENTS.entries()) {
    for (;;) {
      const { rowCount } = await db.query(sql, [bounds[index], batch]);
      total += rowCount;
      if (rowCount < batch) break;
    }
  }
  return total;
}
