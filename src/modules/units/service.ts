import { readOnce } from '../../shared/request-reads.js';
import crypto from 'node:crypto';
import type { WebhookEvents } from '../webhooks/events.js';
import type { Database, Queryable } from '../../shared/db/database.js';
import { AppError, assertThat } from '../../shared/errors.js';
import { assertNewPassword, type PasswordHasher } from '../../shared/security/passwords.js';
import { uniqueViolation } from '../../shared/db/errors.js';
import type { PasswordSignIn } from '../../shared/security/password-sign-in.js';
import type { AccountSessions, UnitAccessRevoker } from '../../shared/sessions.js';
import { accountIdOf } from '../../shared/account-id.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import { isValidLoginName } from '../persons/rules.js';
import { isCertType, normalizeCertNo, normalizeUnitName, type CertType } from './certificates.js';
import { unitStore, type NewUnit, type Unit } from './store.js';

export type { Unit } from './store.js';
/** How another module's statement joins a unit (the token lookup, the unit picker; issue #15). */
export { mfaRequiredSql, unitJoin } from './store.js';

/** What unit registration needs of the persons module. */
export interface RegistrantLookup {
  byId(id: string): Promise<{ realnameStatus: string } | undefined>;
}

/** What unit registration needs of the bindings module: the first common contact, in the registration transaction. */
export interface FirstContact {
  insertActive(tx: Queryable, binding: { id: string; unitId: string; personId: string; role: 'contact'; scopes: string[]; at: Date }): Promise<void>;
}

export interface UnitRegistration {
  name: string;
  certType: string;
  certNo: string;
  loginName: string;
  password: string;
  passwordConfirm: string;
}

export interface UnitServiceDeps {
  db: Database;
  persons: RegistrantLookup;
  bindings: FirstContact;
  revoker: UnitAccessRevoker;
  hasher: PasswordHasher;
  signIn: PasswordSignIn;
  audit: AuditLog;
  sessions: AccountSessions;
  /** Every business scope of the catalogue: what a common contact holds. */
  allScopes: () => string[];
  /** Event webhooks (`unit.renamed`), written in the renaming transaction. */
  events: WebhookEvents;
  now?: () => Date;
}

/** Units and unit accounts (R-U1–R-U4). */
export class UnitService {
  readonly #now: () => Date;

  constructor(private readonly deps: UnitServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  /** The unit, read on `q` (another module's transaction) and locked when `lock`. */
  byId(id: string, q: Queryable = this.deps.db, lock = false): Promise<Unit | undefined> {
    // Within a token, introspection or userinfo request, the unit its token lookup read already (issue #15).
    if (q === this.deps.db && !lock) return readOnce('unit', id, () => unitStore.byId(q, id));
    return unitStore.byId(q, id, lock);
  }

  byIds(ids: string[]): Promise<Unit[]> {
    return unitStore.byIds(this.deps.db, ids);
  }

  byCertificate(certType: CertType, certNo: string): Promise<Unit | undefined> {
    return unitStore.byCertificate(this.deps.db, certType, certNo);
  }

  /** Demo data only (S-25): a unit, verified when `verified`, in the seeding transaction. */
  async insertDemo(tx: Queryable, unit: NewUnit, verified: boolean): Promise<void> {
    await unitStore.insert(tx, unit);
    if (verified) await unitStore.markVerified(tx, unit.id, 'system:demo', unit.at);
  }

  /** Replaces the unit account's password hash in the caller's transaction (recovery, appeals). */
  async setPasswordHash(tx: Queryable, unitId: string, hash: string, at: Date): Promise<void> {
    await unitStore.setPassword(tx, unitId, hash, at);
  }

  /** Renames the (locked) unit in the caller's transaction: the `unit.renamed` event and the name history. */
  async rename(tx: Queryable, unit: Unit, name: string, context: AuditContext, at: Date): Promise<void> {
    await unitStore.setName(tx, unit.id, name, at);
    await this.deps.events.emit(tx, 'unit.renamed', { unitId: unit.id, name, previousName: unit.name });
    await unitStore.addNameHistory(tx, unit.id, unit.name, name, `${context.actor.type}:${context.actor.id ?? ''}`, at);
  }

  /** Fuzzy search for the counter; an empty text lists the most recent units. */
  search(query: string): Promise<Unit[]> {
    return unitStore.search(this.deps.db, query.trim());
  }

  nameHistory(id: string) {
    return unitStore.nameHistory(this.deps.db, id);
  }

  /** Checks the certificate fields and returns them normalised (R-U2). */
  certificate(certType: string, certNo: string): { certType: CertType; certNo: string } {
    if (!isCertType(certType)) throw new AppError('unit_cert_type_invalid', { field: 'certType' });
    const normalized = normalizeCertNo(certType, certNo);
    if (!normalized) throw new AppError(certType === 'uscc' ? 'unit_uscc_invalid' : 'unit_cert_no_invalid', { field: 'certNo' });
    return { certType, certNo: normalized };
  }

  /**
   * R-U1/R-U2: a real-name verified person registers the unit and becomes its first common contact (an active
   * contact binding with every business permission). A second registration of the same certificate is refused
   * with “单位已注册”.
   */
  async register(personId: string, input: UnitRegistration, context: AuditContext): Promise<Unit> {
    const person = await this.deps.persons.byId(personId);
    assertThat(person, 'not_found');
    if (person.realnameStatus !== 'verified') throw new AppError('unit_registrant_not_verified');
    const name = normalizeUnitName(input.name);
    if (!name) throw new AppError('unit_name_invalid', { field: 'name' });
    const { certType, certNo } = this.certificate(input.certType, input.certNo);
    const loginName = input.loginName.trim();
    if (!isValidLoginName(loginName)) throw new AppError('login_name_invalid', { field: 'loginName' });
    assertNewPassword(input.password, input.passwordConfirm, { loginName });
    if (await unitStore.byCertificate(this.deps.db, certType, certNo)) throw new AppError('unit_registered', { field: 'certNo' });
    if (await unitStore.loginNameTaken(this.deps.db, loginName)) throw new AppError('login_name_taken', { field: 'loginName' });
    const passwordHash = await this.deps.hasher.hash(input.password);
    const id = crypto.randomUUID();
    const at = this.#now();
    try {
      await this.deps.db.transaction(async (tx) => {
        await unitStore.insert(tx, { id, name, certType, certNo, loginName, passwordHash, registeredBy: personId, at });
        await this.deps.bindings.insertActive(tx, { id: crypto.randomUUID(), unitId: id, personId, role: 'contact', scopes: this.deps.allScopes(), at });
        await this.deps.audit.record({ ...context, actingUnitId: id }, { action: 'unit.register', target: { type: 'unit', id }, detail: { certType, certNo, name } }, tx);
      });
    } catch (error) {
      const constraint = uniqueViolation(error);
      if (constraint === 'unit_certificate_key') throw new AppError('unit_registered', { field: 'certNo' });
      if (constraint === 'unit_login_name_key') throw new AppError('login_name_taken', { field: 'loginName' });
      throw error;
    }
    const unit = await this.byId(id);
    assertThat(unit, 'server');
    return unit;
  }

  /** Unit account sign-in (the 单位登录 tab), throttled like personal sign-in (S-21, S-22). */
  async authenticate(loginNameInput: string, password: string, context: AuditContext): Promise<Unit> {
    const loginName = loginNameInput.trim().toLowerCase();
    const found = loginName && password ? await unitStore.credentialsFor(this.deps.db, loginName) : undefined;
    const valid = await this.deps.signIn.check('unit', found, loginName, password, context.ip);
    if (!found || !valid) {
      await this.deps.audit.record(found ? { ...context, actor: { type: 'unit', id: found.id }, actingUnitId: found.id } : context, {
        action: 'unit.sign_in',
        outcome: 'failure',
        target: found ? { type: 'unit', id: found.id } : undefined,
      });
      throw new AppError('credentials_invalid', { field: 'password' });
    }
    if (found.status !== 'active') throw new AppError('account_disabled');
    await this.deps.audit.record({ ...context, actor: { type: 'unit', id: found.id }, actingUnitId: found.id }, { action: 'unit.sign_in', target: { type: 'unit', id: found.id } });
    const { passwordHash: _hash, ...unit } = found;
    return unit;
  }

  /** R-U4: the general form changes the name only while the unit is unverified; certificate fields never. */
  async updateName(unitId: string, nameInput: string, context: AuditContext): Promise<void> {
    await this.changeName(unitId, nameInput, context, 'unit.update', (unit, name) => {
      if (unit.verified) throw new AppError('unit_name_locked', { field: 'name' });
      return unit.name !== name;
    });
  }

  /**
   * R-U4 / guide §8: the dedicated name change of a verified unit; the previous name stays in the history and
   * tokens issued or refreshed afterwards carry the new name.
   */
  async changeVerifiedName(unitId: string, nameInput: string, context: AuditContext): Promise<void> {
    await this.changeName(unitId, nameInput, context, 'unit.name_change', (unit, name) => {
      if (!unit.verified) throw new AppError('unit_name_change_unverified', { field: 'name' });
      if (unit.name === name) throw new AppError('unit_name_unchanged', { field: 'name' });
      return true;
    });
  }

  /**
   * A name change in one transaction on the locked unit: `proceed` refuses (throws) or skips (false) it; a change
   * is renamed, kept in the history and audited as `action`.
   */
  private async changeName(
    unitId: string,
    nameInput: string,
    context: AuditContext,
    action: 'unit.update' | 'unit.name_change',
    proceed: (unit: Unit, name: string) => boolean,
  ): Promise<void> {
    const name = normalizeUnitName(nameInput);
    if (!name) throw new AppError('unit_name_invalid', { field: 'name' });
    await this.deps.db.transaction(async (tx) => {
      const unit = await unitStore.byId(tx, unitId, true);
      assertThat(unit, 'not_found');
      if (!proceed(unit, name)) return;
      await this.rename(tx, unit, name, context, this.#now());
      await this.deps.audit.record(context, { action, target: { type: 'unit', id: unitId }, detail: { oldName: unit.name, name } }, tx);
    });
  }

  /** Changes the unit account's password; ends the unit account's other sessions. */
  async changePassword(unitId: string, current: string, next: string, confirm: string, context: AuditContext, keepSessionUid?: string): Promise<void> {
    const unit = await this.byId(unitId);
    assertThat(unit, 'not_found');
    const hash = await unitStore.passwordHash(this.deps.db, unitId);
    if (!(await this.deps.signIn.check('unit', hash ? { id: unitId, passwordHash: hash } : undefined, unitId, current, context.ip))) {
      await this.deps.audit.record(context, { action: 'unit.password_change', outcome: 'failure', target: { type: 'unit', id: unitId } });
      throw new AppError('current_password_invalid', { field: 'currentPassword' });
    }
    assertNewPassword(next, confirm, { loginName: unit.loginName });
    const nextHash = await this.deps.hasher.hash(next);
    await this.deps.db.transaction(async (tx) => {
      await unitStore.setPassword(tx, unitId, nextHash, this.#now());
      await this.deps.audit.record(context, { action: 'unit.password_change', target: { type: 'unit', id: unitId } }, tx);
      await this.deps.sessions.endAll(accountIdOf({ kind: 'unit', id: unitId }), { keepSessionUid }, tx);
    });
  }

  /** R-B6: a disabled unit gets no tokens on any path; its handlers' access and the unit account's sessions end. */
  async setStatus(unitId: string, status: 'active' | 'disabled', context: AuditContext): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const updated = await unitStore.setStatus(tx, unitId, status, this.#now());
      assertThat(updated === 1, 'not_found');
      await this.deps.audit.record(
        { ...context, actingUnitId: unitId },
        { action: status === 'disabled' ? 'unit.disable' : 'unit.enable', target: { type: 'unit', id: unitId } },
        tx,
      );
      // Revocation inside the state change (S-24, S-56).
      if (status === 'disabled') {
        await this.deps.revoker.revokeAllForUnit(tx, unitId);
        await this.deps.sessions.endAll(accountIdOf({ kind: 'unit', id: unitId }), {}, tx);
      }
    });
  }
}
