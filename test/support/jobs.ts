import type { Queryable } from '../../src/shared/db/database.js';

/**
 * Waits until the job worker has taken every job that is due (S-56: SMS, e-mail and back-channel logouts are
 * delivered after the request's commit, by the worker). Jobs waiting for a later retry do not count.
 */
export async function jobsSettled(db: Queryable, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM job WHERE state = 'running' OR (state = 'pending' AND run_at <= now())");
    if (Number(rows[0]?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error('jobs still due after the wait');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
