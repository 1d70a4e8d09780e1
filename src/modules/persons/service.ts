import { readOnce } from '../../shared/request-reads.js';
import crypto from 'node:crypto';
import type { WebhookEvents } from '../webhooks/events.js';
import type { Database, Queryable } from '../../shared/db/database.js';
import { AppError, assertThat } from '../../shared/errors.js';
import { translate, type Locale } from '../../shared/i18n/index.js';
import type { Notifier } from '../../shared/notifier/notifier.js';
import type { OneTimeCodes } from '../../shared/security/one-time-codes.js';
import { assertNewPassword, type PasswordHasher } from '../../shared/security/passwords.js';
import { uniqueViolation } from '../../shared/db/errors.js';
import type { Secrets } from '../../shared/security/secrets.js';
import { assertWithinLimits, type Throttle } from '../../shared/security/throttle.js';
import type { PasswordSignIn } from '../../shared/security/password-sign-in.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { AccountSessions } from '../../shared/sessions.js';
import type { Jobs } from '../../shared/jobs.js';
import { personStore, type NewPerson, type Person } from './store.js';

export type { Person, RealnameStatus } from './store.js';
/** How another module's statement joins a person (the token lookup; issue #15). */
export { personJoin } from './store.js';
import { IDENTITY_VERIFICATION_JOB, neutraliseIdentityJobs, SEALED_ID_PURPOSE, type IdentityVerificationPayload } from './identity-verification.js';
import { isValidLoginName, maskIdNumber, normalizeIdNumber, normalizeLegalName, normalizeMobile } from './rules.js';

export interface PersonServiceDeps {
  db: Database;
  hasher: PasswordHasher;
  codes: OneTimeCodes;
  throttle: Throttle;
  signIn: PasswordSignIn;
  audit: AuditLog;
  secrets: Secrets;
  notifier: Notifier;
  sessions: AccountSessions;
  /** Event webhooks (`person.disabled`), written in the disabling transaction. */
  events: WebhookEvents;
  /**
   * The job queue, when an identity-verification service is configured (IDV_URL): each real-name submission then
   * also becomes a job that asks it (R-P2). Without it, submissions wait for the counter only.
   */
  identityJobs?: Jobs | undefined;
  now?: () => Date;
}

export interface Registration {
  loginName: string;
  password: string;
  passwordConfirm: string;
  mobile: string;
  challenge: string;
  code: string;
}

/** Registration attempts (the step that hashes): per client IP and per mobile number (S-28). */
export const REGISTER_LIMITS = { perIp: { limit: 20, windowSeconds: 3600 }, perMobile: { limit: 10, windowSeconds: 3600 } } as const;

/** Completing a personal password reset: failed code entries per client IP (S-21, S-26). */
const RESET_FAILURES_PER_IP = { limit: 30, windowSeconds: 3600, lockSeconds: 15 * 60, maxLockSeconds: 3600 };

function mobileOf(value: string): string {
  const mobile = normalizeMobile(value);
  if (!mobile) throw new AppError('mobile_invalid', { field: 'mobile' });
  return mobile;
}

/** Personal accounts: registration, sign-in, passwords, mobile, real-name (R-P1–R-P4). */
export class PersonService {
  readonly #now: () => Date;

  constructor(private readonly deps: PersonServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  byId(id: string, q: Queryable = this.deps.db): Promise<Person | undefined> {
    // Within a token, introspection or userinfo request, the person its token lookup read already (issue #15).
    return q === this.deps.db ? readOnce('person', id, () => personStore.byId(q, id)) : personStore.byId(q, id);
  }

  byAccount(account: string): Promise<Person | undefined> {
    return personStore.byLoginNameOrMobile(this.deps.db, account.trim());
  }

  byIds(ids: string[]): Promise<Person[]> {
    return personStore.byIds(this.deps.db, ids);
  }

  /** The person of this exact login name or mobile number, read on `q` (another module's transaction). */
  byLoginNameOrMobile(account: string, q: Queryable = this.deps.db): Promise<Person | undefined> {
    return personStore.byLoginNameOrMobile(q, account);
  }

  /** Demo data only (S-25): a person, real-name verified when `realname` is given, in the seeding transaction. */
  async insertDemo(tx: Queryable, person: NewPerson, realname?: { legalName: string; idNumber: string }): Promise<void> {
    await personStore.insert(tx, person);
    if (!realname) return;
    await personStore.submitRealname(tx, person.id, realname.legalName, this.deps.secrets.hmac('id-number', realname.idNumber), maskIdNumber(realname.idNumber), person.at);
    await personStore.decideRealname(tx, person.id, 'verified', null, null, person.at);
  }

  search(query: string | undefined): Promise<Person[]> {
    return personStore.search(this.deps.db, query?.trim() || undefined);
  }

  /**
   * Step 1 of registration: a code to the mobile number. If the number already has an account, the message
   * says so instead of carrying a code, and the page answers the same (S-22: no enumeration).
   */
  async sendRegistrationCode(mobileInput: string, locale: Locale, ip: string): Promise<string> {
    const mobile = mobileOf(mobileInput);
    if (await personStore.mobileTaken(this.deps.db, mobile)) {
      const decoy = await this.deps.codes.decoy(mobile, ip); // the same rate limits, under the same key, as a real code
      await this.deps.notifier.send({ channel: 'sms', to: mobile, template: 'register.already', body: translate(locale, 'otp.sms_already_registered') });
      return decoy.challenge;
    }
    const issued = await this.deps.codes.issue({ purpose: 'register', subject: mobile, mobile, locale, ip });
    return issued.challenge;
  }

  /**
   * Step 2: the account, created only with a valid code for that mobile number (R-P1). Rate-limited per IP and per
   * mobile number before any work (S-28). The code is checked before anything is said about the login name (S-29:
   * without a code sent to one's own phone, registration reveals no taken name; a code allows 5 checks), and the
   * password is hashed only after both.
   */
  async register(input: Registration, context: AuditContext): Promise<Person> {
    const loginName = input.loginName.trim();
    if (!isValidLoginName(loginName)) throw new AppError('login_name_invalid', { field: 'loginName' });
    const mobile = mobileOf(input.mobile);
    assertNewPassword(input.password, input.passwordConfirm, { loginName, mobile });
    const perIp = await this.deps.throttle.count(`register:ip:${context.ip ?? 'unknown'}`, REGISTER_LIMITS.perIp.limit, REGISTER_LIMITS.perIp.windowSeconds);
    const perMobile = await this.deps.throttle.count(`register:to:${mobile}`, REGISTER_LIMITS.perMobile.limit, REGISTER_LIMITS.perMobile.windowSeconds);
    assertWithinLimits(perIp, perMobile);
    await this.deps.codes.check(input.challenge, 'register', mobile, input.code);
    if (await personStore.loginNameTaken(this.deps.db, loginName)) throw new AppError('login_name_taken', { field: 'loginName' });
    const passwordHash = await this.deps.hasher.hash(input.password);
    const id = crypto.randomUUID();
    const at = this.#now();
    try {
      await this.deps.db.transaction(async (tx) => {
        await this.deps.codes.use(input.challenge, 'register', mobile, tx);
        await personStore.insert(tx, { id, loginName, passwordHash, mobile, at });
        await this.deps.audit.record({ ...context, actor: { type: 'person', id } }, { action: 'person.register', target: { type: 'person', id } }, tx);
      });
    } catch (error) {
      if (uniqueViolation(error)) {
        throw new AppError('login_name_taken', { field: 'loginName' }); // a concurrent registration won the name
      }
      throw error;
    }
    const person = await this.byId(id);
    assertThat(person, 'server');
    return person;
  }

  /**
   * The sign-in that follows a registration in the same browser (issue 14): the password was entered moments ago,
   * so none is asked again; an account disabled meanwhile is refused. Audited as a sign-in (R-A1).
   */
  async signInAfterRegistration(personId: string, context: AuditContext): Promise<Person | undefined> {
    const person = await this.byId(personId);
    if (!person || person.status !== 'active') return undefined;
    await this.deps.audit.record(
      { ...context, actor: { type: 'person', id: person.id } },
      { action: 'person.sign_in', target: { type: 'person', id: person.id }, detail: { via: 'registration' } },
    );
    return person;
  }

  /** Re-entering the current password is throttled like a sign-in, so a stolen session cannot guess it. */
  async #checkCurrentPassword(personId: string, password: string, context: AuditContext, action: string): Promise<void> {
    const hash = await personStore.passwordHash(this.deps.db, personId);
    const account = hash ? { id: personId, passwordHash: hash } : undefined;
    if (!(await this.deps.signIn.check('person', account, personId, password, context.ip))) {
      await this.deps.audit.record(context, { action, outcome: 'failure', target: { type: 'person', id: personId } });
      throw new AppError('current_password_invalid', { field: 'currentPassword' });
    }
  }

  /**
   * Password sign-in by login name or mobile number. Unknown accounts cost the same argon2 work and give the
   * same answer as a wrong password (S-22); failures are counted per account and per IP in the database (S-21).
   */
  async authenticate(accountInput: string, password: string, context: AuditContext): Promise<Person> {
    const account = accountInput.trim().toLowerCase();
    const found = account && password ? await personStore.credentialsFor(this.deps.db, account) : undefined;
    const valid = await this.deps.signIn.check('person', found, account, password, context.ip);
    if (!found || !valid) {
      await this.deps.audit.record(found ? { ...context, actor: { type: 'person', id: found.id } } : context, {
        action: 'person.sign_in',
        outcome: 'failure',
        target: found ? { type: 'person', id: found.id } : undefined,
        detail: { reason: found ? 'password' : 'unknown_account' },
      });
      throw new AppError('credentials_invalid', { field: 'password' });
    }
    if (found.status !== 'active') {
      await this.deps.audit.record(
        { ...context, actor: { type: 'person', id: found.id } },
        { action: 'person.sign_in', outcome: 'failure', target: { type: 'person', id: found.id }, detail: { reason: 'disabled' } },
      );
      throw new AppError('account_disabled');
    }
    if (this.deps.hasher.needsRehash(found.passwordHash)) {
      await personStore.setPassword(this.deps.db, found.id, await this.deps.hasher.hash(password), found.passwordChangedAt);
    }
    await this.deps.audit.record({ ...context, actor: { type: 'person', id: found.id } }, { action: 'person.sign_in', target: { type: 'person', id: found.id } });
    const { passwordHash: _hash, ...person } = found;
    return person;
  }

  /** Changes the password after checking the current one; ends the person's other sessions (S-24). */
  async changePassword(personId: string, current: string, next: string, confirm: string, context: AuditContext, keepSessionUid?: string): Promise<void> {
    const person = await this.byId(personId);
    assertThat(person, 'not_found');
    await this.#checkCurrentPassword(personId, current, context, 'person.password_change');
    assertNewPassword(next, confirm, { loginName: person.loginName, mobile: person.mobile });
    const nextHash = await this.deps.hasher.hash(next);
    await this.deps.db.transaction(async (tx) => {
      await personStore.setPassword(tx, personId, nextHash, this.#now());
      await this.deps.audit.record(context, { action: 'person.password_change', target: { type: 'person', id: personId } }, tx);
      await this.deps.sessions.endAll(personId, { keepSessionUid }, tx);
    });
  }

  /**
   * Personal password recovery (R-P4): a code to the account's verified mobile. The answer is the same whether
   * or not the account exists (S-22); an unknown account gets a challenge that can never succeed.
   */
  async startPasswordReset(accountInput: string, locale: Locale, ip: string): Promise<string> {
    const account = accountInput.trim();
    assertThat(account.length > 0 && account.length <= 64, 'account_required');
    // The limits count what was typed, for a real account and a decoy alike (S-29): a limit reached through one
    // identifier never shows that another identifier (or a unit's recovery) leads to the same mobile.
    const limitKey = `reset:${this.deps.secrets.hmac('decoy', account.toLowerCase())}`;
    const person = await personStore.byLoginNameOrMobile(this.deps.db, account);
    if (!person || person.status !== 'active' || !person.mobileVerified) {
      return (await this.deps.codes.decoy(limitKey, ip)).challenge;
    }
    const issued = await this.deps.codes.issue({ purpose: 'password_reset', subject: person.id, mobile: person.mobile, limitKey, locale, ip });
    return issued.challenge;
  }

  async completePasswordReset(challenge: string, code: string, password: string, confirm: string, context: AuditContext): Promise<Person> {
    // Malformed input and an unknown challenge (122 random bits) are refused without counting; a guess at the code
    // of a real challenge takes the IP's attempt first (S-26), and the password is hashed only once the code is
    // right (S-28: a wrong or locked request costs no argon2).
    if (!/^\d{6}$/.test(code.trim())) throw new AppError('code_invalid', { field: 'code' });
    const personId = await this.deps.codes.subjectOf(challenge, 'password_reset');
    const person = personId ? await this.byId(personId) : undefined;
    if (!person) throw new AppError('code_invalid', { field: 'code' });
    assertNewPassword(password, confirm, { loginName: person.loginName, mobile: person.mobile });
    const reservation = await this.deps.throttle.reserve([{ key: `reset:verify:ip:${context.ip ?? 'unknown'}`, policy: RESET_FAILURES_PER_IP }], 'too_many_requests');
    await this.deps.codes.check(challenge, 'password_reset', person.id, code.trim());
    const hash = await this.deps.hasher.hash(password);
    await this.deps.db.transaction(async (tx) => {
      await this.deps.codes.use(challenge, 'password_reset', person.id, tx);
      await personStore.setPassword(tx, person.id, hash, this.#now());
      await this.deps.audit.record({ ...context, actor: { type: 'person', id: person.id } }, { action: 'person.password_reset', target: { type: 'person', id: person.id } }, tx);
      await this.deps.sessions.endAll(person.id, {}, tx);
    });
    await reservation.succeeded();
    await this.deps.throttle.reset(`login:person:${person.id}`);
    return person;
  }

  /** Step 1 of a mobile change: the current password, then a code to the new number. */
  async startMobileChange(personId: string, password: string, mobileInput: string, locale: Locale, context: AuditContext): Promise<string> {
    const mobile = mobileOf(mobileInput);
    await this.#checkCurrentPassword(personId, password, context, 'person.mobile_change');
    if (await personStore.mobileTaken(this.deps.db, mobile)) throw new AppError('mobile_taken', { field: 'mobile' });
    const issued = await this.deps.codes.issue({ purpose: 'mobile_change', subject: `${personId}:${mobile}`, mobile, locale, ip: context.ip ?? 'unknown' });
    return issued.challenge;
  }

  async completeMobileChange(personId: string, mobileInput: string, challenge: string, code: string, context: AuditContext): Promise<void> {
    const mobile = mobileOf(mobileInput);
    try {
      await this.deps.codes.check(challenge, 'mobile_change', `${personId}:${mobile}`, code);
      await this.deps.db.transaction(async (tx) => {
        await this.deps.codes.use(challenge, 'mobile_change', `${personId}:${mobile}`, tx);
        await personStore.setMobile(tx, personId, mobile, this.#now());
        await this.deps.audit.record(context, { action: 'person.mobile_change', target: { type: 'person', id: personId } }, tx);
      });
    } catch (error) {
      if (uniqueViolation(error)) throw new AppError('mobile_taken', { field: 'mobile' });
      throw error;
    }
  }

  /**
   * R-P2: legal name and resident identity number; pending until an operator verifies it at the counter or, when
   * configured, the identity-verification service decides (a job written in the same transaction, the number sealed).
   */
  async submitRealname(personId: string, legalNameInput: string, idNumberInput: string, context: AuditContext): Promise<void> {
    const legalName = normalizeLegalName(legalNameInput);
    if (!legalName) throw new AppError('legal_name_invalid', { field: 'legalName' });
    const idNumber = normalizeIdNumber(idNumberInput, this.#now());
    if (!idNumber) throw new AppError('id_number_invalid', { field: 'idNumber' });
    const hmac = this.deps.secrets.hmac('id-number', idNumber);
    const at = this.#now();
    try {
      await this.deps.db.transaction(async (tx) => {
        const updated = await personStore.submitRealname(tx, personId, legalName, hmac, maskIdNumber(idNumber), at);
        assertThat(updated === 1, 'realname_not_allowed');
        await this.deps.audit.record(context, { action: 'person.realname_submit', target: { type: 'person', id: personId } }, tx);
        const jobs = this.deps.identityJobs;
        if (jobs) {
          const payload: IdentityVerificationPayload = {
            personId,
            requestId: crypto.randomUUID(),
            submittedAt: at.toISOString(),
            legalName,
            sealedIdNumber: this.deps.secrets.encrypt(SEALED_ID_PURPOSE, idNumber),
          };
          await jobs.enqueue(tx, { kind: IDENTITY_VERIFICATION_JOB, payload: { ...payload } });
        }
      });
    } catch (error) {
      if (uniqueViolation(error)) throw new AppError('id_number_taken', { field: 'idNumber' });
      throw error;
    }
  }

  /**
   * The operator checks the identity card at the counter and types its number: it must match what the person
   * submitted (only its HMAC is stored), then the person is verified.
   */
  async verifyRealname(personId: string, idNumberFromCard: string, context: AuditContext): Promise<void> {
    const idNumber = normalizeIdNumber(idNumberFromCard, this.#now());
    if (!idNumber) throw new AppError('id_number_invalid', { field: 'idNumber' });
    const stored = await personStore.idNumberHmac(this.deps.db, personId);
    if (!stored || !this.deps.secrets.hmacEquals('id-number', idNumber, stored)) {
      await this.deps.audit.record(context, { action: 'person.realname_verify', outcome: 'failure', target: { type: 'person', id: personId }, detail: { reason: 'mismatch' } });
      throw new AppError('realname_mismatch', { field: 'idNumber' });
    }
    await this.deps.db.transaction(async (tx) => {
      const updated = await personStore.decideRealname(tx, personId, 'verified', context.actor.id ?? '', null, this.#now());
      assertThat(updated === 1, 'realname_not_pending');
      await neutraliseIdentityJobs(tx, personId, this.#now());
      await this.deps.audit.record(context, { action: 'person.realname_verify', target: { type: 'person', id: personId } }, tx);
    });
  }

  async rejectRealname(personId: string, note: string, context: AuditContext): Promise<void> {
    const text = note.trim();
    assertThat(text.length >= 2 && text.length <= 200, 'note_invalid');
    await this.deps.db.transaction(async (tx) => {
      const updated = await personStore.decideRealname(tx, personId, 'rejected', context.actor.id ?? '', text, this.#now());
      assertThat(updated === 1, 'realname_not_pending');
      await neutraliseIdentityJobs(tx, personId, this.#now());
      await this.deps.audit.record(context, { action: 'person.realname_reject', target: { type: 'person', id: personId }, detail: { note: text } }, tx);
    });
  }

  /** Disabling ends every session and grant at once (S-24, R-B6); enabling restores sign-in. */
  async setStatus(personId: string, status: 'active' | 'disabled', context: AuditContext): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const updated = await personStore.setStatus(tx, personId, status, this.#now());
      assertThat(updated === 1, 'not_found');
      await this.deps.audit.record(context, { action: status === 'disabled' ? 'person.disable' : 'person.enable', target: { type: 'person', id: personId } }, tx);
      if (status === 'disabled') await this.deps.sessions.endAll(personId, {}, tx);
      if (status === 'disabled') await this.deps.events.emit(tx, 'person.disabled', { personId });
    });
  }
}
