import { readOnce } from '../../shared/request-reads.js';
import crypto from 'node:crypto';
import type { Database, Queryable } from '../../shared/db/database.js';
import { uniqueViolation } from '../../shared/db/errors.js';
import { AppError, assertThat } from '../../shared/errors.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';
import type { WebhookEvents } from '../webhooks/events.js';
import type { UnitAccessRevoker } from '../../shared/sessions.js';
import type { Person, PersonService } from '../persons/service.js';
import { normalizeMobile } from '../persons/rules.js';
import type { Unit, UnitService } from '../units/service.js';
import { bindingStore, type Binding, type PickerAsk, type PickerPage, type PickerRow } from './store.js';

/** How another module's statement joins the live binding of a unit and a person (the token lookup; issue #15). */
export { liveBindingJoin } from './store.js';
import type { NoticeService } from '../notices/service.js';
import { canTransition, effectiveStatus, LIVE, TRANSITIONS, type EffectiveStatus, type PersonBindingAction } from './lifecycle.js';

export interface BindRequest {
  /** Login name or mobile number of the person to bind. */
  account: string;
  scopes: string[];
  /** Optional validity period, dates `YYYY-MM-DD` in China Standard Time, both inclusive. */
  validFrom?: string | undefined;
  validUntil?: string | undefined;
}

export interface BindingView extends Binding {
  effective: EffectiveStatus;
  /** The validity period as the dates a person chose (China Standard Time, end inclusive). */
  validFromDate: string | null;
  validUntilDate: string | null;
  /** The business scopes in force: the granted ones that are still in the catalogue (a contact's too, R-B5). */
  effectiveScopes: string[];
}

export interface BindingServiceDeps {
  db: Database;
  persons: Pick<PersonService, 'byId' | 'byIds' | 'byLoginNameOrMobile'>;
  units: Pick<UnitService, 'byId' | 'byIds'>;
  audit: AuditLog;
  /** Every business scope of the catalogue. */
  allScopes: () => string[];
  revoker: UnitAccessRevoker;
  /** Event webhooks: written in the transaction of each change (S-56). */
  events: WebhookEvents;
  /** Tells the person of an invitation or an unbinding (account centre and SMS), in the change's transaction. */
  notices: Pick<NoticeService, 'notify'>;
  now?: () => Date;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Start of a calendar day in China Standard Time (UTC+8). */
function chinaDay(value: string, field: string, plusDays = 0): Date {
  const match = DATE.exec(value.trim());
  const date = match ? new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + plusDays, -8)) : undefined;
  if (!match || !date || Number.isNaN(date.getTime())) throw new AppError('binding_validity_invalid', { field });
  const check = new Date(date.getTime() + 8 * 3600 * 1000);
  if (plusDays === 0 && (check.getUTCFullYear() !== Number(match[1]) || check.getUTCMonth() + 1 !== Number(match[2]) || check.getUTCDate() !== Number(match[3]))) {
    throw new AppError('binding_validity_invalid', { field });
  }
  return date;
}

/** Handler bindings and the common contact (R-B1–R-B6, C-UI4). Every unit-side call is scoped by the unit. */
export class BindingService {
  readonly #now: () => Date;

  constructor(private readonly deps: BindingServiceDeps) {
    this.#now = deps.now ?? (() => new Date());
  }

  view(binding: Binding, at: Date = this.#now()): BindingView {
    const chinaDate = (date: Date) => new Date(date.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 10);
    return {
      ...binding,
      ...this.#inForce(binding, at),
      validFromDate: binding.validFrom ? chinaDate(binding.validFrom) : null,
      validUntilDate: binding.validUntil ? chinaDate(new Date(binding.validUntil.getTime() - 1)) : null,
    };
  }

  /** Whether a binding is in force at `at`, and the business scopes in force (those still in the catalogue). */
  #inForce(binding: Pick<Binding, 'status' | 'validFrom' | 'validUntil' | 'scopes'>, at: Date): Pick<BindingView, 'effective' | 'effectiveScopes'> {
    const known = this.deps.allScopes();
    return { effective: effectiveStatus(binding, at), effectiveScopes: binding.scopes.filter((scope) => known.includes(scope)) };
  }

  /**
   * One page of the unit picker's choices, ranked and counted in one statement however many units the person is
   * bound to (issue #15, Q-P6; `bindingStore.pickerPage`), each row with whether it is in force now.
   */
  async pickerPage(personId: string, ask: Omit<PickerAsk, 'at'>): Promise<Omit<PickerPage, 'rows'> & { rows: (PickerRow & Pick<BindingView, 'effective' | 'effectiveScopes'>)[] }> {
    const at = this.#now();
    const page = await bindingStore.pickerPage(this.deps.db, personId, { ...ask, at });
    return { ...page, rows: page.rows.map((row) => ({ ...row, ...this.#inForce(row, at) })) };
  }

  async listForUnit(unitId: string, page?: { limit: number; offset: number }): Promise<(BindingView & { person: Person | undefined })[]> {
    const bindings = await bindingStore.listForUnit(this.deps.db, unitId, false, page);
    const persons = await this.deps.persons.byIds(bindings.map((binding) => binding.personId));
    const at = this.#now();
    return bindings.map((binding) => ({ ...this.view(binding, at), person: persons.find((person) => person.id === binding.personId) }));
  }

  /**
   * One page (1-based) of the unit's live bindings with their persons, the contact first, and whether another page
   * follows: a unit may have thousands of handlers (issue #15, Q-P6). One more row than the page tells the next.
   */
  async pageForUnit(unitId: string, page: number, size: number): Promise<{ bindings: (BindingView & { person: Person | undefined })[]; hasNext: boolean }> {
    const list = await this.listForUnit(unitId, { limit: size + 1, offset: (page - 1) * size });
    return { bindings: list.slice(0, size), hasNext: list.length > size };
  }

  /** One live binding of the unit with its person (a confirmation step), without reading the unit's other bindings. */
  async ofUnit(unitId: string, bindingId: string): Promise<(BindingView & { person: Person | undefined }) | undefined> {
    const binding = await bindingStore.ofUnit(this.deps.db, unitId, bindingId);
    if (!binding || binding.status === 'unbound') return undefined;
    return { ...this.view(binding, this.#now()), person: await this.deps.persons.byId(binding.personId) };
  }

  /** The person who is the unit's active common contact, if any. */
  async contactPerson(unitId: string): Promise<Person | undefined> {
    const contact = await bindingStore.contactOf(this.deps.db, unitId);
    return contact && this.deps.persons.byId(contact.personId);
  }

  async listForPerson(personId: string): Promise<(BindingView & { unit: Unit | undefined })[]> {
    const bindings = await bindingStore.listForPerson(this.deps.db, personId);
    const units = new Map((await this.deps.units.byIds(bindings.map((binding) => binding.unitId))).map((unit) => [unit.id, unit]));
    const at = this.#now();
    return bindings.map((binding) => ({ ...this.view(binding, at), unit: units.get(binding.unitId) }));
  }

  /** Records that the person chose this unit in the unit picker: it comes first there next time. */
  async noteSelected(personId: string, unitId: string): Promise<void> {
    await bindingStore.markSelected(this.deps.db, personId, unitId, this.#now());
  }

  /** The unit's common contact binding, read on `q` (another module's transaction) and locked when `lock`. */
  contactOf(unitId: string, q: Queryable = this.deps.db, lock = false): Promise<Binding | undefined> {
    return bindingStore.contactOf(q, unitId, lock);
  }

  /** The units whose active common contact this person is. */
  async contactUnitIds(personId: string): Promise<string[]> {
    const bindings = await bindingStore.listForPerson(this.deps.db, personId);
    return bindings.filter((binding) => binding.role === 'contact' && binding.status === 'active').map((binding) => binding.unitId);
  }

  /** An active binding without validity limits, in the caller's transaction (unit registration, demo data). */
  async insertActive(tx: Queryable, binding: { id: string; unitId: string; personId: string; role: 'contact' | 'handler'; scopes: string[]; at: Date }): Promise<void> {
    await bindingStore.insert(tx, { ...binding, status: 'active', validFrom: null, validUntil: null });
  }

  /**
   * Certificate squatting (issue #11), the bindings' part, in the caller's transaction: every live binding of the unit
   * ends (a contact's first becomes a handler's: a contact binding is always active) with its grants revoked and a
   * `binding.removed` event; the person becomes the common contact with every business.
   */
  async handOver(tx: Queryable, unitId: string, personId: string, at: Date): Promise<{ previous: Binding[]; bindingId: string }> {
    const previous = await bindingStore.listForUnit(tx, unitId);
    for (const binding of previous) {
      if (binding.role === 'contact') await bindingStore.setRole(tx, binding.id, 'handler', binding.scopes, at);
      await bindingStore.setStatus(tx, binding.id, TRANSITIONS.unbind.from, TRANSITIONS.unbind.to, at);
      await this.deps.revoker.revokeUnitAccess(tx, binding.personId, unitId);
      await this.deps.events.emit(tx, 'binding.removed', { bindingId: binding.id, unitId, personId: binding.personId }, binding.scopes);
    }
    const bindingId = crypto.randomUUID();
    const scopes = this.deps.allScopes();
    await this.insertActive(tx, { id: bindingId, unitId, personId, role: 'contact', scopes, at });
    await this.deps.events.emit(tx, 'binding.created', { bindingId, unitId, personId, role: 'contact', scopes, validFrom: null, validUntil: null }, scopes);
    return { previous, bindingId };
  }

  /** The person's binding for this unit if it is in force now (active, within its validity, unit active). */
  async activeFor(personId: string, unitId: string): Promise<BindingView | undefined> {
    // Within a token, introspection or userinfo request, the binding its token lookup read already (issue #15).
    const binding = await readOnce('live-binding', `${unitId} ${personId}`, () => bindingStore.live(this.deps.db, unitId, personId));
    if (!binding) return undefined;
    const view = this.view(binding);
    return view.effective === 'active' ? view : undefined;
  }

  /**
   * The unit and the person's binding for it if that is in force now (as `activeFor`), read in one statement
   * (issue #15, Q-P1): for a step that needs both, e.g. the unit picked in the picker. Current data, never kept.
   */
  async activeWithUnit(personId: string, unitId: string): Promise<{ unit: Unit | undefined; binding: BindingView | undefined }> {
    const { unit, binding } = await bindingStore.liveWithUnit(this.deps.db, unitId, personId);
    const view = binding && this.view(binding);
    return { unit, binding: view?.effective === 'active' ? view : undefined };
  }

  /** The `data` of a binding event that grants (created, accepted, permissions_changed): RP kit `BindingGrant`. */
  #grant(binding: Binding): Record<string, unknown> {
    const view = this.view(binding);
    return {
      bindingId: binding.id,
      unitId: binding.unitId,
      personId: binding.personId,
      role: binding.role,
      scopes: view.effectiveScopes,
      validFrom: view.validFromDate,
      validUntil: view.validUntilDate,
    };
  }

  #scopes(requested: string[]): string[] {
    const known = new Set(this.deps.allScopes());
    const unique = [...new Set(requested.map((scope) => scope.trim()).filter(Boolean))];
    const unknown = unique.find((scope) => !known.has(scope));
    if (unknown) throw new AppError('binding_scope_unknown', { params: { scope: unknown.slice(0, 40) }, field: 'scopes' });
    return unique;
  }

  #validity(from: string | undefined, until: string | undefined): { validFrom: Date | null; validUntil: Date | null } {
    const validFrom = from?.trim() ? chinaDay(from, 'validFrom') : null;
    const validUntil = until?.trim() ? chinaDay(until, 'validUntil', 1) : null;
    if (validUntil && validUntil <= this.#now()) throw new AppError('binding_validity_past', { field: 'validUntil' });
    if (validFrom && validUntil && validUntil <= validFrom) throw new AppError('binding_validity_order', { field: 'validUntil' });
    return { validFrom, validUntil };
  }

  /** R-B1: binds a real-name verified person, pending until the person accepts; one live binding per pair (R-B2). */
  async bind(unitId: string, request: BindRequest, context: AuditContext): Promise<Binding> {
    const account = request.account.trim();
    assertThat(account.length > 0 && account.length <= 64, 'binding_person_not_found');
    const person = await this.deps.persons.byLoginNameOrMobile(normalizeMobile(account) ?? account);
    if (!person || person.status !== 'active') throw new AppError('binding_person_not_found', { field: 'account' });
    if (person.realnameStatus !== 'verified') throw new AppError('binding_person_not_verified', { field: 'account' });
    const scopes = this.#scopes(request.scopes);
    const { validFrom, validUntil } = this.#validity(request.validFrom, request.validUntil);
    const id = crypto.randomUUID();
    try {
      await this.deps.db.transaction(async (tx) => {
        const unit = await this.deps.units.byId(unitId, tx);
        assertThat(unit && unit.status === 'active', 'not_found');
        if (await bindingStore.live(tx, unitId, person.id)) throw new AppError('binding_exists', { field: 'account' });
        const at = this.#now();
        await bindingStore.insert(tx, { id, unitId, personId: person.id, role: 'handler', status: 'pending', scopes, validFrom, validUntil, at });
        await this.deps.events.emit(
          tx,
          'binding.created',
          this.#grant({ id, unitId, personId: person.id, role: 'handler', status: 'pending', scopes, validFrom, validUntil, createdAt: at, acceptedAt: null, endedAt: null }),
          scopes,
        );
        await this.deps.audit.record(context, { action: 'binding.bind', target: { type: 'person', id: person.id }, detail: { bindingId: id, scopes } }, tx);
        await this.deps.notices.notify(tx, { personId: person.id, mobile: person.mobile, kind: 'binding_invited', unitId, unitName: unit.name, bindingId: id });
      });
    } catch (error) {
      if (uniqueViolation(error)) throw new AppError('binding_exists', { field: 'account' });
      throw error;
    }
    const created = await bindingStore.ofUnit(this.deps.db, unitId, id);
    assertThat(created, 'server');
    return created;
  }

  async #personTransition(personId: string, bindingId: string, action: PersonBindingAction, context: AuditContext): Promise<void> {
    const rule = TRANSITIONS[action];
    await this.deps.db.transaction(async (tx) => {
      const binding = await bindingStore.ofPerson(tx, personId, bindingId, true);
      assertThat(binding, 'not_found');
      assertThat(canTransition(action, binding.status), 'binding_state');
      await bindingStore.setStatus(tx, binding.id, rule.from, rule.to, this.#now());
      if (action === 'accept') await this.deps.events.emit(tx, 'binding.accepted', this.#grant({ ...binding, status: 'active' }), binding.scopes);
      else await this.deps.events.emit(tx, 'binding.declined', { bindingId: binding.id, unitId: binding.unitId, personId: binding.personId }, binding.scopes);
      await this.deps.audit.record({ ...context, actingUnitId: binding.unitId }, { action: `binding.${action}`, target: { type: 'binding', id: binding.id } }, tx);
    });
  }

  /** Guide §3: the person accepts the binding in the account centre. */
  accept(personId: string, bindingId: string, context: AuditContext): Promise<void> {
    return this.#personTransition(personId, bindingId, 'accept', context);
  }

  decline(personId: string, bindingId: string, context: AuditContext): Promise<void> {
    return this.#personTransition(personId, bindingId, 'decline', context);
  }

  /** R-B4, guide §5: 取消绑定 takes effect at once; the common contact cannot be unbound (R-B5). */
  async unbind(unitId: string, bindingId: string, context: AuditContext): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const binding = await bindingStore.ofUnit(tx, unitId, bindingId, true);
      assertThat(binding, 'not_found');
      if (binding.role === 'contact') throw new AppError('binding_contact_cannot_be_unbound');
      assertThat(canTransition('unbind', binding.status), 'binding_state');
      await bindingStore.setStatus(tx, binding.id, TRANSITIONS.unbind.from, TRANSITIONS.unbind.to, this.#now());
      // Revocation is part of the state change (S-56): tokens and grants go, logout jobs are written, in this commit.
      await this.deps.revoker.revokeUnitAccess(tx, binding.personId, unitId);
      await this.deps.events.emit(tx, 'binding.removed', { bindingId: binding.id, unitId, personId: binding.personId }, binding.scopes);
      await this.deps.audit.record(context, { action: 'binding.unbind', target: { type: 'person', id: binding.personId }, detail: { bindingId } }, tx);
      const [person, unit] = [await this.deps.persons.byId(binding.personId, tx), await this.deps.units.byId(unitId, tx)];
      if (person && unit) await this.deps.notices.notify(tx, { personId: person.id, mobile: person.mobile, kind: 'binding_removed', unitId, unitName: unit.name, bindingId });
    });
  }

  /**
   * R-B3: new permissions (and validity) for a handler or the common contact; tokens afterwards carry at most
   * the new set. A contact's binding has no validity period (the unit must always have a way back in).
   */
  async setScopes(
    unitId: string,
    bindingId: string,
    scopesInput: string[],
    validFromInput: string | undefined,
    validUntilInput: string | undefined,
    context: AuditContext,
  ): Promise<void> {
    const scopes = this.#scopes(scopesInput);
    const { validFrom, validUntil } = this.#validity(validFromInput, validUntilInput);
    await this.deps.db.transaction(async (tx) => {
      const binding = await bindingStore.ofUnit(tx, unitId, bindingId, true);
      assertThat(binding && LIVE.includes(binding.status), 'not_found');
      if (binding.role === 'contact' && (validFrom || validUntil)) throw new AppError('binding_contact_no_validity', { field: 'validUntil' });
      await bindingStore.setScopes(tx, binding.id, scopes, validFrom, validUntil, this.#now());
      await this.deps.events.emit(tx, 'binding.permissions_changed', this.#grant({ ...binding, scopes, validFrom, validUntil }), [...binding.scopes, ...scopes]);
      await this.deps.audit.record(
        context,
        { action: 'binding.scopes', target: { type: 'person', id: binding.personId }, detail: { bindingId, before: binding.scopes, after: scopes } },
        tx,
      );
      await this.deps.revoker.refreshUnitAccess(tx, binding.personId, unitId);
    });
  }

  /**
   * R-B5, 设为常用联系人: makes an active handler the common contact. It changes the role only: the new contact
   * keeps its business permissions unless the same form changes them (`scopes`), and the previous contact becomes
   * a handler with its permissions unchanged (only the registrant's first contact binding gets every permission,
   * R-U1). The unit row is locked so concurrent requests apply one after the other.
   */
  async setContact(unitId: string, bindingId: string, context: AuditContext, scopesInput?: string[]): Promise<void> {
    const scopes = scopesInput === undefined ? undefined : this.#scopes(scopesInput);
    await this.deps.db.transaction(async (tx) => {
      const unit = await this.deps.units.byId(unitId, tx, true);
      assertThat(unit, 'not_found');
      const target = await bindingStore.ofUnit(tx, unitId, bindingId, true);
      assertThat(target, 'not_found');
      if (target.role === 'contact') return;
      if (target.status !== 'active' || effectiveStatus(target, this.#now()) !== 'active') throw new AppError('binding_contact_must_be_active');
      const current = await bindingStore.contactOf(tx, unitId, true);
      const at = this.#now();
      const after = scopes ?? target.scopes;
      if (current) await bindingStore.setRole(tx, current.id, 'handler', current.scopes, at);
      await bindingStore.setRole(tx, target.id, 'contact', after, at);
      const scopesChanged = after.length !== target.scopes.length || after.some((scope) => !target.scopes.includes(scope));
      await this.deps.audit.record(
        context,
        {
          action: 'binding.contact',
          target: { type: 'person', id: target.personId },
          detail: { bindingId, previous: current?.personId, ...(scopesChanged ? { before: target.scopes, after } : {}) },
        },
        tx,
      );
      if (scopesChanged) await this.deps.revoker.refreshUnitAccess(tx, target.personId, unitId);
      // The role changed for both (contact ⇄ handler), and perhaps the new contact's permissions.
      if (current) await this.deps.events.emit(tx, 'binding.permissions_changed', this.#grant({ ...current, role: 'handler' }), current.scopes);
      await this.deps.events.emit(tx, 'binding.permissions_changed', this.#grant({ ...target, role: 'contact', scopes: after }), [...target.scopes, ...after]);
    });
  }

  /**
   * R-B6: bindings whose validity period has ended behave as unbound. Claims already refuse them at every
   * issuance; this also revokes their grants and enqueues the RPs' logouts (run periodically). Each binding ends
   * in one transaction that claims it (`expiry_processed_at`, SKIP LOCKED so that instances sweeping together
   * take different ones), revokes and enqueues: a crash anywhere leaves it unprocessed for the next sweep,
   * never marked without its revocation (S-57). Returns how many ended.
   */
  async processExpired(batch = 100): Promise<number> {
    let ended = 0;
    for (;;) {
      const done = await this.deps.db.transaction(async (tx) => {
        const at = this.#now();
        const { rows } = await tx.query<{ id: string; unit_id: string; person_id: string; scopes: string[] }>(
          `UPDATE binding SET expiry_processed_at = $1
           WHERE id = (SELECT id FROM binding
                       WHERE status = 'active' AND valid_until IS NOT NULL AND valid_until <= $1 AND expiry_processed_at IS NULL
                       ORDER BY valid_until LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING id, unit_id, person_id, scopes`,
          [at],
        );
        const row = rows[0];
        if (!row) return false;
        await this.deps.revoker.revokeUnitAccess(tx, row.person_id, row.unit_id);
        await this.deps.events.emit(tx, 'binding.expired', { bindingId: row.id, unitId: row.unit_id, personId: row.person_id }, row.scopes);
        await this.deps.audit.record(
          { actor: { type: 'system' }, actingUnitId: row.unit_id },
          { action: 'binding.expire', target: { type: 'person', id: row.person_id }, detail: { bindingId: row.id } },
          tx,
        );
        return true;
      });
      if (!done) return ended;
      ended += 1;
      if (ended >= batch) return ended;
    }
  }
}
