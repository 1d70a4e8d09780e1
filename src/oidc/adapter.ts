import { AsyncLocalStorage, executionAsyncResource } from 'node:async_hooks';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Queryable } from '../shared/db/database.js';
import { forgetRead, forgetReads, keepRead, keepsRequestReads, readOnce } from '../shared/request-reads.js';

/** A save of this token request, sent with the others in one statement (`flushTokenRequest`). */
interface PendingWrite {
  values: unknown[];
  /** The refresh token this one replaces (a rotation): it is recorded as its successor in the same statement. */
  predecessor?: string;
}

/** What the adapter knows of the token request it serves (set by `atomicTokenRequests`). */
interface TokenRequest {
  /** The refresh token consumed by this request; the refresh token it then saves is recorded as its successor. */
  consumedRefresh?: string;
  /** `model id` of the artefacts whose grant lock this request took when it found them (before any row lock). */
  locked: Set<string>;
  /** The saves of this request not sent yet, in order; `flush` sends them (set by the adapter that queued them). */
  pending: PendingWrite[];
  flush?: () => Promise<void>;
}

const tokenRequest = new AsyncLocalStorage<TokenRequest>();

/**
 * Runs `work` as one token request: the refresh-token reuse leeway applies only there, and the request's saves
 * are sent together, in one statement, once `work` has resolved and `keep()` agrees (the caller commits then;
 * otherwise they are dropped, as a rollback would drop them). Inside `Database.ambient` that statement is the
 * transaction's last; when it is its only one (client_credentials), it runs alone, without BEGIN and COMMIT.
 */
export function asTokenRequest<T>(work: () => Promise<T>, keep: (result: T) => boolean = () => true): Promise<T> {
  const request: TokenRequest = { locked: new Set(), pending: [] };
  return tokenRequest.run(request, async () => {
    const result = await work();
    if (keep(result)) await request.flush?.();
    return result;
  });
}

/** Models whose artefacts belong to a grant and go when it is revoked. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);

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
  /**
   * What else the lookup of a token reads within a request that keeps its reads (`withRequestReads`): select-list
   * items over the token row `o` and the LEFT JOINs they need, and `keep`, which records what a found row read for
   * the later steps of the same request (issue #15: introspection in one statement; C-T5, all of it current).
   */
  tokenReads?: TokenReads;
}

export interface TokenReads {
  columns: string;
  joins: string;
  keep(row: Record<string, unknown>): void;
}

/** The models a token endpoint, introspection or userinfo looks up by the value a client presents. */
const TOKEN_MODELS = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken', 'AuthorizationCode']);

/** A database that can send a transaction's last statement alone (`Database.queryLast`). */
type AdapterDatabase = Queryable & { queryLast?: Queryable['query'] };

interface Row {
  payload: AdapterPayload;
  consumed_at: Date | null;
}

/** The parameters of one saved artefact ($1 model … $8 expires_at, shifted by `offset`). */
const upsertValues = (offset: number) => `($${offset + 1}, $${offset + 2}, $${offset + 3}::jsonb, $${offset + 4}, $${offset + 5}, $${offset + 6}, $${offset + 7}, $${offset + 8})`;

/** Saves `rows` artefacts, each replacing the one stored under the same model and id. */
const upsert = (rows: number) => `INSERT INTO oidc_model (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
  VALUES ${Array.from({ length: rows }, (_, index) => upsertValues(index * 8)).join(', ')}
  ON CONFLICT (model, id) DO UPDATE SET
    payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, user_code = EXCLUDED.user_code,
    uid = EXCLUDED.uid, account_id = EXCLUDED.account_id, expires_at = EXCLUDED.expires_at`;

/**
 * The saves of one token request in one statement; a rotation also records the successor on the token it
 * replaces (an existing row: the UPDATE does not need to see the rows the INSERT adds).
 */
function writeStatement(pending: PendingWrite[]): { sql: string; params: unknown[] } {
  const params = pending.flatMap((write) => write.values);
  const rotation = pending.find((write) => write.predecessor);
  if (!rotation) return { sql: upsert(pending.length), params };
  return {
    sql: `WITH saved AS (${upsert(pending.length)} RETURNING id)
      UPDATE oidc_model SET successor_id = $${params.length + 1} WHERE model = 'RefreshToken' AND id = $${params.length + 2}`,
    params: [...params, rotation.values[1], rotation.predecessor],
  };
}

/** What a lookup returns: the row, and what it read with it (see `lookup`). */
interface LookupRow extends Row {
  model: string;
  successor_unused?: boolean;
  grant_id?: string | null;
  account_id?: string | null;
  og_id?: string | null;
  og_payload?: AdapterPayload;
  og_consumed_at?: Date | null;
  os_uid?: string | null;
  os_payload?: AdapterPayload;
  os_consumed_at?: Date | null;
}

/** The kind under which a request keeps the grant read with its token (`src/shared/request-reads.ts`). */
const GRANT_READ = 'oidc-grant';
/** The kind under which a request keeps the session a session-bound token names, read with the token, by uid. */
const SESSION_READ = 'oidc-session-uid';
/**
 * The session of a token that expires with it (`expiresWithSession`: the library then finds that session by the
 * token's `sessionUid` and compares its account and grant), joined to the token's lookup as `os`.
 */
const SESSION_JOIN = `LEFT JOIN oidc_model os ON o.payload->>'expiresWithSession' = 'true' AND os.model = 'Session'
          AND os.uid = o.payload->>'sessionUid' AND (os.expires_at IS NULL OR os.expires_at > $3)`;

/** Artefacts a token request consumes right after finding them. */
const CONSUMED_IN_TOKEN_REQUESTS = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

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
export function createAdapter(db: AdapterDatabase, options: AdapterOptions = {}): new (name: string) => Adapter {
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

  /** Sends the token request's queued saves; `last`: nothing else of the request follows (`Database.queryLast`). */
  const flushWrites = async (request: TokenRequest, last: boolean): Promise<void> => {
    const writes = request.pending.splice(0);
    if (writes.length === 0) return;
    const { sql, params } = writeStatement(writes);
    await (last && db.queryLast ? db.queryLast(sql, params) : db.query(sql, params));
  };
  /** Before any other statement of a token request, its queued saves go first (it reads and deletes after them). */
  const settle = (): Promise<void> | undefined => {
    const request = tokenRequest.getStore();
    return request?.pending.length ? flushWrites(request, false) : undefined;
  };

  /**
   * The lookup of an artefact by its id, for one model or several (`models`). Within a request that keeps its
   * reads, a token's lookup also reads its grant and what `tokenReads` names, by LEFT JOINs (one statement, one
   * snapshot, all current: C-T5) and keeps them for the later steps of that request. Inside a token request, the
   * lookup of a code or refresh token, which the request consumes next, takes its grant's lock (what `consume`
   * would do first, one statement fewer: still before any row lock). With `successor`: whether the successor
   * recorded for a refresh token is unused (the reuse leeway).
   */
  const lookup = async (models: string[], id: string, successor: boolean): Promise<LookupRow[]> => {
    const request = tokenRequest.getStore();
    const many = models.length > 1;
    const lock = !!request && !many && CONSUMED_IN_TOKEN_REQUESTS.has(models[0]!);
    const joined = keepsRequestReads() && models.every((model) => TOKEN_MODELS.has(model));
    const { rows } = await db.query<LookupRow>(
      `SELECT o.model, o.payload, o.consumed_at${successor ? ', (s.id IS NOT NULL AND s.consumed_at IS NULL) AS successor_unused' : ''}${
        lock ? ', pg_advisory_xact_lock(hashtext(o.grant_id)) AS grant_lock' : ''
      }${
        joined
          ? `, o.grant_id, o.account_id, og.id AS og_id, og.payload AS og_payload, og.consumed_at AS og_consumed_at, os.uid AS os_uid, os.payload AS os_payload, os.consumed_at AS os_consumed_at${
              options.tokenReads ? `, ${options.tokenReads.columns}` : ''
            }`
          : ''
      }
       FROM oidc_model o${successor ? ' LEFT JOIN oidc_model s ON s.model = o.model AND s.id = o.successor_id' : ''}${
         joined
           ? ` LEFT JOIN oidc_model og ON og.model = 'Grant' AND og.id = o.grant_id AND (og.expires_at IS NULL OR og.expires_at > $3) ${SESSION_JOIN} ${
               options.tokenReads?.joins ?? ''
             }`
           : ''
       }
       WHERE o.model ${many ? '= ANY($1)' : '= $1'} AND o.id = $2 AND (o.expires_at IS NULL OR o.expires_at > $3)`,
      [many ? models : models[0], id, new Date(now())],
    );
    for (const row of rows) {
      if (lock) request.locked.add(`${row.model} ${id}`);
      if (!joined) continue;
      if (typeof row.grant_id === 'string') {
        const grant: Row | undefined = row.og_id && row.og_payload ? { payload: row.og_payload, consumed_at: row.og_consumed_at ?? null } : undefined;
        keepRead(GRANT_READ, row.grant_id, grant);
      }
      const sessionUid = row.payload.expiresWithSession === true ? row.payload.sessionUid : undefined;
      if (typeof sessionUid === 'string') {
        keepRead(SESSION_READ, sessionUid, row.os_uid && row.os_payload ? { payload: row.os_payload, consumed_at: row.os_consumed_at ?? null } : undefined);
      }
      options.tokenReads?.keep(row as unknown as Record<string, unknown>);
    }
    return rows;
  };

  /**
   * Finds of one id under several models issued together (introspection without `token_type_hint` looks the token
   * up as AccessToken, ClientCredentials and RefreshToken in one `Promise.all`) are answered by one statement. A
   * batch belongs to the code that issued it (its async resource), so it never joins another request's transaction.
   */
  const batches = new WeakMap<object, Map<string, Map<string, Waiter[]>>>();
  const flush = async (id: string, byModel: Map<string, Waiter[]>): Promise<void> => {
    try {
      const rows = await lookup([...byModel.keys()], id, false);
      for (const [model, waiters] of byModel) {
        const row = rows.find((candidate) => candidate.model === model);
        for (const waiter of waiters) waiter.resolve(row);
      }
    } catch (error) {
      for (const waiters of byModel.values()) for (const waiter of waiters) waiter.reject(error);
    }
  };
  const findBatched = (model: string, id: string): Promise<Row | undefined> =>
    new Promise((resolve, reject) => {
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
  const findRowByColumn = async (model: string, column: 'uid' | 'user_code', value: string): Promise<Row | undefined> => {
    if (!storable(value)) return undefined;
    // This request's queued saves go first, so the lookup sees them (issue #15).
    await settle();
    const { rows } = await db.query<Row>(
      `SELECT payload, consumed_at FROM oidc_model
       WHERE model = $1 AND ${column} = $2 AND (expires_at IS NULL OR expires_at > $3)`,
      [model, value, new Date(now())],
    );
    return rows[0];
  };
  const findByColumn = async (model: string, column: 'uid' | 'user_code', value: string): Promise<AdapterPayload | undefined> =>
    withConsumed(await findRowByColumn(model, column, value));

  return class PostgresAdapter implements Adapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const expiresAt = typeof expiresIn === 'number' ? new Date(now() + expiresIn * 1000) : null;
      const grantId = GRANTABLE.has(this.model) && typeof payload.grantId === 'string' ? payload.grantId : null;
      const values = [this.model, id, JSON.stringify(payload), grantId, payload.userCode ?? null, payload.uid ?? null, payload.accountId ?? null, expiresAt];
      if (this.model === 'Grant') forgetRead(GRANT_READ, id);
      if (this.model === 'Session' && typeof payload.uid === 'string') forgetRead(SESSION_READ, payload.uid);
      const request = tokenRequest.getStore();
      if (!request) {
        await db.query(upsert(1), values);
        return;
      }
      // Inside a token request the save is queued and sent with the request's others in one statement, before
      // its next statement or at its end (`asTokenRequest`); a rotation records the successor on the token it
      // replaces in that statement. A second save of one artefact replaces the first one queued.
      const predecessor = this.model === 'RefreshToken' && request.consumedRefresh && request.consumedRefresh !== id ? request.consumedRefresh : undefined;
      if (predecessor) request.consumedRefresh = undefined;
      const queued = request.pending.findIndex((write) => write.values[0] === this.model && write.values[1] === id);
      const write = { values, predecessor: predecessor ?? request.pending[queued]?.predecessor };
      if (queued >= 0) request.pending[queued] = write;
      else request.pending.push(write);
      request.flush ??= () => flushWrites(request, true);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!storable(id)) return undefined;
      // Not awaited when nothing is queued: the finds of one `Promise.all` must reach `findBatched` in one tick.
      const settling = settle();
      if (settling) await settling;
      if (leeway(this.model)) {
        // Within the leeway, a consumed refresh token whose successor is unused is shown as not consumed, so the
        // library redeems it again (`consume` below decides, under a row lock).
        const [row] = await lookup([this.model], id, true);
        if (row?.consumed_at && row.successor_unused && row.consumed_at.getTime() > now() - leewayMs) return row.payload;
        return withConsumed(row);
      }
      // The grant of a token this request found is the one read with it (`lookup`).
      if (this.model === 'Grant') return withConsumed(await readOnce(GRANT_READ, id, () => findBatched(this.model, id)));
      return withConsumed(await findBatched(this.model, id));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      // The session a token of this request is bound to was read with the token (`lookup`).
      if (this.model === 'Session') return withConsumed(await readOnce(SESSION_READ, uid, () => findRowByColumn(this.model, 'uid', uid)));
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
      await settle();
      const timestamp = new Date(now());
      const current = tokenRequest.getStore();
      if (current && GRANTABLE.has(this.model) && !current.locked.has(`${this.model} ${id}`)) {
        // The grant's lock before any row lock: every request redeeming from one grant (the winner, the losers,
        // the library's own revocation) takes the locks in the same order, so parallel redemptions never deadlock.
        // (Taken already when this request found the artefact: `lookup`.)
        await db.query('SELECT pg_advisory_xact_lock(hashtext(grant_id)) FROM oidc_model WHERE model = $1 AND id = $2 AND grant_id IS NOT NULL', [this.model, id]);
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
      const { rows } = await db.query<{ grant_id: string | null }>('SELECT grant_id FROM oidc_model WHERE model = $1 AND id = $2', [this.model, id]);
      const grantId = rows[0]?.grant_id;
      if (grantId) {
        forgetRead(GRANT_READ, grantId);
        await lockGrant(grantId);
        await db.query("DELETE FROM oidc_model WHERE grant_id = $1 OR (model = 'Grant' AND id = $1)", [grantId]);
      }
      throw new errors.InvalidGrant(`${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
    }

    async destroy(id: string): Promise<void> {
      if (!storable(id)) return;
      await settle();
      if (this.model === 'Grant') {
        forgetRead(GRANT_READ, id);
        await lockGrant(id);
      }
      if (this.model === 'Session') forgetReads(SESSION_READ);
      await db.query('DELETE FROM oidc_model WHERE model = $1 AND id = $2', [this.model, id]);
    }

    /** Removes every artefact issued under the grant (all models), like the provider's reference adapter. */
    async revokeByGrantId(grantId: string): Promise<void> {
      if (!storable(grantId)) return;
      await settle();
      forgetRead(GRANT_READ, grantId);
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
 * One batch of the sweep, per kind of row it removes ($1 the bound, $2 the batch size, $3 where the previous batch
 * ended): the rows are found in the order of their partial index (oidc_model_expires_at, oidc_model_consumed_at;
 * without the ORDER BY the planner chose a sequential scan, which reads the whole table when the expired rows lie at
 * its end) from where the last batch stopped (without that lower bound every batch walked the index entries of all
 * the rows the batches before it had deleted, not yet vacuumed: a sweep of 100,000 rows in batches of 1,000 spent
 * most of its time there), and deleted by ctid (a TID scan), so a batch costs its own rows, not a scan of the table;
 * SKIP LOCKED leaves rows a request holds to the next sweep instead of waiting for it (issue #15, Q-P6: the sweep
 * never holds long locks nor makes requests wait).
 */
export const SWEEP_BATCH_STATEMENTS = ['expires_at', 'consumed_at'].map(
  (column) => `DELETE FROM oidc_model WHERE ctid = ANY(ARRAY(
     SELECT ctid FROM oidc_model WHERE ${column} >= $3 AND ${column} <= $1 ORDER BY ${column} LIMIT $2 FOR UPDATE SKIP LOCKED))
   RETURNING ${column} AS at`,
);

/** The lower bound of a sweep's first batch: before any expiry or use. */
export const SWEEP_START = new Date(0);

/**
 * Deletes expired artefacts, and consumed ones past the replay window, in batches of `batch` rows, each batch its
 * own short statement (its locks end with it), with `pauseMs` (SWEEP_PAUSE_MS) between full batches so that a large
 * backlog takes a share of the database and the event loop instead of all of it (issue #15, Q-P6: token-endpoint
 * p99 during the sweep); returns how many rows went.
 */
export async function sweepExpired(db: Queryable, at: Date = new Date(), batch = 5000, pauseMs = 0): Promise<number> {
  let total = 0;
  const bounds = [at, new Date(at.getTime() - REPLAY_DETECTION_MS)];
  for (const [index, sql] of SWEEP_BATCH_STATEMENTS.entries()) {
    let from = SWEEP_START;
    for (;;) {
      const { rows, rowCount } = await db.query<{ at: Date }>(sql, [bounds[index], batch, from]);
      total += rowCount;
      if (rowCount < batch) break;
      // Rows with the same time as the last one deleted may remain: the next batch starts at that time, inclusive.
      from = rows.reduce((latest, row) => (row.at > latest ? row.at : latest), from);
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
  return total;
}
