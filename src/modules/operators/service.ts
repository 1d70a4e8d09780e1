import crypto from 'node:crypto';
import { isUuid } from '../../shared/account-id.js';
import type { Database, Queryable } from '../../shared/db/database.js';
import { uniqueViolation } from '../../shared/db/errors.js';
import { AppError, assertThat } from '../../shared/errors.js';
import type { PasswordHasher } from '../../shared/security/passwords.js';
import { checkPassword } from '../../shared/security/passwords.js';
import { randomString, type Secrets } from '../../shared/security/secrets.js';
import type { Throttle } from '../../shared/security/throttle.js';
import type { PasswordSignIn } from '../../shared/security/password-sign-in.js';
import { currentStep, matchTotp, newTotpSecret, otpauthUri, totpCode } from '../../shared/security/totp.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { AccountSessions } from '../../shared/sessions.js';

export interface Operator {
  id: string;
  loginName: string;
  displayName: string;
  totpEnrolled: boolean;
  status: 'active' | 'disabled';
  createdAt: Date;
}

interface Row {
  id: string;
  login_name: string;
  display_name: string;
  totp_enrolled_at: Date | null;
  status: 'active' | 'disabled';
  created_at: Date;
}

const COLUMNS = 'id, login_name, display_name, totp_enrolled_at, status, created_at';

function toOperator(row: Row): Operator {
  return { id: row.id, loginName: row.login_name, displayName: row.display_name, totpEnrolled: row.totp_enrolled_at !== null, status: row.status, createdAt: row.created_at };
}

export interface OperatorServiceDeps {
  db: Database;
  hasher: PasswordHasher;
  throttle: Throttle;
  signIn: PasswordSignIn;
  audit: AuditLog;
  secrets: Secrets;
  sessions: AccountSessions;
  issuerName: string;
  /**
   * Outside production only: the TOTP sign-in page may show the operator's current code, so that the demo
   * operator can sign in without a phone. Always false in production (services.ts derives it from the mode).
   */
  developmentTotp: boolean;
  now?: () => Date;
}

const TOTP_LOCKOUT = { limit: 5, windowSeconds: 15 * 60, lockSeconds: 5 * 60, maxLockSeconds: 60 * 60 };
const PASSWORD_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789';

/** Counter staff: created by CLI, sign in with password and TOTP (R-A1 audits every action). */
export class OperatorService {
  readonly #now: () => Date;

  constructor(private readonly deps: OperatorServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  async byId(id: string, db: Queryable = this.deps.db): Promise<Operator | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM operator WHERE id = $1`, [id]);
    return rows[0] && toOperator(rows[0]);
  }

  async byLoginName(loginName: string): Promise<Operator | undefined> {
    const { rows } = await this.deps.db.query<Row>(`SELECT ${COLUMNS} FROM operator WHERE lower(login_name) = lower($1)`, [loginName]);
    return rows[0] && toOperator(rows[0]);
  }

  async list(): Promise<Operator[]> {
    const { rows } = await this.deps.db.query<Row>(`SELECT ${COLUMNS} FROM operator ORDER BY login_name`);
    return rows.map(toOperator);
  }

  /** Creates an operator with the given password, or a generated one; returns the password to hand over once. */
  async create(loginName: string, displayName: string, password?: string): Promise<{ operator: Operator; password: string }> {
    assertThat(/^[A-Za-z][A-Za-z0-9_.-]{2,31}$/.test(loginName), 'login_name_invalid');
    assertThat(displayName.trim().length >= 1 && displayName.trim().length <= 50, 'validation');
    const chosen = password ?? randomString(20, PASSWORD_ALPHABET);
    const problem = checkPassword(chosen, { loginName });
    if (problem) throw new AppError(`password_${problem}`);
    const id = crypto.randomUUID();
    const at = this.#now();
    try {
      await this.deps.db.transaction(async (tx) => {
        await tx.query(`INSERT INTO operator (id, login_name, display_name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`, [
          id,
          loginName,
          displayName.trim(),
          await this.deps.hasher.hash(chosen),
          at,
        ]);
        await this.deps.audit.record({ actor: { type: 'system' } }, { action: 'operator.create', target: { type: 'operator', id } }, tx);
      });
    } catch (error) {
      if (uniqueViolation(error)) throw new AppError('login_name_taken');
      throw error;
    }
    const operator = await this.byId(id);
    assertThat(operator, 'server');
    return { operator, password: chosen };
  }

  /** First factor. Same throttling and same answers as for persons (S-21, S-22). */
  async authenticatePassword(loginName: string, password: string, context: AuditContext): Promise<Operator> {
    const name = loginName.trim().toLowerCase();
    const { rows } = await this.deps.db.query<Row & { password_hash: string }>(`SELECT ${COLUMNS}, password_hash FROM operator WHERE lower(login_name) = $1`, [name]);
    const row = rows[0];
    const valid = await this.deps.signIn.check('operator', row && { id: row.id, passwordHash: row.password_hash }, name, password, context.ip);
    if (!row || !valid) {
      await this.deps.audit.record(context, {
        action: 'operator.sign_in',
        outcome: 'failure',
        target: row ? { type: 'operator', id: row.id } : undefined,
        detail: { factor: 'password' },
      });
      throw new AppError('credentials_invalid', { field: 'password' });
    }
    if (row.status !== 'active') throw new AppError('account_disabled');
    return toOperator(row);
  }

  /** The enrolment secret (created on first call, stored encrypted) with its otpauth URI for the QR code. */
  async enrolment(operatorId: string): Promise<{ secret: string; uri: string }> {
    const operator = await this.byId(operatorId);
    assertThat(operator && !operator.totpEnrolled, 'forbidden');
    const { rows } = await this.deps.db.query<{ totp_secret: string | null }>('SELECT totp_secret FROM operator WHERE id = $1', [operatorId]);
    let sealed = rows[0]?.totp_secret ?? null;
    if (!sealed) {
      sealed = this.deps.secrets.encrypt('totp', newTotpSecret());
      await this.deps.db.query('UPDATE operator SET totp_secret = $2 WHERE id = $1 AND totp_enrolled_at IS NULL AND totp_secret IS NULL', [operatorId, sealed]);
      const again = await this.deps.db.query<{ totp_secret: string }>('SELECT totp_secret FROM operator WHERE id = $1', [operatorId]);
      sealed = again.rows[0]!.totp_secret;
    }
    const secret = this.deps.secrets.decrypt('totp', sealed);
    return { secret, uri: otpauthUri(this.deps.issuerName, operator.loginName, secret) };
  }

  /**
   * Development shortcut: the operator's current TOTP code, computed from the stored secret exactly as an
   * authenticator app would (the code is then entered and checked like any other, once). Refused in production.
   */
  async developmentCode(operatorId: string): Promise<string> {
    assertThat(this.deps.developmentTotp, 'forbidden');
    const { rows } = await this.deps.db.query<{ totp_secret: string | null; totp_last_step: string | null }>(
      "SELECT totp_secret, totp_last_step FROM operator WHERE id = $1 AND status = 'active'",
      [operatorId],
    );
    const sealed = rows[0]?.totp_secret;
    assertThat(sealed, 'not_found');
    // When this step's code was already used (a second sign-in within 30 s), the next step's code, which the
    // check accepts for clock drift, so that the shortcut keeps working.
    const current = currentStep(this.#now());
    const used = rows[0]?.totp_last_step == null ? undefined : Number(rows[0].totp_last_step);
    const step = used !== undefined && used >= current ? used + 1 : current;
    return totpCode(this.deps.secrets.decrypt('totp', sealed), step);
  }

  /**
   * Second factor (and completion of enrolment): the code must match a step later than the last one used, so a
   * code works once; failures lock the operator out for a while.
   */
  async verifyTotp(operatorId: string, code: string, context: AuditContext): Promise<void> {
    const key = `totp:operator:${operatorId}`;
    // Reserve before verify (S-26): the attempt is counted before the code is compared.
    const reservation = await this.deps.throttle.reserve([{ key, policy: TOTP_LOCKOUT, resetOnSuccess: true }]);
    const { rows } = await this.deps.db.query<{ totp_secret: string | null; totp_enrolled_at: Date | null; totp_last_step: string | null }>(
      "SELECT totp_secret, totp_enrolled_at, totp_last_step FROM operator WHERE id = $1 AND status = 'active'",
      [operatorId],
    );
    const row = rows[0];
    const at = this.#now();
    const step = row?.totp_secret ? matchTotp(this.deps.secrets.decrypt('totp', row.totp_secret), code.trim(), at) : undefined;
    const fresh = step !== undefined && (row?.totp_last_step === null || step > Number(row?.totp_last_step));
    const claimed =
      fresh &&
      (
        await this.deps.db.query(
          `UPDATE operator SET totp_last_step = $2, totp_enrolled_at = COALESCE(totp_enrolled_at, $3), updated_at = $3
       WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`,
          [operatorId, step, at],
        )
      ).rowCount === 1;
    if (!claimed) {
      await this.deps.audit.record(context, { action: 'operator.sign_in', outcome: 'failure', target: { type: 'operator', id: operatorId }, detail: { factor: 'totp' } });
      throw new AppError('totp_invalid', { field: 'totp' });
    }
    await reservation.succeeded();
    if (!row?.totp_enrolled_at) {
      await this.deps.audit.record(context, { action: 'operator.totp_enrol', target: { type: 'operator', id: operatorId } });
    }
    await this.deps.audit.record(context, { action: 'operator.sign_in', target: { type: 'operator', id: operatorId } });
  }

  /** CLI: forget the authenticator so the operator enrols again at the next sign-in. */
  async resetTotp(loginName: string): Promise<void> {
    const operator = await this.byLoginName(loginName);
    assertThat(operator, 'not_found');
    await this.deps.db.transaction(async (tx) => {
      await tx.query('UPDATE operator SET totp_secret = NULL, totp_enrolled_at = NULL, totp_last_step = NULL, updated_at = $2 WHERE id = $1', [operator.id, this.#now()]);
      await this.deps.audit.record({ actor: { type: 'system' } }, { action: 'operator.totp_reset', target: { type: 'operator', id: operator.id } }, tx);
      await this.deps.sessions.endAll(`operator:${operator.id}`, {}, tx);
    });
  }

  /** CLI: disable or enable an operator; disabling ends the operator's sessions. */
  async setStatus(loginName: string, status: 'active' | 'disabled'): Promise<void> {
    const operator = await this.byLoginName(loginName);
    assertThat(operator, 'not_found');
    await this.deps.db.transaction(async (tx) => {
      await tx.query('UPDATE operator SET status = $2, updated_at = $3 WHERE id = $1', [operator.id, status, this.#now()]);
      await this.deps.audit.record(
        { actor: { type: 'system' } },
        { action: status === 'disabled' ? 'operator.disable' : 'operator.enable', target: { type: 'operator', id: operator.id } },
        tx,
      );
      if (status === 'disabled') await this.deps.sessions.endAll(`operator:${operator.id}`, {}, tx);
    });
  }

  /** CLI: set a new password (generated when not given); returns it to hand over once. */
  async resetPassword(loginName: string, password?: string): Promise<string> {
    const operator = await this.byLoginName(loginName);
    assertThat(operator, 'not_found');
    const chosen = password ?? randomString(20, PASSWORD_ALPHABET);
    const problem = checkPassword(chosen, { loginName });
    if (problem) throw new AppError(`password_${problem}`);
    const hash = await this.deps.hasher.hash(chosen);
    await this.deps.db.transaction(async (tx) => {
      await tx.query('UPDATE operator SET password_hash = $2, updated_at = $3 WHERE id = $1', [operator.id, hash, this.#now()]);
      await this.deps.audit.record({ actor: { type: 'system' } }, { action: 'operator.password_reset', target: { type: 'operator', id: operator.id } }, tx);
      await this.deps.sessions.endAll(`operator:${operator.id}`, {}, tx);
    });
    return chosen;
  }
}
