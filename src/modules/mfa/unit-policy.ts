import { isUuid } from '../../shared/account-id.js';
import type { Database } from '../../shared/db/database.js';
import type { UnitAccessRevoker } from '../../shared/sessions.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';

/**
 * The unit's policy (issue #18): whether every handler acting for it must have signed in with a second factor.
 * Set in the unit console after a confirmation step; each change is audited (`unit.mfa_policy`).
 */
export class UnitMfaPolicy {
  readonly #now: () => Date;

  constructor(private readonly deps: { db: Database; audit: AuditLog; revoker: Pick<UnitAccessRevoker, 'revokeWithoutSecondFactor'>; now?: () => Date }) {
    this.#now = deps.now ?? (() => new Date());
  }

  async required(unitId: string): Promise<boolean> {
    if (!isUuid(unitId)) return false;
    const { rows } = await this.deps.db.query('SELECT 1 FROM unit_mfa_policy WHERE unit_id = $1', [unitId]);
    return rows.length > 0;
  }

  /**
   * Turns the policy on or off; returns whether anything changed (an unchanged setting is not audited). Turning
   * it on revokes, in the same transaction (S-56), the unit's grants signed in without a second factor (C-T5).
   */
  async set(unitId: string, required: boolean, context: AuditContext): Promise<boolean> {
    return this.deps.db.transaction(async (tx) => {
      const { rowCount } = required
        ? await tx.query('INSERT INTO unit_mfa_policy (unit_id, required_at) VALUES ($1, $2) ON CONFLICT (unit_id) DO NOTHING', [unitId, this.#now()])
        : await tx.query('DELETE FROM unit_mfa_policy WHERE unit_id = $1', [unitId]);
      if (rowCount !== 1) return false;
      if (required) await this.deps.revoker.revokeWithoutSecondFactor(tx, unitId);
      await this.deps.audit.record(context, { action: 'unit.mfa_policy', target: { type: 'unit', id: unitId }, detail: { required } }, tx);
      return true;
    });
  }
}
