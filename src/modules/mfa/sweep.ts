import type { Queryable } from '../../shared/db/database.js';

/**
 * Housekeeping of the second factors (issue #18), run by the periodic sweep: WebAuthn challenges past their
 * expiry (never answered) and recovery codes already used (a used code can never work again, and the count
 * of codes left reads only the unused ones). Deleted in batches, so that a large backlog never holds one long
 * statement's locks; returns how many rows went.
 */
export async function sweepSecondFactors(db: Queryable, at: Date = new Date(), batch = 5000): Promise<number> {
  const statements = [
    'DELETE FROM webauthn_challenge WHERE challenge IN (SELECT challenge FROM webauthn_challenge WHERE expires_at <= $1 LIMIT $2)',
    'DELETE FROM person_recovery_code WHERE id IN (SELECT id FROM person_recovery_code WHERE used_at IS NOT NULL AND used_at <= $1 LIMIT $2)',
  ];
  let total = 0;
  for (const statement of statements) {
    for (;;) {
      const { rowCount } = await db.query(statement, [at, batch]);
      total += rowCount;
      if (rowCount < batch) break;
    }
  }
  return total;
}
