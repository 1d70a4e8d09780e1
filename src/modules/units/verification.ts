import crypto from 'node:crypto';
import type { WebhookEvents } from '../webhooks/events.js';
import type { Database } from '../../shared/db/database.js';
import { AppError, assertThat } from '../../shared/errors.js';
import { randomString, type Secrets } from '../../shared/security/secrets.js';
import type { Throttle } from '../../shared/security/throttle.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { CODE_UNSETTLED_SQL, codeLiveSql, codeState, type CodeState } from './code-lifecycle.js';
import { unitStore } from './store.js';

/** Unambiguous alphabet (no 0/O, 1/I/L): 31 symbols; 10 of them carry 49.5 bits (R-U5 asks for ≥ 40). */
const ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const LENGTH = 10;
const MAX_ATTEMPTS = 5;
/** Per client IP, 20 failed code entries an hour lock code entry (a per-unit lock would let anyone block a unit). */
const CODE_FAILURES_PER_IP = { limit: 20, windowSeconds: 3600, lockSeconds: 15 * 60, maxLockSeconds: 3600 };

export type { CodeState } from './code-lifecycle.js';

export interface IssuedCodeView {
  id: string;
  hint: string;
  issuedAt: Date;
  expiresAt: Date;
  attempts: number;
  state: CodeState;
  usedAt: Date | null;
}

interface Row {
  id: string;
  hint: string;
  issued_at: Date;
  expires_at: Date;
  attempts: number;
  used_at: Date | null;
  invalidated_at: Date | null;
}

/** `ABCDE-FGHJK`; what the person types is normalised (case, spaces, hyphens) before checking. */
export function formatCode(code: string): string {
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

export function normalizeCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, '');
}

export interface UnitVerificationDeps {
  db: Database;
  secrets: Secrets;
  throttle: Throttle;
  audit: AuditLog;
  ttlHours: number;
  /** Event webhooks (`unit.verified`), written in the verifying transaction. */
  events: WebhookEvents;
  now?: () => Date;
}

/**
 * Counter authorisation codes (R-U5, guide §6): issued by an operator for one unit, shown once, stored as an
 * HMAC, single use, expiring, invalidated after 5 wrong attempts. Issuing a new code invalidates the previous.
 */
export class UnitVerification {
  readonly #now: () => Date;

  constructor(private readonly deps: UnitVerificationDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  #digest(unitId: string, code: string): string {
    return this.deps.secrets.hmac('unit-verification-code', `${unitId}:${code}`);
  }

  state(row: Row, at: Date = this.#now()): CodeState {
    return codeState({ usedAt: row.used_at, invalidatedAt: row.invalidated_at, expiresAt: row.expires_at }, at);
  }

  async issue(unitId: string, context: AuditContext): Promise<{ code: string; expiresAt: Date }> {
    const code = randomString(LENGTH, ALPHABET);
    const at = this.#now();
    const expiresAt = new Date(at.getTime() + this.deps.ttlHours * 3600 * 1000);
    await this.deps.db.transaction(async (tx) => {
      const unit = await unitStore.byId(tx, unitId, true);
      assertThat(unit, 'not_found');
      if (unit.verified) throw new AppError('unit_already_verified');
      await tx.query(`UPDATE unit_verification_code SET invalidated_at = $2 WHERE unit_id = $1 AND ${CODE_UNSETTLED_SQL}`, [unitId, at]);
      const id = crypto.randomUUID();
      await tx.query(
        `INSERT INTO unit_verification_code (id, unit_id, code_hmac, hint, issued_by, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, unitId, this.#digest(unitId, code), code.slice(-2), context.actor.id, at, expiresAt],
      );
      await this.deps.audit.record({ ...context, actingUnitId: unitId }, { action: 'unit.code_issue', target: { type: 'unit', id: unitId }, detail: { codeId: id } }, tx);
    });
    return { code: formatCode(code), expiresAt };
  }

  async list(unitId: string): Promise<IssuedCodeView[]> {
    const { rows } = await this.deps.db.query<Row>(
      `SELECT id, hint, issued_at, expires_at, attempts, used_at, invalidated_at FROM unit_verification_code
       WHERE unit_id = $1 ORDER BY issued_at DESC LIMIT 50`,
      [unitId],
    );
    const at = this.#now();
    return rows.map((row) => ({
      id: row.id,
      hint: row.hint,
      issuedAt: row.issued_at,
      expiresAt: row.expires_at,
      attempts: row.attempts,
      state: this.state(row, at),
      usedAt: row.used_at,
    }));
  }

  /**
   * Verifies the unit with a code (entered by the unit account or a handler acting for it). Every attempt is
   * counted against the unit's live code; wrong, expired, used, invalidated and other units' codes fail alike.
   */
  async redeem(unitId: string, input: string, context: AuditContext): Promise<void> {
    const code = normalizeCode(input);
    // Each code allows 5 attempts; per client IP, 20 failures an hour lock code entry (a per-unit lock would let
    // anyone keep a unit from verifying).
    const ipKey = `unit-code:ip:${context.ip ?? 'unknown'}`;
    // Reserve before verify (S-26): the IP's attempt is taken before the code is compared.
    const reservation = await this.deps.throttle.reserve([{ key: ipKey, policy: CODE_FAILURES_PER_IP }], 'too_many_requests');
    const unit = await unitStore.byId(this.deps.db, unitId);
    assertThat(unit, 'not_found');
    if (unit.verified) throw new AppError('unit_already_verified');
    const at = this.#now();
    const { rows } = await this.deps.db.query<{ id: string; code_hmac: string; attempts: number }>(
      `UPDATE unit_verification_code SET attempts = attempts + 1
       WHERE unit_id = $1 AND ${codeLiveSql('$2')} AND attempts < $3
       RETURNING id, code_hmac, attempts`,
      [unitId, at, MAX_ATTEMPTS],
    );
    const live = rows[0];
    const matches = live && code.length === LENGTH && this.deps.secrets.hmacEquals('unit-verification-code', `${unitId}:${code}`, live.code_hmac);
    if (!live || !matches) {
      if (live && live.attempts >= MAX_ATTEMPTS) {
        await this.deps.db.query('UPDATE unit_verification_code SET invalidated_at = $2 WHERE id = $1 AND invalidated_at IS NULL', [live.id, at]);
      }
      await this.deps.audit.record({ ...context, actingUnitId: unitId }, { action: 'unit.verify', outcome: 'failure', target: { type: 'unit', id: unitId } });
      throw new AppError('unit_code_invalid', { field: 'code' });
    }
    await reservation.succeeded();
    await this.deps.db.transaction(async (tx) => {
      const used = await tx.query(`UPDATE unit_verification_code SET used_at = $2, used_by = $3 WHERE id = $1 AND ${CODE_UNSETTLED_SQL}`, [
        live.id,
        at,
        `${context.actor.type}:${context.actor.id ?? ''}`,
      ]);
      if (used.rowCount !== 1) throw new AppError('unit_code_invalid', { field: 'code' });
      await unitStore.markVerified(tx, unitId, `${context.actor.type}:${context.actor.id ?? ''}`, at);
      await this.deps.events.emit(tx, 'unit.verified', { unitId });
      await this.deps.audit.record({ ...context, actingUnitId: unitId }, { action: 'unit.verify', target: { type: 'unit', id: unitId }, detail: { codeId: live.id } }, tx);
    });
  }
}
