import type { Database, Transaction } from '../../shared/db/database.js';
import { accountIdOf, isUuid } from '../../shared/account-id.js';
import { AppError } from '../../shared/errors.js';
import type { Locale } from '../../shared/i18n/index.js';
import type { CodePurpose, OneTimeCodes } from '../../shared/security/one-time-codes.js';
import { assertNewPassword, type PasswordHasher } from '../../shared/security/passwords.js';
import type { Secrets } from '../../shared/security/secrets.js';
import { assertWithinLimits, type LockoutPolicy, type Throttle } from '../../shared/security/throttle.js';
import type { AccountSessions } from '../../shared/sessions.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { BindingService } from '../bindings/service.js';
import { maskMobile } from '../persons/rules.js';
import type { CertType } from '../units/certificates.js';
import type { Unit, UnitService } from '../units/service.js';
import { recoveryStore, type AppealKind, type RecoveryTarget } from './store.js';

export type RecoveryKind = Exclude<AppealKind, 'takeover'>;

/** Rate limits of the recovery endpoints (S-21), per certificate (the unit, whether or not it exists) and per IP. */
export const RECOVERY_LIMITS = {
  lookupPerIp: { limit: 60, windowSeconds: 3600 },
  sendPerCertificate: { limit: 5, windowSeconds: 3600 },
  /** Wrong codes for one certificate, from anywhere: then the certificate is locked for a while. */
  failuresPerCertificate: { limit: 10, windowSeconds: 3600, lockSeconds: 15 * 60, maxLockSeconds: 3600 } satisfies LockoutPolicy,
  /** Wrong codes from one IP, across certificates. */
  failuresPerIp: { limit: 30, windowSeconds: 3600, lockSeconds: 15 * 60, maxLockSeconds: 3600 } satisfies LockoutPolicy,
} as const;

const PURPOSE: Record<RecoveryKind, CodePurpose> = { account: 'unit_recovery', password: 'unit_password_reset' };

/** Mobile prefixes in use in mainland China, for stand-in numbers that look like any other. */
const PREFIXES = [
  '130',
  '131',
  '132',
  '133',
  '134',
  '135',
  '136',
  '137',
  '138',
  '139',
  '150',
  '151',
  '152',
  '153',
  '155',
  '156',
  '157',
  '158',
  '159',
  '166',
  '173',
  '176',
  '177',
  '178',
  '180',
  '181',
  '182',
  '183',
  '185',
  '186',
  '187',
  '188',
  '189',
  '199',
];

/** What the first step shows for a certificate: the same shape whether or not a unit exists (S-22). */
export interface RecoveryPaths {
  certType: CertType;
  certNo: string;
  /** The common contact's mobile, masked; for an unknown certificate or an unreachable contact a stable stand-in. */
  maskedMobile: string;
  /** R-R2: the appeal is not offered to a verified unit. */
  appeal: boolean;
}

export interface RecoveryServiceDeps {
  db: Database;
  units: UnitService;
  bindings: Pick<BindingService, 'contactOf' | 'contactUnitIds'>;
  codes: OneTimeCodes;
  hasher: PasswordHasher;
  throttle: Throttle;
  audit: AuditLog;
  secrets: Secrets;
  sessions: AccountSessions;
  now?: () => Date;
}

/**
 * Unit account and password recovery through the common contact (R-R1, R-R2, guide §9–§10): a one-time code to
 * the contact's verified mobile, or the contact's own account centre. Until a code is proven, every answer has the
 * same shape for a real unit, an unknown certificate and a unit whose contact cannot be reached (S-22): the masked
 * number shown for the last two is derived from the certificate with a keyed HMAC, so it is stable and looks like
 * any other; sending to it counts against the same rate limits but sends nothing, and its challenge never succeeds.
 */
export class RecoveryService {
  readonly #now: () => Date;

  constructor(private readonly deps: RecoveryServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  /** A stand-in mobile number for a certificate (only ever shown masked, never sent to). */
  #standIn(certType: CertType, certNo: string): string {
    const digest = Buffer.from(this.deps.secrets.hmac('recovery-stand-in-mobile', `${certType}:${certNo}`), 'base64url');
    const prefix = PREFIXES[digest[0]! % PREFIXES.length]!;
    const rest = [...digest.subarray(1, 9)].map((byte) => String(byte % 10)).join('');
    return prefix + rest;
  }

  /** The unit and its contact's mobile when the common-contact path can work, else undefined. */
  async #reachable(certType: CertType, certNo: string): Promise<(RecoveryTarget & { contactMobile: string }) | undefined> {
    const target = await recoveryStore.target(this.deps.db, certType, certNo);
    return target && target.unitActive && target.contactMobile ? { ...target, contactMobile: target.contactMobile } : undefined;
  }

  /** Step 1: the recovery paths for a certificate, with the (real or stand-in) masked mobile of the contact. */
  async paths(certTypeInput: string, certNoInput: string, ip: string): Promise<RecoveryPaths> {
    const { certType, certNo } = this.deps.units.certificate(certTypeInput, certNoInput);
    assertWithinLimits(await this.deps.throttle.count(`recovery:lookup:ip:${ip}`, RECOVERY_LIMITS.lookupPerIp.limit, RECOVERY_LIMITS.lookupPerIp.windowSeconds));
    return this.pathsOf(certType, certNo);
  }

  /**
   * The paths page again, without counting a look-up: a refused step 2 (e.g. too many codes) stays on the page it
   * was sent from. The same answer as step 1 gave for this certificate (S-22).
   */
  async pathsOf(certTypeInput: string, certNoInput: string): Promise<RecoveryPaths> {
    const { certType, certNo } = this.deps.units.certificate(certTypeInput, certNoInput);
    const target = await recoveryStore.target(this.deps.db, certType, certNo);
    const reachable = target && target.unitActive && target.contactMobile;
    return { certType, certNo, maskedMobile: maskMobile(reachable ? target.contactMobile! : this.#standIn(certType, certNo)), appeal: !target?.verified };
  }

  /** Step 2: a code to the common contact's mobile (or, with nobody to send to, the same answer and nothing sent). */
  async sendCode(kind: RecoveryKind, certTypeInput: string, certNoInput: string, locale: Locale, context: AuditContext): Promise<{ challenge: string; maskedMobile: string }> {
    const { certType, certNo } = this.deps.units.certificate(certTypeInput, certNoInput);
    const ip = context.ip ?? 'unknown';
    const { limit, windowSeconds } = RECOVERY_LIMITS.sendPerCertificate;
    assertWithinLimits(await this.deps.throttle.count(`recovery:send:cert:${certType}:${certNo}`, limit, windowSeconds));
    // Sending limits count the certificate typed, for a real unit and a decoy alike (S-29), never the contact's
    // mobile: otherwise a limit would show that the certificate's common contact is a given person.
    const limitKey = `recovery:${this.deps.secrets.hmac('recovery-decoy', `${certType}:${certNo}`)}`;
    const target = await this.#reachable(certType, certNo);
    if (!target) {
      const standIn = this.#standIn(certType, certNo);
      const decoy = await this.deps.codes.decoy(limitKey, ip);
      await this.deps.audit.record(context, { action: 'recovery.code_send', outcome: 'failure', detail: { kind, certType, certNo, reason: 'no_reachable_contact' } });
      return { challenge: decoy.challenge, maskedMobile: maskMobile(standIn) };
    }
    const issued = await this.deps.codes.issue({ purpose: PURPOSE[kind], subject: target.unitId, mobile: target.contactMobile, limitKey, locale, ip });
    await this.deps.audit.record(
      { ...context, actingUnitId: target.unitId },
      { action: 'recovery.code_send', target: { type: 'unit', id: target.unitId }, detail: { kind, certType, certNo } },
    );
    return { challenge: issued.challenge, maskedMobile: maskMobile(target.contactMobile) };
  }

  /**
   * Checks a code for the certificate's unit (bound to that unit and purpose: another unit's code fails), counting
   * failures per certificate and per IP. Runs `work` in the transaction that consumes the code, so a refusal inside
   * it (e.g. the new password contains the login name) leaves the code usable.
   */
  async #withCode<T, P = undefined>(
    kind: RecoveryKind,
    certTypeInput: string,
    certNoInput: string,
    challenge: string,
    code: string,
    context: AuditContext,
    work: (unit: Unit, tx: Transaction, prepared: P) => Promise<T>,
    prepare: () => Promise<P> = async () => undefined as P,
  ): Promise<T> {
    const { certType, certNo } = this.deps.units.certificate(certTypeInput, certNoInput);
    // Reserve before verify (S-26): the attempt is taken per certificate and per IP before the code is compared, so
    // parallel guesses count each; a locked request does no further work (no hash, no look-up).
    const certKey = `recovery:verify:cert:${certType}:${certNo}`;
    const reservation = await this.deps.throttle.reserve(
      [
        { key: certKey, policy: RECOVERY_LIMITS.failuresPerCertificate, resetOnSuccess: true },
        { key: `recovery:verify:ip:${context.ip ?? 'unknown'}`, policy: RECOVERY_LIMITS.failuresPerIp },
      ],
      'too_many_requests',
    );
    const target = await this.#reachable(certType, certNo);
    const unit = target && (await this.deps.units.byId(target.unitId));
    try {
      if (!unit) throw new AppError('code_invalid', { field: 'code' });
      await this.deps.codes.check(challenge, PURPOSE[kind], unit.id, code.trim());
      const prepared = await prepare();
      const result = await this.deps.db.transaction(async (tx) => {
        await this.deps.codes.use(challenge, PURPOSE[kind], unit.id, tx);
        return work(unit, tx, prepared);
      });
      await reservation.succeeded();
      return result;
    } catch (error) {
      if (error instanceof AppError && error.code === 'code_invalid') {
        await this.deps.audit.record(unit ? { ...context, actingUnitId: unit.id } : context, {
          action: 'recovery.code_verify',
          outcome: 'failure',
          target: unit ? { type: 'unit', id: unit.id } : undefined,
          detail: { kind, certType, certNo },
        });
      }
      throw error;
    }
  }

  /** 账号找回 through the common contact (R-R1): a valid code reveals the unit's login name. */
  async revealAccount(certType: string, certNo: string, challenge: string, code: string, context: AuditContext): Promise<Unit> {
    return this.#withCode('account', certType, certNo, challenge, code, context, async (found, tx) => {
      await this.deps.audit.record(
        { ...context, actingUnitId: found.id },
        { action: 'recovery.account_reveal', target: { type: 'unit', id: found.id }, detail: { path: 'contact_code' } },
        tx,
      );
      return found;
    });
  }

  /**
   * 密码找回 through the common contact (R-R2): a valid code and a new password. The general password rules are
   * checked first; the rule against containing the login name only after the code, so it cannot reveal the name.
   */
  async resetPassword(certType: string, certNo: string, challenge: string, code: string, password: string, confirm: string, context: AuditContext): Promise<Unit> {
    assertNewPassword(password, confirm);
    // The hash is made only once the code is right (S-28: a locked or wrong request costs no argon2), outside the
    // transaction (the embedded database has one connection).
    const unit = await this.#withCode(
      'password',
      certType,
      certNo,
      challenge,
      code,
      context,
      async (found, tx, hash) => {
        assertNewPassword(password, confirm, { loginName: found.loginName });
        await this.deps.units.setPasswordHash(tx, found.id, hash, this.#now());
        await this.deps.audit.record(
          { ...context, actingUnitId: found.id },
          { action: 'unit.password_reset', target: { type: 'unit', id: found.id }, detail: { path: 'contact_code' } },
          tx,
        );
        await this.#endSessions(found, tx);
        return found;
      },
      () => this.deps.hasher.hash(password),
    );
    await this.#afterReset(unit);
    return unit;
  }

  /** A reset password ends every session of the unit account, in the reset's transaction (S-24, S-56). */
  async #endSessions(unit: Unit, tx: Transaction): Promise<void> {
    await this.deps.sessions.endAll(accountIdOf({ kind: 'unit', id: unit.id }), {}, tx);
  }

  /** … and lifts a sign-in lockout. */
  async #afterReset(unit: Unit): Promise<void> {
    await this.deps.throttle.reset(`recovery:verify:cert:${unit.certType}:${unit.certNo}`);
    await this.deps.throttle.reset(`login:unit:${unit.id}`);
  }

  /** The units whose active common contact is this person (the account centre's recovery section). */
  async unitsOfContact(personId: string): Promise<Unit[]> {
    return this.deps.units.byIds(await this.deps.bindings.contactUnitIds(personId));
  }

  async #asContact(personId: string, unitId: string): Promise<Unit> {
    const contact = isUuid(unitId) ? await this.deps.bindings.contactOf(unitId) : undefined;
    const unit = contact?.personId === personId ? await this.deps.units.byId(unitId) : undefined;
    if (!unit) throw new AppError('not_found');
    return unit;
  }

  /**
   * R-R1 in the account centre: the common contact asks to see one unit's login name (a POST, S-32); audited. Only
   * a unit of which the person is the active common contact.
   */
  async revealToContact(personId: string, unitId: string, context: AuditContext): Promise<Unit> {
    const unit = await this.#asContact(personId, unitId);
    await this.deps.audit.record(
      { ...context, actingUnitId: unit.id },
      { action: 'recovery.account_reveal', target: { type: 'unit', id: unit.id }, detail: { path: 'contact_console' } },
    );
    return unit;
  }

  /** R-R2 in the account centre: the common contact sets a new password for the unit account. */
  async resetByContact(personId: string, unitId: string, password: string, confirm: string, context: AuditContext): Promise<Unit> {
    const unit = await this.#asContact(personId, unitId);
    assertNewPassword(password, confirm, { loginName: unit.loginName });
    const hash = await this.deps.hasher.hash(password);
    await this.deps.db.transaction(async (tx) => {
      const current = await this.deps.bindings.contactOf(unitId, tx, true);
      if (current?.personId !== personId) throw new AppError('not_found');
      await this.deps.units.setPasswordHash(tx, unitId, hash, this.#now());
      await this.deps.audit.record(
        { ...context, actingUnitId: unitId },
        { action: 'unit.password_reset', target: { type: 'unit', id: unitId }, detail: { path: 'contact_console' } },
        tx,
      );
      await this.#endSessions(unit, tx);
    });
    await this.#afterReset(unit);
    return unit;
  }
}
