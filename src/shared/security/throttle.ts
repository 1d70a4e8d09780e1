import type { Queryable } from '../db/database.js';
import { metrics } from '../metrics.js';

export interface LockoutPolicy {
  /** Failures allowed within the window before a lockout. */
  limit: number;
  windowSeconds: number;
  /** First lockout; each further one doubles, up to `maxLockSeconds` (a lockout is never permanent, S-21). */
  lockSeconds: number;
  maxLockSeconds: number;
}

export interface ThrottleState {
  locked: boolean;
  retryAfterSeconds: number;
}

interface Row {
  count: number;
  lockouts: number;
  locked_until: Date | null;
}

/**
 * Counters in the database, shared by every instance (S-21, S-52). Keys name what is counted, e.g.
 * `login:account:zhangsan` or `login:ip:10.0.0.1`.
 */
export class Throttle {
  constructor(private readonly db: Queryable, private readonly now: () => Date = () => new Date()) {}

  /** Whether any of the keys is locked now, and for how long. */
  async state(keys: string[]): Promise<ThrottleState> {
    const now = this.now();
    const { rows } = await this.db.query<{ locked_until: Date }>(
      'SELECT locked_until FROM rate_limit WHERE key = ANY($1) AND locked_until > $2',
      [keys, now],
    );
    const until = Math.max(0, ...rows.map((row) => row.locked_until.getTime()));
    return { locked: until > 0, retryAfterSeconds: until > 0 ? Math.ceil((until - now.getTime()) / 1000) : 0 };
  }

  /** Counts one failure; locks the key when the policy's limit is reached within its window. */
  async fail(key: string, policy: LockoutPolicy): Promise<ThrottleState> {
    const now = this.now();
    const { rows } = await this.db.query<Row>(
      `INSERT INTO rate_limit (key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN rate_limit.window_start <= $3 THEN 1 ELSE rate_limit.count + 1 END,
         window_start = CASE WHEN rate_limit.window_start <= $3 THEN $2 ELSE rate_limit.window_start END
       RETURNING count, lockouts, locked_until`,
      [key, now, new Date(now.getTime() - policy.windowSeconds * 1000)],
    );
    const row = rows[0];
    if (!row || row.count < policy.limit) return { locked: false, retryAfterSeconds: 0 };
    const seconds = Math.min(policy.maxLockSeconds, policy.lockSeconds * 2 ** Math.min(row.lockouts, 16));
    await this.db.query(
      `UPDATE rate_limit SET locked_until = $2, lockouts = lockouts + 1, count = 0, window_start = $3 WHERE key = $1`,
      [key, new Date(now.getTime() + seconds * 1000), now],
    );
    metrics.lockout(key);
    return { locked: true, retryAfterSeconds: seconds };
  }

  /** Forgets failures (after a success). */
  async reset(key: string): Promise<void> {
    await this.db.query('DELETE FROM rate_limit WHERE key = $1', [key]);
  }

  /**
   * A plain rate limit: counts the event and answers whether it is within `limit` per `windowSeconds`.
   */
  async allow(key: string, limit: number, windowSeconds: number): Promise<boolean> {
    const now = this.now();
    const { rows } = await this.db.query<{ count: number }>(
      `INSERT INTO rate_limit (key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN rate_limit.window_start <= $3 THEN 1 ELSE rate_limit.count + 1 END,
         window_start = CASE WHEN rate_limit.window_start <= $3 THEN $2 ELSE rate_limit.window_start END
       RETURNING count`,
      [key, now, new Date(now.getTime() - windowSeconds * 1000)],
    );
    return (rows[0]?.count ?? 0) <= limit;
  }
}

/** Sign-in failures per account: 5 in 15 minutes lock for 1 minute, doubling up to 15 minutes. */
export const ACCOUNT_LOCKOUT: LockoutPolicy = { limit: 5, windowSeconds: 15 * 60, lockSeconds: 60, maxLockSeconds: 15 * 60 };
/** Sign-in failures per client IP across accounts (password spraying). */
export const IP_LOCKOUT: LockoutPolicy = { limit: 50, windowSeconds: 15 * 60, lockSeconds: 5 * 60, maxLockSeconds: 60 * 60 };
