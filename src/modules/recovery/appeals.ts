import crypto from 'node:crypto';
import type { Database, Queryable } from '../../shared/db/database.js';
import { accountIdOf } from '../../shared/account-id.js';
import { AppError, assertThat } from '../../shared/errors.js';
import { translate, type Locale } from '../../shared/i18n/index.js';
import type { Channel, Notifier } from '../../shared/notifier/notifier.js';
import { checkPassword, type PasswordHasher } from '../../shared/security/passwords.js';
import { randomString, type Secrets } from '../../shared/security/secrets.js';
import { assertWithinLimits, type LockoutPolicy, type Throttle } from '../../shared/security/throttle.js';
import type { AccountSessions, UnitAccessRevoker } from '../../shared/sessions.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { BindingService } from '../bindings/service.js';
import type { PersonService } from '../persons/service.js';
import { normalizeLegalName, normalizeMobile } from '../persons/rules.js';
import type { WebhookEvents } from '../webhooks/events.js';
import type { Unit, UnitService } from '../units/service.js';
import { normalizeUnitName } from '../units/certificates.js';
import { checkDocuments, type UploadedFile } from './documents.js';
import { recoveryStore, type Appeal, type AppealDocumentInfo, type AppealKind, type AppealStatus } from './store.js';
import { appealState, canTransitionAppeal, type AppealState } from './appeal-lifecycle.js';

export type { Appeal, AppealDocumentInfo, AppealKind, AppealStatus } from './store.js';

/** Unambiguous alphabet (no 0/O, 1/I/L); 12 symbols carry 59 bits. */
const REFERENCE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const REFERENCE_LENGTH = 12;
/** The single-use link sent on approval is valid this long (R-R3: short-lived). */
export const APPEAL_LINK_TTL_HOURS = 24;

/** Rate limits of appeals (S-21): submissions per certificate and per IP; failed status look-ups per IP. */
export const APPEAL_LIMITS = {
  submitPerIp: { limit: 10, windowSeconds: 3600 },
  submitPerCertificate: { limit: 3, windowSeconds: 24 * 3600 },
  statusFailuresPerIp: { limit: 10, windowSeconds: 15 * 60, lockSeconds: 15 * 60, maxLockSeconds: 3600 } satisfies LockoutPolicy,
  linkFailuresPerIp: { limit: 10, windowSeconds: 15 * 60, lockSeconds: 15 * 60, maxLockSeconds: 3600 } satisfies LockoutPolicy,
} as const;

export type { AppealState } from './appeal-lifecycle.js';

export interface AppealForm {
  applicantName: string;
  contact: string;
  certType: string;
  certNo: string;
  kind: string;
  /** Kind `takeover`: the login name (or mobile) of the applicant's own real-name verified person account. */
  applicantAccount?: string;
}

export interface AppealServiceDeps {
  db: Database;
  units: UnitService;
  persons: Pick<PersonService, 'byLoginNameOrMobile'>;
  bindings: Pick<BindingService, 'handOver'>;
  notifier: Notifier;
  /** Whether e-mail can be sent (production without SMTP cannot): otherwise applicants give a mobile number. */
  emailEnabled: boolean;
  hasher: PasswordHasher;
  throttle: Throttle;
  audit: AuditLog;
  secrets: Secrets;
  sessions: AccountSessions;
  issuer: string;
  /** A takeover revokes the previous people's grants for the unit inside its transaction (S-56). */
  revoker: UnitAccessRevoker;
  events: WebhookEvents;
  allScopes: () => string[];
  now?: () => Date;
}

/** `ABCD-EFGH-JKMN`; what the applicant types is normalised (case, spaces, hyphens) before the look-up. */
export function formatReference(reference: string): string {
  return reference.replace(/(.{4})(?=.)/g, '$1-');
}

function normalizeReference(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, '');
}

const EMAIL = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** A mobile number or an e-mail address, normalised, with the channel to reach it. */
export function parseContact(input: string): { channel: Channel; contact: string } | undefined {
  const mobile = normalizeMobile(input);
  if (mobile) return { channel: 'sms', contact: mobile };
  const email = input.trim().toLowerCase();
  return email.length <= 254 && EMAIL.test(email) ? { channel: 'email', contact: email } : undefined;
}

/**
 * Appeals (申诉, R-R3): an applicant without the common contact files certificate documents; an operator decides;
 * approval sends a single-use link, valid APPEAL_LINK_TTL_HOURS, to the applicant's mobile or e-mail. Filing says
 * nothing about whether a unit is registered with the certificate (S-22), except that a verified unit is refused,
 * since R-R2 offers it only the common-contact path.
 */
export class AppealService {
  readonly #now: () => Date;

  constructor(private readonly deps: AppealServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  get emailEnabled(): boolean {
    return this.deps.emailEnabled;
  }

  #linkDigest(token: string): string {
    return this.deps.secrets.hmac('appeal-link', token);
  }

  state(appeal: Appeal, at: Date = this.#now()): AppealState {
    return appealState(appeal, at);
  }

  /** A message job written in the caller's transaction (S-56): delivered, with retries, once it commits. */
  async #notify(
    appeal: Pick<Appeal, 'contactChannel' | 'contact' | 'locale'>,
    template: 'submitted' | 'approved' | 'rejected',
    params: Record<string, string | number>,
    tx: Queryable,
  ): Promise<void> {
    const locale = appeal.locale;
    await this.deps.notifier.send(
      {
        channel: appeal.contactChannel,
        to: appeal.contact,
        template: `appeal.${template}`,
        subject: translate(locale, `recovery.appeal_mail_subject.${template}`, params),
        body: translate(locale, `recovery.appeal_message.${template}`, params),
      },
      tx,
    );
  }

  /** Before an appeal's body is read (S-35): the per-IP limit, counted for every attempt. */
  async admit(context: AuditContext): Promise<void> {
    assertWithinLimits(await this.deps.throttle.count(`appeal:ip:${context.ip ?? 'unknown'}`, APPEAL_LIMITS.submitPerIp.limit, APPEAL_LIMITS.submitPerIp.windowSeconds));
  }

  /**
   * Files an appeal (after `admit`): fields, then documents (sniffed), then the per-certificate limit; nothing is
   * written on a refusal.
   */
  async submit(form: AppealForm, files: readonly UploadedFile[], locale: Locale, context: AuditContext): Promise<string> {
    const applicantName = normalizeLegalName(form.applicantName);
    if (!applicantName) throw new AppError('appeal_applicant_invalid', { field: 'applicantName' });
    const reach = parseContact(form.contact);
    if (!reach) throw new AppError('appeal_contact_invalid', { field: 'contact' });
    if (reach.channel === 'email' && !this.deps.emailEnabled) throw new AppError('appeal_email_unavailable', { field: 'contact' });
    const { certType, certNo } = this.deps.units.certificate(form.certType, form.certNo);
    if (form.kind !== 'account' && form.kind !== 'password' && form.kind !== 'takeover') throw new AppError('appeal_kind_invalid', { field: 'kind' });
    const kind: AppealKind = form.kind;
    // A takeover names the person who becomes the common contact. It is kept as typed and looked up only when the
    // operator decides: the filing answers alike for an existing, a missing and an unverified account (S-29).
    let applicantAccount: string | null = null;
    if (kind === 'takeover') {
      const account = (form.applicantAccount ?? '').trim();
      if (!account || [...account].length > 64) throw new AppError('appeal_applicant_account_invalid', { field: 'applicantAccount' });
      applicantAccount = normalizeMobile(account) ?? account;
    }
    const documents = await checkDocuments(files);
    assertWithinLimits(
      await this.deps.throttle.count(`appeal:cert:${certType}:${certNo}`, APPEAL_LIMITS.submitPerCertificate.limit, APPEAL_LIMITS.submitPerCertificate.windowSeconds),
    );
    const unit = await this.deps.units.byCertificate(certType, certNo);
    if (unit?.verified) throw new AppError('appeal_unit_verified', { field: 'certNo' });
    const id = crypto.randomUUID();
    const reference = randomString(REFERENCE_LENGTH, REFERENCE_ALPHABET);
    const at = this.#now();
    await this.deps.db.transaction(async (tx) => {
      await recoveryStore.insertAppeal(tx, {
        id,
        reference,
        kind,
        certType,
        certNo,
        unitId: unit?.id ?? null,
        applicantName,
        applicantAccount,
        contactChannel: reach.channel,
        contact: reach.contact,
        locale,
        ip: context.ip ?? null,
        at,
      });
      for (const document of documents) await recoveryStore.insertDocument(tx, id, document, at);
      await this.deps.audit.record(
        { ...context, actingUnitId: unit?.id },
        {
          action: 'appeal.submit',
          target: { type: 'appeal', id },
          detail: { reference, kind, certType, certNo, documents: documents.map((document) => ({ type: document.contentType, size: document.size, sha256: document.sha256 })) },
        },
        tx,
      );
      await this.#notify({ contactChannel: reach.channel, contact: reach.contact, locale }, 'submitted', { reference: formatReference(reference) }, tx);
    });
    return formatReference(reference);
  }

  /**
   * The state of an appeal for its applicant: the reference and the contact given when filing must both match;
   * an unknown reference and a wrong contact give the same answer, and failures are throttled per IP.
   */
  async status(referenceInput: string, contactInput: string, context: AuditContext): Promise<{ appeal: Appeal; state: AppealState; reference: string }> {
    // Reserve before verify (S-26): the IP's attempt is taken before the reference and contact are compared.
    const reservation = await this.deps.throttle.reserve([{ key: `appeal:status:ip:${context.ip ?? 'unknown'}`, policy: APPEAL_LIMITS.statusFailuresPerIp }], 'too_many_requests');
    const reference = normalizeReference(referenceInput);
    const reach = parseContact(contactInput);
    const appeal = reference.length === REFERENCE_LENGTH && /^[A-Z0-9]+$/.test(reference) ? await recoveryStore.byReference(this.deps.db, reference) : undefined;
    if (!appeal || !reach || reach.contact !== appeal.contact) {
      await this.deps.audit.record(context, { action: 'appeal.status_view', outcome: 'failure' });
      throw new AppError('appeal_not_found', { field: 'reference' });
    }
    await reservation.succeeded();
    await this.deps.audit.record({ ...context, actingUnitId: appeal.unitId ?? undefined }, { action: 'appeal.status_view', target: { type: 'appeal', id: appeal.id } });
    return { appeal, state: this.state(appeal), reference: formatReference(appeal.reference) };
  }

  // Operator side (the counter console).

  async list(status: AppealStatus | undefined): Promise<(Appeal & { state: AppealState; unit: Unit | undefined; referenceText: string })[]> {
    const appeals = await recoveryStore.list(this.deps.db, status);
    const units = await this.deps.units.byIds(appeals.flatMap((appeal) => (appeal.unitId ? [appeal.unitId] : [])));
    const at = this.#now();
    return appeals.map((appeal) => ({
      ...appeal,
      state: this.state(appeal, at),
      unit: units.find((unit) => unit.id === appeal.unitId),
      referenceText: formatReference(appeal.reference),
    }));
  }

  /** The appeals of one unit (the operator console's unit page, the management API). */
  async listForUnit(unitId: string): Promise<(Appeal & { state: AppealState; referenceText: string })[]> {
    const at = this.#now();
    return (await recoveryStore.forUnit(this.deps.db, unitId)).map((appeal) => ({ ...appeal, state: this.state(appeal, at), referenceText: formatReference(appeal.reference) }));
  }

  async get(
    id: string,
  ): Promise<{ appeal: Appeal; state: AppealState; unit: Unit | undefined; documents: AppealDocumentInfo[]; referenceText: string; applicantAccount: string | undefined }> {
    const appeal = await recoveryStore.byId(this.deps.db, id);
    if (!appeal) throw new AppError('not_found');
    const unit = appeal.unitId ? await this.deps.units.byId(appeal.unitId) : undefined;
    // A takeover names the person who would become the common contact: the operator sees login name and legal name.
    const person = await this.#applicant(this.deps.db, appeal);
    return {
      appeal,
      state: this.state(appeal),
      unit,
      documents: await recoveryStore.documents(this.deps.db, appeal.id),
      referenceText: formatReference(appeal.reference),
      applicantAccount: person && `${person.loginName}（${person.legalName ?? ''}）`,
    };
  }

  /**
   * One document for an operator (audited; `preview` when it is shown inline on the appeal page, with the page
   * number for a page image of a PDF, so that no page is seen unlogged); the route serves it with its sniffed type.
   */
  async document(
    appealId: string,
    documentId: string,
    context: AuditContext,
    preview: false | { page?: number } = false,
  ): Promise<AppealDocumentInfo & { content: Buffer; reference: string }> {
    const appeal = await recoveryStore.byId(this.deps.db, appealId);
    const document = appeal && (await recoveryStore.documentContent(this.deps.db, appeal.id, documentId));
    if (!appeal || !document) throw new AppError('not_found');
    const shown = preview ? { preview: true, ...(preview.page === undefined ? {} : { page: preview.page }) } : {};
    await this.deps.audit.record(
      { ...context, actingUnitId: appeal.unitId ?? undefined },
      { action: 'appeal.document_download', target: { type: 'appeal', id: appeal.id }, detail: { document: document.id, seq: document.seq, ...shown } },
    );
    return { ...document, reference: appeal.reference };
  }

  /**
   * A document's bytes for the server only, unaudited: the preview counts a PDF's pages with it to lay out the appeal
   * page (issue 14). Nothing of it reaches a browser; each page image is fetched through `document` (audited).
   */
  async documentBytes(appealId: string, documentId: string): Promise<Buffer> {
    const document = await recoveryStore.documentContent(this.deps.db, appealId, documentId);
    if (!document) throw new AppError('not_found');
    return document.content;
  }

  /**
   * Approval: only for an appeal that names a registered, active unit that is still unverified (R-R2). A random
   * token is sent to the applicant as a link; only its HMAC is kept. The message is a job of the same transaction:
   * approved and queued together, or neither.
   */
  async approve(id: string, noteInput: string, context: AuditContext, unitNameInput = ''): Promise<void> {
    const note = noteInput.trim();
    assertThat(note.length <= 200, 'note_invalid');
    // A takeover may correct the unit name the squatter typed (R-U4: the unit is unverified); empty keeps it.
    const unitName = unitNameInput.trim() ? normalizeUnitName(unitNameInput) : undefined;
    if (unitNameInput.trim() && !unitName) throw new AppError('unit_name_invalid', { field: 'unitName' });
    const token = crypto.randomBytes(32).toString('base64url');
    // A takeover invalidates the unit password: a hash of a random secret nobody knows (computed before the
    // transaction, so no lock is held while hashing); the applicant sets a new one with the link.
    const pending = await recoveryStore.byId(this.deps.db, id);
    const unknowable = pending?.kind === 'takeover' ? await this.deps.hasher.hash(crypto.randomBytes(32).toString('base64url')) : undefined;
    const at = this.#now();
    const expiresAt = new Date(at.getTime() + APPEAL_LINK_TTL_HOURS * 3600 * 1000);
    await this.deps.db.transaction(async (tx) => {
      const appeal = await recoveryStore.byId(tx, id, true);
      if (!appeal) throw new AppError('not_found');
      if (!canTransitionAppeal('approve', appeal.status)) throw new AppError('appeal_not_pending');
      const unit = appeal.unitId ? await this.deps.units.byId(appeal.unitId, tx, true) : undefined;
      if (!unit || unit.status !== 'active') throw new AppError('appeal_no_unit');
      if (unit.verified) throw new AppError('appeal_unit_verified');
      if (appeal.kind === 'takeover') await this.#takeOver(tx, appeal, unit, unknowable, unitName, at, context);
      await recoveryStore.decide(tx, appeal.id, {
        status: 'approved',
        operatorId: context.actor.id ?? '',
        note: note || null,
        linkHmac: this.#linkDigest(token),
        linkExpiresAt: expiresAt,
        at,
      });
      await this.deps.audit.record(
        { ...context, actingUnitId: unit.id },
        { action: 'appeal.approve', target: { type: 'appeal', id: appeal.id }, detail: { reference: appeal.reference, kind: appeal.kind, note } },
        tx,
      );
      const link = `${this.deps.issuer}/recover/unit/appeal/link?token=${token}`;
      await this.#notify(appeal, 'approved', { reference: formatReference(appeal.reference), link, hours: APPEAL_LINK_TTL_HOURS }, tx);
    });
  }

  /** The person a takeover names, when that account exists, is active and real-name verified (else undefined). */
  async #applicant(db: Queryable, appeal: Appeal) {
    if (!appeal.applicantAccount) return undefined;
    const person = await this.deps.persons.byLoginNameOrMobile(appeal.applicantAccount, db);
    return person && person.status === 'active' && person.realnameStatus === 'verified' ? person : undefined;
  }

  /**
   * Certificate squatting (issue #11): the applicant becomes the unit's common contact and the unit starts clean.
   * Every live binding (the squatter's contact binding and any handler or pending invitation) is unbound and its
   * grants revoked with back-channel logout jobs; the applicant gets a new contact binding with every business;
   * the unit password is replaced by an unknowable one and the unit account's sessions end. All in the caller's
   * transaction, audited as `unit.contact_replaced`.
   */
  async #takeOver(tx: Queryable, appeal: Appeal, unit: Unit, unknowable: string | undefined, unitName: string | undefined, at: Date, context: AuditContext): Promise<void> {
    const person = await this.#applicant(tx, appeal);
    if (!person || !unknowable) throw new AppError('appeal_applicant_unusable');
    const { previous, bindingId } = await this.deps.bindings.handOver(tx, unit.id, person.id, at);
    const renamed = unitName !== undefined && unitName !== unit.name;
    if (renamed) await this.deps.units.rename(tx, unit, unitName, context, at);
    await this.deps.units.setPasswordHash(tx, unit.id, unknowable, at);
    await this.deps.sessions.endAll(accountIdOf({ kind: 'unit', id: unit.id }), {}, tx);
    const contact = previous.find((binding) => binding.role === 'contact' && binding.status === 'active');
    await this.deps.audit.record(
      { ...context, actingUnitId: unit.id },
      {
        action: 'unit.contact_replaced',
        target: { type: 'unit', id: unit.id },
        detail: {
          appeal: appeal.id,
          reference: appeal.reference,
          previousContact: contact?.personId ?? null,
          newContact: person.id,
          bindingId,
          unbound: previous.map((binding) => binding.id),
          ...(renamed ? { oldName: unit.name, name: unitName } : {}),
        },
      },
      tx,
    );
  }

  async reject(id: string, noteInput: string, context: AuditContext): Promise<void> {
    const note = noteInput.trim();
    assertThat(note.length >= 2 && note.length <= 200, 'note_invalid');
    await this.deps.db.transaction(async (tx) => {
      const appeal = await recoveryStore.byId(tx, id, true);
      if (!appeal) throw new AppError('not_found');
      if (!canTransitionAppeal('reject', appeal.status)) throw new AppError('appeal_not_pending');
      await recoveryStore.decide(tx, appeal.id, { status: 'rejected', operatorId: context.actor.id ?? '', note, linkHmac: null, linkExpiresAt: null, at: this.#now() });
      await this.deps.audit.record(
        { ...context, actingUnitId: appeal.unitId ?? undefined },
        { action: 'appeal.reject', target: { type: 'appeal', id: appeal.id }, detail: { reference: appeal.reference, note } },
        tx,
      );
      await this.#notify(appeal, 'rejected', { reference: formatReference(appeal.reference), note }, tx);
    });
  }

  // The applicant's single-use link.

  async #findLink(token: string): Promise<Appeal | undefined> {
    return /^[A-Za-z0-9_-]{43}$/.test(token) ? recoveryStore.byLink(this.deps.db, this.#linkDigest(token)) : undefined;
  }

  async #linkAppeal(token: string, context: AuditContext): Promise<{ appeal: Appeal; succeeded: () => Promise<void> }> {
    // Reserve before verify (S-26): the IP's attempt is taken before the token is looked up.
    const reservation = await this.deps.throttle.reserve([{ key: `appeal:link:ip:${context.ip ?? 'unknown'}`, policy: APPEAL_LIMITS.linkFailuresPerIp }], 'too_many_requests');
    const appeal = await this.#findLink(token);
    if (!appeal || this.state(appeal) !== 'approved') {
      await this.deps.audit.record(appeal ? { ...context, actingUnitId: appeal.unitId ?? undefined } : context, {
        action: 'appeal.link_use',
        outcome: 'failure',
        target: appeal ? { type: 'appeal', id: appeal.id } : undefined,
        detail: { reason: appeal ? this.state(appeal) : 'unknown' },
      });
      throw new AppError('appeal_link_invalid');
    }
    return { appeal, succeeded: () => reservation.succeeded() };
  }

  /**
   * The page behind the link: which recovery it grants. Looking changes nothing at all (S-32: a GET writes no audit
   * row and no counter); the token has 256 bits, so there is nothing to throttle here, and the form's POST counts.
   */
  async checkLink(token: string): Promise<{ kind: AppealKind; reference: string }> {
    const appeal = await this.#findLink(token);
    if (!appeal || this.state(appeal) !== 'approved') throw new AppError('appeal_link_invalid');
    return { kind: appeal.kind, reference: formatReference(appeal.reference) };
  }

  /**
   * Uses the link once: account recovery reveals the login name; password recovery sets the new password and ends
   * the unit account's sessions. The unit must still be active and unverified (R-R2).
   */
  async useLink(token: string, input: { password?: string; passwordConfirm?: string }, context: AuditContext): Promise<{ kind: AppealKind; unit: Unit }> {
    const { appeal, succeeded } = await this.#linkAppeal(token, context);
    const unit = appeal.unitId ? await this.deps.units.byId(appeal.unitId) : undefined;
    if (!unit || unit.status !== 'active') throw new AppError('appeal_link_invalid');
    if (unit.verified) throw new AppError('appeal_unit_verified');
    let hash: string | undefined;
    if (appeal.kind === 'password' || appeal.kind === 'takeover') {
      const problem = checkPassword(input.password ?? '', { loginName: unit.loginName });
      if (problem) throw new AppError(`password_${problem}`, { field: 'password' });
      if (input.password !== input.passwordConfirm) throw new AppError('password_mismatch', { field: 'passwordConfirm' });
      hash = await this.deps.hasher.hash(input.password!);
    }
    const at = this.#now();
    await this.deps.db.transaction(async (tx) => {
      if ((await recoveryStore.useLink(tx, appeal.id, at)) !== 1) throw new AppError('appeal_link_invalid');
      const audit = { ...context, actingUnitId: unit.id };
      if (hash) {
        await this.deps.units.setPasswordHash(tx, unit.id, hash, at);
        await this.deps.audit.record(audit, { action: 'unit.password_reset', target: { type: 'unit', id: unit.id }, detail: { path: 'appeal', appeal: appeal.id } }, tx);
        await this.deps.sessions.endAll(accountIdOf({ kind: 'unit', id: unit.id }), {}, tx);
      } else {
        await this.deps.audit.record(audit, { action: 'recovery.account_reveal', target: { type: 'unit', id: unit.id }, detail: { path: 'appeal', appeal: appeal.id } }, tx);
      }
    });
    await succeeded();
    if (hash) await this.deps.throttle.reset(`login:unit:${unit.id}`);
    return { kind: appeal.kind, unit };
  }
}
