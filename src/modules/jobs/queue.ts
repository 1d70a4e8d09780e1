import crypto from 'node:crypto';
import type { Queryable, Transaction } from '../../shared/db/database.js';
import type { Jobs, NewJob } from '../../shared/jobs.js';
import { isUuid } from '../../shared/account-id.js';

export type JobState = 'pending' | 'running' | 'done' | 'failed';

export interface ClaimedJob {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  attempts: number;
  maxAttempts: number;
}

export interface FailedJob {
  id: string;
  kind: string;
  /** What the job is about, without message text (a masked recipient or a client id). */
  summary: string;
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface JobQueueOptions {
  maxAttempts: number;
  /** First retry delay; each further attempt doubles it (capped), with ±50% jitter. */
  retryBaseMs: number;
  now?: () => Date;
  /** Random number in [0, 1) for the jitter (injectable for tests). */
  random?: () => number;
}

/** A job claimed by a worker that died is claimed again once its lease has run out. */
const LEASE_MS = 5 * 60 * 1000;
const RETRY_CAP_MS = 15 * 60 * 1000;
/** Delivered jobs are kept a day for inspection, parked ones 30 days for operators, then swept (in batches). */
const DONE_RETENTION_MS = 24 * 3600 * 1000;
const FAILED_RETENTION_MS = 30 * 24 * 3600 * 1000;

function mask(value: unknown): string {
  if (typeof value !== 'string') return '';
  const at = value.indexOf('@');
  if (at > 0) return `${value.slice(0, 1)}***${value.slice(at)}`;
  return value.length > 7 ? `${value.slice(0, 3)}****${value.slice(-4)}` : '****';
}

function summarise(kind: string, payload: Record<string, unknown>): string {
  if (kind === 'notification') return `${String(payload.channel ?? '')} ${mask(payload.to)} (${String(payload.template ?? '')})`;
  if (kind === 'backchannel_logout') return `client ${String(payload.clientId ?? '')}`;
  if (kind === 'webhook') return `client ${String(payload.clientId ?? '')}: ${String(payload.type ?? '')}`;
  if (kind === 'identity_verification') return `person ${String(payload.personId ?? '')}`;
  return '';
}

/**
 * The job queue in the database (S-56). A table of our own rather than graphile-worker or pg-boss: both keep
 * connections of their own (a LISTEN connection, a pool for maintenance) beside ours, which the embedded PGlite,
 * served over a single connection, cannot give; and both install their own schema outside our migrations.
 * Every operation here is one statement on whatever connection the caller has.
 */
export class JobQueue implements Jobs {
  readonly #now: () => Date;
  readonly #random: () => number;
  #listener: (() => void) | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly options: JobQueueOptions,
  ) {
    this.#now = options.now ?? (() => new Date());
    this.#random = options.random ?? Math.random;
  }

  /** The in-process worker is woken after the enqueuing transaction commits (other instances poll). */
  onEnqueued(listener: () => void): void {
    this.#listener = listener;
  }

  async enqueue(tx: Queryable | Transaction, input: NewJob | NewJob[]): Promise<void> {
    const jobs = Array.isArray(input) ? input : [input];
    if (jobs.length === 0) return;
    const at = this.#now();
    await tx.query(
      `INSERT INTO job (id, kind, payload, max_attempts, run_at, created_at, updated_at)
       SELECT unnest($1::uuid[]), unnest($2::text[]), unnest($3::jsonb[]), $4, $5, $5, $5`,
      [jobs.map(() => crypto.randomUUID()), jobs.map((job) => job.kind), jobs.map((job) => JSON.stringify(job.payload)), this.options.maxAttempts, at],
    );
    const listener = this.#listener;
    if (listener && 'afterCommit' in tx) tx.afterCommit(listener);
  }

  /**
   * Claims up to `limit` due jobs: pending ones whose time has come and running ones whose worker's lease ran
   * out. SKIP LOCKED lets workers of every instance claim side by side without waiting for each other.
   */
  async claim(limit: number): Promise<ClaimedJob[]> {
    const at = this.#now();
    const { rows } = await this.db.query<{ id: string; kind: string; payload: Record<string, unknown>; attempts: number; max_attempts: number }>(
      `UPDATE job SET state = 'running', attempts = LEAST(attempts + 1, max_attempts), locked_until = $2, updated_at = $1
       WHERE id IN (
         SELECT id FROM job
         WHERE state IN ('pending', 'running') AND (CASE WHEN state = 'pending' THEN run_at ELSE locked_until END) <= $1
         ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED)
       RETURNING id, kind, payload, attempts, max_attempts`,
      [at, new Date(at.getTime() + LEASE_MS), limit],
    );
    return rows.map((row) => ({ id: row.id, kind: row.kind, payload: row.payload, attempts: row.attempts, maxAttempts: row.max_attempts }));
  }

  /** Delivered: the payload (which may hold a one-time code) is dropped. */
  async complete(id: string): Promise<void> {
    const at = this.#now();
    await this.db.query(
      `UPDATE job SET state = 'done', payload = '{}'::jsonb, locked_until = NULL, last_error = NULL, updated_at = $2, finished_at = $2
       WHERE id = $1 AND state = 'running'`,
      [id, at],
    );
  }

  /** A failed attempt: retried after a backoff with jitter, or parked as failed after the last attempt. */
  async fail(job: ClaimedJob, error: string): Promise<JobState> {
    const at = this.#now();
    const parked = job.attempts >= job.maxAttempts;
    const delay = Math.min(RETRY_CAP_MS, this.options.retryBaseMs * 2 ** (job.attempts - 1)) * (0.5 + this.#random());
    await this.db.query(
      `UPDATE job SET state = $2, run_at = $3, locked_until = NULL, last_error = $4, updated_at = $5,
         finished_at = CASE WHEN $2 = 'failed' THEN $5::timestamptz END
       WHERE id = $1 AND state = 'running'`,
      [job.id, parked ? 'failed' : 'pending', new Date(at.getTime() + delay), error.slice(0, 500), at],
    );
    return parked ? 'failed' : 'pending';
  }

  /** Queue depth by state (for operators and metrics). */
  async counts(): Promise<Record<JobState, number>> {
    const { rows } = await this.db.query<{ state: JobState; count: string }>('SELECT state, count(*) AS count FROM job GROUP BY state');
    const counts: Record<JobState, number> = { pending: 0, running: 0, done: 0, failed: 0 };
    for (const row of rows) counts[row.state] = Number(row.count);
    return counts;
  }

  /** Queue depth by kind and state (read by the metrics at scrape time). */
  async depth(): Promise<{ kind: string; state: string; count: number }[]> {
    const { rows } = await this.db.query<{ kind: string; state: string; count: number }>('SELECT kind, state, count(*)::int AS count FROM job GROUP BY kind, state');
    return rows;
  }

  /** Jobs parked as failed per hour over the last `hours` hours, oldest first (for the operator dashboard). */
  async failedPerHour(hours: number): Promise<number[]> {
    const at = this.#now();
    const { rows } = await this.db.query<{ ago: number; count: number }>(
      `SELECT floor(extract(epoch FROM ($1::timestamptz - finished_at)) / 3600)::int AS ago, count(*)::int AS count
       FROM job WHERE state = 'failed' AND finished_at > $2 AND finished_at <= $1 GROUP BY 1`,
      [at, new Date(at.getTime() - hours * 3600 * 1000)],
    );
    const values = new Array<number>(hours).fill(0);
    for (const row of rows) if (row.ago >= 0 && row.ago < hours) values[hours - 1 - row.ago] = row.count;
    return values;
  }

  async listFailed(limit = 200): Promise<FailedJob[]> {
    const { rows } = await this.db.query<{
      id: string;
      kind: string;
      payload: Record<string, unknown>;
      attempts: number;
      last_error: string | null;
      created_at: Date;
      finished_at: Date | null;
    }>(
      `SELECT id, kind, payload, attempts, last_error, created_at, finished_at FROM job WHERE state = 'failed'
       ORDER BY finished_at DESC LIMIT $1`,
      [limit],
    );
    return rows.map((row) => ({
      id: row.id,
      kind: row.kind,
      summary: summarise(row.kind, row.payload),
      attempts: row.attempts,
      lastError: row.last_error,
      createdAt: row.created_at,
      finishedAt: row.finished_at,
    }));
  }

  /** An operator's retry of a parked job: it starts over with its full number of attempts. */
  async retry(id: string, tx: Queryable | Transaction = this.db): Promise<boolean> {
    if (!isUuid(id)) return false;
    const at = this.#now();
    const { rowCount } = await tx.query(`UPDATE job SET state = 'pending', attempts = 0, run_at = $2, finished_at = NULL, updated_at = $2 WHERE id = $1 AND state = 'failed'`, [
      id,
      at,
    ]);
    const listener = this.#listener;
    if (rowCount === 1 && listener && 'afterCommit' in tx) tx.afterCommit(listener);
    return rowCount === 1;
  }

  /** Deletes delivered and parked jobs past their retention, in batches; returns how many went. */
  async sweep(batch = 5000): Promise<number> {
    const at = this.#now().getTime();
    let total = 0;
    for (;;) {
      const { rowCount } = await this.db.query(
        `DELETE FROM job WHERE id IN (
           SELECT id FROM job WHERE (state = 'done' AND finished_at < $1) OR (state = 'failed' AND finished_at < $2) LIMIT $3)`,
        [new Date(at - DONE_RETENTION_MS), new Date(at - FAILED_RETENTION_MS), batch],
      );
      total += rowCount;
      if (rowCount < batch) return total;
    }
  }
}
