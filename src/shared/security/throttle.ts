import type { Queryable } from '../db/database.js';
import { metrics } from '../metrics.js';
import { AppError } from '../errors.js';

export interface LockoutPolicy {
  /** Failures allowed within the window before a lockout. */
  limit: number;
  windowSeconds: number;
  /** First lockout; each further one doubles, up to `maxLockSeconds` (a lockout is never permanent, S-21). */
  lockSeconds: number;
  maxLockSeconds: number;
}

export interface ReservationEntry {
  key: string;
  policy: LockoutPolicy;
  /** Forget the key's failures when the check succeeds (an account's count); otherwise only the attempt is returned. */
  resetOnSuccess?: boolean;
}

export interface TakenAttempt {
  allowed: boolean;
  retryAfterSeconds: number;
  /** The lockout this attempt placed by reaching the limit (lifted again when it succeeds). */
  placedLock?: Date | undefined;
  limit?: number;
}

export interface Reservation {
  succeeded(): Promise<void>;
  /** The keys on which this attempt placed a lockout (it reached the limit). */
  readonly placedLocks: readonly string[];
}

/**
 * Gives back one plain attempt on each of the keys (the array parameter `keys`) unless the key is locked at `now`:
 * a lockout stays until it ends (`giveBack` lifts the one an attempt itself placed).
 */
function giveBackSql(keys: string, now: string): string {
  return `UPDATE rate_limit SET count = GREATEST(count - 1, 0) WHERE key = ANY(${keys}::text[]) AND (locked_until IS NULL OR locked_until <= ${now})`;
}

/**
 * Counters in the database, shared by every instance (S-21, S-52). Keys name what is counted, e.g.
 * `login:account:zhangsan` or `login:ip:10.0.0.1`.
 */
export class Throttle {
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Takes one attempt for `key` before the secret is checked (S-26). The count goes up in one statement (its row
   * lock serialises concurrent attempts on one key, on PostgreSQL and PGlite alike), so N parallel attempts count N;
   * a locked key is left as it is. The attempt is allowed when the key was not locked and the count is within the
   * limit; the attempt that reaches the limit places the lockout (doubling, never permanent), so every later one is
   * refused at once, before any hash, while it lasts.
   */
  async take(key: string, policy: LockoutPolicy): Promise<TakenAttempt> {
    const now = this.now();
    const [row] = await this.#count([{ key, policy }], now);
    return this.#judge(key, policy, row, now);
  }

  /**
   * Counts one attempt on each key in one statement (issue #15, Q-P1: a sign-in's account and IP together), in
   * the order given, so that concurrent attempts on the same keys take the row locks in the same order. The keys
   * must differ (one statement cannot change a row twice). Returns each key's row, in that order.
   */
  async #count(entries: readonly { key: string; policy: LockoutPolicy }[], now: Date): Promise<({ count: number; locked_until: Date | null } | undefined)[]> {
    const keys = entries.map((entry) => entry.key);
    const { rows } = await this.db.query<{ key: string; count: number; locked_until: Date | null }>(
      `INSERT INTO rate_limit AS r (key, window_start, count)
       SELECT key, $2::timestamptz, 1 FROM unnest($1::text[]) WITH ORDINALITY AS input(key, position) ORDER BY position
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN r.locked_until > $2 THEN r.count
                      WHEN r.window_start <= ($3::timestamptz[])[array_position($1::text[], EXCLUDED.key)] THEN 1 ELSE r.count + 1 END,
         window_start = CASE WHEN r.locked_until > $2 OR r.window_start > ($3::timestamptz[])[array_position($1::text[], EXCLUDED.key)]
                             THEN r.window_start ELSE $2 END
       RETURNING key, count, locked_until`,
      [keys, now, entries.map((entry) => new Date(now.getTime() - entry.policy.windowSeconds * 1000))],
    );
    return keys.map((key) => rows.find((row) => row.key === key));
  }

  /** The attempt `row` counted: refused while locked; the one that reaches the limit places the lockout. */
  async #judge(key: string, policy: LockoutPolicy, row: { count: number; locked_until: Date | null } | undefined, now: Date): Promise<TakenAttempt> {
    const lockedUntil = row?.locked_until?.getTime() ?? 0;
    if (!row || lockedUntil > now.getTime()) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((lockedUntil - now.getTime()) / 1000)) };
    if (row.count < policy.limit) return { allowed: true, retryAfterSeconds: 0 };
    // The limit is reached: lock now (once, whoever gets here first). The attempt that reached it still runs.
    const { rows: placed } = await this.db.query<{ locked_until: Date }>(
      `UPDATE rate_limit SET
         locked_until = $2::timestamptz + make_interval(secs => LEAST($4::float8, $3::float8 * power(2, LEAST(lockouts, 16)))),
         lockouts = lockouts + 1, count = 0, window_start = $2
       WHERE key = $1 AND (locked_until IS NULL OR locked_until <= $2)
       RETURNING locked_until`,
      [key, now, policy.lockSeconds, policy.maxLockSeconds],
    );
    if (placed[0]) metrics.lockout(key);
    const seconds = Math.max(1, Math.ceil(((placed[0]?.locked_until.getTime() ?? now.getTime()) - now.getTime()) / 1000));
    if (row.count > policy.limit) return { allowed: false, retryAfterSeconds: seconds };
    return { allowed: true, retryAfterSeconds: 0, placedLock: placed[0]?.locked_until, limit: policy.limit };
  }

  /**
   * Gives back an attempt taken with `take` because the check succeeded: the count goes down, and a lockout that this
   * very attempt placed (it reached the limit) is lifted again.
   */
  async giveBack(key: string, attempt: TakenAttempt): Promise<void> {
    if (attempt.placedLock) {
      await this.db.query('UPDATE rate_limit SET locked_until = NULL, lockouts = GREATEST(lockouts - 1, 0), count = $3 WHERE key = $1 AND locked_until = $2', [
        key,
        attempt.placedLock,
        Math.max(0, (attempt.limit ?? 1) - 1),
      ]);
      return;
    }
    await this.db.query(giveBackSql('$1', '$2'), [[key], this.now()]);
  }

  /**
   * Reserve before verify (S-26): takes an attempt on every key, in order, before the caller checks a password,
   * code or TOTP; refuses with `account_locked` (429, no hash spent) when any key is locked, giving back what it
   * already took (`refusal`: `too_many_requests` where the code entered is not a sign-in, e.g. a recovery code).
   * The refusal carries the wait (`seconds`). On success the caller calls `succeeded()`: keys marked `resetOnSuccess` are forgotten (the
   * account's failures), the others get their attempt back (the per-IP count). A failure needs nothing more.
   */
  async reserve(entries: readonly ReservationEntry[], refusal: 'account_locked' | 'too_many_requests' = 'account_locked'): Promise<Reservation> {
    const taken: [ReservationEntry, TakenAttempt][] = [];
    const now = this.now();
    // Every key counted in one statement when they differ (issue #15); judged in order, as one by one would.
    const distinct = new Set(entries.map((entry) => entry.key)).size === entries.length;
    const counted = distinct && entries.length > 1 ? await this.#count(entries, now) : undefined;
    for (const [index, entry] of entries.entries()) {
      const attempt = counted ? await this.#judge(entry.key, entry.policy, counted[index], now) : await this.take(entry.key, entry.policy);
      if (!attempt.allowed) {
        for (const [earlier, earlierAttempt] of taken) await this.giveBack(earlier.key, earlierAttempt);
        // The keys after it were counted too (one statement): their attempts go back, as if never taken. A locked
        // one was not counted, and giveBack leaves a locked key alone.
        if (counted && index + 1 < entries.length) await this.db.query(giveBackSql('$1', '$2'), [entries.slice(index + 1).map((later) => later.key), this.now()]);
        throw new AppError(refusal, { params: { seconds: attempt.retryAfterSeconds } });
      }
      taken.push([entry, attempt]);
    }
    return {
      placedLocks: taken.filter(([, attempt]) => attempt.placedLock).map(([entry]) => entry.key),
      succeeded: async () => {
        // The usual success in one statement (issue #15, Q-P1): the reset keys forgotten and the plain attempts given
        // back together; an attempt that placed a lockout lifts it with its own statement (`giveBack`).
        const reset = taken.filter(([entry]) => entry.resetOnSuccess).map(([entry]) => entry.key);
        const returned = taken.filter(([entry, attempt]) => !entry.resetOnSuccess && !attempt.placedLock).map(([entry]) => entry.key);
        if (reset.length > 0 || returned.length > 0) {
          await this.db.query(
            `WITH forgotten AS (DELETE FROM rate_limit WHERE key = ANY($1::text[]))
             ${giveBackSql('$2', '$3')}`,
            [reset, returned, this.now()],
          );
        }
        for (const [entry, attempt] of taken) {
          if (!entry.resetOnSuccess && attempt.placedLock) await this.giveBack(entry.key, attempt);
        }
      },
    };
  }

  /** Forgets failures (after a success). */
  async reset(key: string): Promise<void> {
    await this.db.query('DELETE FROM rate_limit WHERE key = $1', [key]);
  }

  /**
   * A plain rate limit: counts the event and answers whether it is within `limit` per `windowSeconds`.
   */
  async allow(key: string, limit: number, windowSeconds: number): Promise<boolean> {
    return (await this.count(key, limit, windowSeconds)).allowed;
  }

  /**
   * `allow` with the wait: when the event is over the limit, the seconds until its window ends (what a person is
   * told and what `Retry-After` carries).
   */
  async count(key: string, limit: number, windowSeconds: number): Promise<LimitResult> {
    const now = this.now();
    const { rows } = await this.db.query<{ count: number; window_start: Date }>(
      `INSERT INTO rate_limit (key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN rate_limit.window_start <= $3 THEN 1 ELSE rate_limit.count + 1 END,
         window_start = CASE WHEN rate_limit.window_start <= $3 THEN $2 ELSE rate_limit.window_start END
       RETURNING count, window_start`,
      [key, now, new Date(now.getTime() - windowSeconds * 1000)],
    );
    const row = rows[0];
    if (!row || row.count <= limit) return { allowed: true, retryAfterSeconds: 0 };
    const ends = new Date(row.window_start).getTime() + windowSeconds * 1000;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((ends - now.getTime()) / 1000)) };
  }
}

export interface LimitResult {
  allowed: boolean;
  retryAfterSeconds: number;
}

/**
 * Refuses with `too_many_requests` (429) when any of the counted limits is exceeded, with the longest of their
 * waits (`seconds`: the message says how long, the JSON answer's Retry-After carries it).
 */
export function assertWithinLimits(...results: LimitResult[]): void {
  const refused = results.filter((result) => !result.allowed);
  if (refused.length > 0) throw new AppError('too_many_requests', { params: { seconds: Math.max(...refused.map((result) => result.retryAfterSeconds)) } });
}

/** Sign-in failures per account: 5 in 15 minutes lock for 1 minute, doubling up to 15 minutes. */
export const ACCOUNT_LOCKOUT: LockoutPolicy = { limit: 5, windowSeconds: 15 * 60, lockSeconds: 60, maxLockSeconds: 15 * 60 };
/** Sign-in failures per client IP across accounts (password spraying). */
export const IP_LOCKOUT: LockoutPolicy = { limit: 50, windowSeconds: 15 * 60, lockSeconds: 5 * 60, maxLockSeconds: 60 * 60 };
