import crypto from 'node:crypto';
import { isUuid } from '../../shared/account-id.js';
import type { Database, Queryable } from '../../shared/db/database.js';
import { AppError, assertThat } from '../../shared/errors.js';
import { randomString, type Secrets } from '../../shared/security/secrets.js';
import { ACCOUNT_LOCKOUT, IP_LOCKOUT, type Throttle } from '../../shared/security/throttle.js';
import { matchTotp, newTotpSecret, otpauthUri } from '../../shared/security/totp.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';

/** How many recovery codes an enrolment hands out (each works once). */
export const RECOVERY_CODE_COUNT = 10;
/** Unambiguous characters (no 0/O, 1/I/L): 10 of 31 symbols, about 50 bits per code. */
const RECOVERY_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const RECOVERY_PURPOSE = 'mfa-recovery-code';
const TOTP_PURPOSE = 'person-totp';

/** What a second-factor check accepted: an authenticator code, or one of the recovery codes. */
export type SecondFactorMethod = 'otp' | 'recovery_code';

export interface SecondFactorStatus {
  totp: boolean;
  recoveryCodesLeft: number;
  passkeys: number;
}

export interface SecondFactorDeps {
  db: Database;
  throttle: Throttle;
  audit: AuditLog;
  secrets: Secrets;
  issuerName: string;
  now?: () => Date;
}

/** `ABCDE-FGHJK`: what the person reads and types (case, spaces and the dash do not matter). */
function normaliseRecoveryCode(typed: string): string {
  return typed.replace(/[\s-]/g, '').toUpperCase();
}

/**
 * Second factors of persons (issue #18): a TOTP authenticator, enrolled with a code it shows, and single-use
 * recovery codes, stored as keyed digests (HMAC with a purpose-bound subkey of the data key: the codes are random
 * with ~50 bits, so a slow hash adds nothing, and the database alone cannot be used to test guesses). Every check
 * is throttled like a password (S-21, S-26): the attempt is reserved per person and per IP before the code is looked at.
 */
export class SecondFactorService {
  readonly #now: () => Date;

  constructor(private readonly deps: SecondFactorDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  async status(personId: string, db: Queryable = this.deps.db): Promise<SecondFactorStatus> {
    if (!isUuid(personId)) return { totp: false, recoveryCodesLeft: 0, passkeys: 0 };
    const { rows } = await db.query<{ totp: boolean; left: string; passkeys: string }>(
      `SELECT EXISTS (SELECT 1 FROM person_totp WHERE person_id = $1 AND enrolled_at IS NOT NULL) AS totp,
              (SELECT count(*) FROM person_recovery_code WHERE person_id = $1 AND used_at IS NULL) AS left,
              (SELECT count(*) FROM person_passkey WHERE person_id = $1) AS passkeys`,
      [personId],
    );
    return { totp: rows[0]?.totp === true, recoveryCodesLeft: Number(rows[0]?.left ?? 0), passkeys: Number(rows[0]?.passkeys ?? 0) };
  }

  /** Whether the person has a second factor, an authenticator or a passkey (the sign-in then asks for it after the password). */
  async enrolled(personId: string): Promise<boolean> {
    const status = await this.status(personId);
    return status.totp || status.passkeys > 0;
  }

  /**
   * The pending enrolment: a secret created on the first call (stored sealed, not yet in force) with its otpauth
   * URI for the QR code. Refused while an authenticator is in force (remove it first).
   */
  async startTotp(personId: string, accountLabel: string): Promise<{ secret: string; uri: string }> {
    const { rows } = await this.deps.db.query<{ secret: string; enrolled_at: Date | null }>('SELECT secret, enrolled_at FROM person_totp WHERE person_id = $1', [personId]);
    if (rows[0]?.enrolled_at) throw new AppError('mfa_already_enrolled');
    let sealed = rows[0]?.secret;
    if (!sealed) {
      await this.deps.db.query('INSERT INTO person_totp (person_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (person_id) DO NOTHING', [
        personId,
        this.deps.secrets.encrypt(TOTP_PURPOSE, newTotpSecret()),
        this.#now(),
      ]);
      const again = await this.deps.db.query<{ secret: string }>('SELECT secret FROM person_totp WHERE person_id = $1', [personId]);
      sealed = again.rows[0]!.secret;
    }
    const secret = this.deps.secrets.decrypt(TOTP_PURPOSE, sealed);
    return { secret, uri: otpauthUri(this.deps.issuerName, accountLabel, secret) };
  }

  /**
   * Completes the enrolment with a code the authenticator shows (throttled, single use) and hands out fresh
   * recovery codes, returned once in clear and never again.
   */
  async confirmTotp(personId: string, code: string, context: AuditContext): Promise<string[]> {
    const { rows } = await this.deps.db.query<{ enrolled_at: Date | null }>('SELECT enrolled_at FROM person_totp WHERE person_id = $1', [personId]);
    assertThat(rows[0], 'interaction_expired');
    if (rows[0].enrolled_at) throw new AppError('mfa_already_enrolled');
    const reservation = await this.#reserve(personId, context);
    const at = this.#now();
    const codes = await this.deps.db.transaction(async (tx) => {
      if (!(await this.#claimTotp(tx, personId, code, at, true))) return undefined;
      const issued = await this.issueRecoveryCodes(tx, personId, at);
      await this.deps.audit.record(context, { action: 'person.mfa_enrol', target: { type: 'person', id: personId }, detail: { factor: 'totp' } }, tx);
      return issued;
    });
    if (!codes) {
      await this.deps.audit.record(context, { action: 'person.mfa_enrol', outcome: 'failure', target: { type: 'person', id: personId }, detail: { factor: 'totp' } });
      throw new AppError('totp_invalid', { field: 'totp' });
    }
    await reservation.succeeded();
    return codes;
  }

  /** Removes the authenticator, and the recovery codes unless a passkey remains (the caller has checked a fresh sign-in, S-34). */
  async removeTotp(personId: string, context: AuditContext): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const removed = await tx.query('DELETE FROM person_totp WHERE person_id = $1 AND enrolled_at IS NOT NULL', [personId]);
      if (removed.rowCount !== 1) throw new AppError('not_found');
      await tx.query('DELETE FROM person_totp WHERE person_id = $1', [personId]);
      if ((await this.status(personId, tx)).passkeys === 0) await this.removeRecoveryCodes(tx, personId);
      await this.deps.audit.record(context, { action: 'person.mfa_remove', target: { type: 'person', id: personId }, detail: { factor: 'totp' } }, tx);
    });
  }

  /** New recovery codes in place of the old ones (all of them stop working), for a person with a second factor. */
  async regenerateRecoveryCodes(personId: string, context: AuditContext): Promise<string[]> {
    return this.deps.db.transaction(async (tx) => {
      const status = await this.status(personId, tx);
      assertThat(status.totp || status.passkeys > 0, 'not_found');
      const codes = await this.issueRecoveryCodes(tx, personId, this.#now());
      await this.deps.audit.record(context, { action: 'person.recovery_codes_renew', target: { type: 'person', id: personId } }, tx);
      return codes;
    });
  }

  /**
   * The second factor of a sign-in: a 6-digit authenticator code (a step later than the last one used) or a
   * recovery code (marked used in the same statement that finds it, so it works exactly once). Throttled like a
   * password; every outcome is audited, a recovery code with how many are left.
   */
  async verify(personId: string, typed: string, context: AuditContext): Promise<SecondFactorMethod> {
    const reservation = await this.#reserve(personId, context);
    const code = typed.trim();
    const at = this.#now();
    let method: SecondFactorMethod | undefined;
    if (/^\d{6}$/.test(code)) {
      if (await this.#claimTotp(this.deps.db, personId, code, at, false)) method = 'otp';
    } else if (normaliseRecoveryCode(code).length === 10) {
      const { rowCount } = await this.deps.db.query(
        `UPDATE person_recovery_code SET used_at = $3
         WHERE id = (SELECT id FROM person_recovery_code WHERE person_id = $1 AND code_hmac = $2 AND used_at IS NULL LIMIT 1) AND used_at IS NULL`,
        [personId, this.deps.secrets.hmac(RECOVERY_PURPOSE, `${personId}:${normaliseRecoveryCode(code)}`), at],
      );
      if (rowCount === 1) method = 'recovery_code';
    }
    const target = { type: 'person', id: personId };
    if (!method) {
      await this.deps.audit.record(context, { action: 'person.mfa_verify', outcome: 'failure', target });
      throw new AppError('second_factor_invalid', { field: 'code' });
    }
    await reservation.succeeded();
    if (method === 'recovery_code') {
      const { recoveryCodesLeft } = await this.status(personId);
      await this.deps.audit.record(context, { action: 'person.recovery_code_used', target, detail: { left: recoveryCodesLeft } });
    }
    await this.deps.audit.record(context, { action: 'person.mfa_verify', target, detail: { method } });
    return method;
  }

  async #reserve(personId: string, context: AuditContext) {
    return this.deps.throttle.reserve([
      { key: `mfa:person:${personId}`, policy: ACCOUNT_LOCKOUT, resetOnSuccess: true },
      { key: `mfa:ip:${context.ip ?? 'unknown'}`, policy: IP_LOCKOUT },
    ]);
  }

  /** Accepts a code of a step later than the last one used (replay), claimed in one statement. */
  async #claimTotp(db: Queryable, personId: string, code: string, at: Date, pending: boolean): Promise<boolean> {
    const { rows } = await db.query<{ secret: string; last_step: string | null }>(`SELECT secret, last_step FROM person_totp WHERE person_id = $1 AND (enrolled_at IS NULL) = $2`, [
      personId,
      pending,
    ]);
    const row = rows[0];
    const step = row ? matchTotp(this.deps.secrets.decrypt(TOTP_PURPOSE, row.secret), code.trim(), at) : undefined;
    if (step === undefined || (row?.last_step != null && step <= Number(row.last_step))) return false;
    const claimed = await db.query(
      `UPDATE person_totp SET last_step = $2, enrolled_at = COALESCE(enrolled_at, $3)
       WHERE person_id = $1 AND (last_step IS NULL OR last_step < $2)`,
      [personId, step, at],
    );
    return claimed.rowCount === 1;
  }

  async removeRecoveryCodes(db: Queryable, personId: string): Promise<void> {
    await db.query('DELETE FROM person_recovery_code WHERE person_id = $1', [personId]);
  }

  /** Fresh recovery codes in place of any earlier ones, in the caller's transaction; the clear codes are returned once. */
  async issueRecoveryCodes(db: Queryable, personId: string, at: Date): Promise<string[]> {
    await this.removeRecoveryCodes(db, personId);
    const codes: string[] = [];
    for (let index = 0; index < RECOVERY_CODE_COUNT; index += 1) {
      const code = randomString(10, RECOVERY_ALPHABET);
      await db.query('INSERT INTO person_recovery_code (id, person_id, code_hmac, created_at) VALUES ($1, $2, $3, $4)', [
        crypto.randomUUID(),
        personId,
        this.deps.secrets.hmac(RECOVERY_PURPOSE, `${personId}:${code}`),
        at,
      ]);
      codes.push(`${code.slice(0, 5)}-${code.slice(5)}`);
    }
    return codes;
  }
}
