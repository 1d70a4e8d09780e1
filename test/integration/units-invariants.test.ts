import crypto from 'node:crypto';
import { AppError } from '../../src/shared/errors.js';
import type { Queryable } from '../../src/shared/db/database.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { bindingById, bindingsOf, createOperatorRecord, SLOW_MS, tryTransaction } from '../support/unit-console.js';

/**
 * The invariants of units and bindings (R-B2, R-B5), under concurrency and with the service bypassed: exactly one
 * active common contact per unit, at most one live binding per (unit, person), one live verification code per
 * unit. Runs on PGlite, and on PostgreSQL too when TEST_DATABASE_URL is set (real parallel connections there).
 */

const unitActor = (unit: { id: string }) => ({ actor: { type: 'unit' as const, id: unit.id }, actingUnitId: unit.id });

async function activeContacts(db: Queryable, unitId: string): Promise<string[]> {
  const { rows } = await db.query<{ person_id: string }>("SELECT person_id FROM binding WHERE unit_id = $1 AND role = 'contact' AND status = 'active'", [unitId]);
  return rows.map((row) => row.person_id);
}

async function liveBindings(db: Queryable, unitId: string, personId: string): Promise<number> {
  const { rows } = await db.query("SELECT 1 FROM binding WHERE unit_id = $1 AND person_id = $2 AND status IN ('pending', 'active')", [unitId, personId]);
  return rows.length;
}

function insertBinding(tx: Queryable, values: { unitId: string; personId: string; role: 'handler' | 'contact'; status: 'pending' | 'active' | 'declined' | 'unbound' }) {
  return tx.query(
    `INSERT INTO binding (id, unit_id, person_id, role, status, scopes, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, '{}', now(), now())`,
    [crypto.randomUUID(), values.unitId, values.personId, values.role, values.status],
  );
}

function insertUnit(tx: Queryable, registeredBy: string): Promise<string> {
  const id = crypto.randomUUID();
  const suffix = crypto.randomBytes(4).toString('hex').toUpperCase();
  return tx
    .query(
      `INSERT INTO unit (id, name, cert_type, cert_no, login_name, password_hash, password_changed_at, registered_by, created_at, updated_at)
     VALUES ($1, '绕过服务的单位', 'other', $2, $3, 'not-a-hash', now(), $4, now(), now())`,
      [id, `BYPASS-${suffix}`, `bypass${suffix.toLowerCase()}`, registeredBy],
    )
    .then(() => id);
}

describe.each(databaseKinds())('unit and binding invariants on %s (R-B2, R-B5)', (kind) => {
  let database: TestDatabase;
  let app: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    app = await startTestApp({ database });
  }, SLOW_MS);
  afterAll(async () => {
    await app.close();
    await database.drop();
  });

  const services = () => app.app.services;

  async function unitWithHandlers(count: number): Promise<{ contact: TestPerson; unit: TestUnit; handlers: TestPerson[]; bindingIds: string[] }> {
    const contact = await createPerson(services(), { verified: true });
    const unit = await createUnit(services(), contact);
    const handlers: TestPerson[] = [];
    const bindingIds: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const handler = await createPerson(services(), { verified: true });
      handlers.push(handler);
      bindingIds.push(await bindHandler(services(), unit, handler, ['biz:continuing_education']));
    }
    return { contact, unit, handlers, bindingIds };
  }

  describe('through the service', () => {
    it(
      'R-B5 when the unit unbinds its common contact before another contact is set, then it is refused; after setContact the previous contact can be unbound',
      async () => {
        const { contact, unit, handlers, bindingIds } = await unitWithHandlers(1);
        const contactBinding = (await bindingsOf(app.db, unit.id)).find((binding) => binding.role === 'contact')!;
        const refused = await services()
          .bindings.unbind(unit.id, contactBinding.id, unitActor(unit))
          .catch((error: unknown) => error);
        expect(refused).toBeInstanceOf(AppError);
        expect(refused).toMatchObject({ code: 'binding_contact_cannot_be_unbound', status: 409 });
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
        expect((await bindingById(app.db, contactBinding.id))?.status).toBe('active');

        await services().bindings.setContact(unit.id, bindingIds[0]!, unitActor(unit));
        expect(await activeContacts(app.db, unit.id)).toEqual([handlers[0]!.id]);
        await services().bindings.unbind(unit.id, contactBinding.id, unitActor(unit));
        expect(await bindingById(app.db, contactBinding.id)).toMatchObject({ role: 'handler', status: 'unbound' });
        expect(await activeContacts(app.db, unit.id)).toEqual([handlers[0]!.id]);
      },
      SLOW_MS,
    );

    it(
      'R-B5 when a pending (not yet accepted) handler is made contact, then it is refused and the contact stays',
      async () => {
        const { contact, unit } = await unitWithHandlers(0);
        const person = await createPerson(services(), { verified: true });
        const pending = await services().bindings.bind(unit.id, { account: person.loginName, scopes: [] }, unitActor(unit));
        const refused = await services()
          .bindings.setContact(unit.id, pending.id, unitActor(unit))
          .catch((error: unknown) => error);
        expect(refused).toMatchObject({ code: 'binding_contact_must_be_active', status: 409 });
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
      },
      SLOW_MS,
    );

    it(
      'R-B5 when 20 “set contact” requests for 20 different handlers run at once, then exactly one active contact remains and every other binding is a handler',
      async () => {
        const { contact, unit, handlers, bindingIds } = await unitWithHandlers(20);
        const results = await Promise.allSettled(bindingIds.map((id) => services().bindings.setContact(unit.id, id, unitActor(unit))));
        for (const result of results) {
          // A request may lose the race, but only with a readable refusal, never a database error.
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(AppError);
        }
        const contacts = await activeContacts(app.db, unit.id);
        expect(contacts).toHaveLength(1);
        expect([contact.id, ...handlers.map((handler) => handler.id)]).toContain(contacts[0]);
        const all = await bindingsOf(app.db, unit.id);
        expect(all).toHaveLength(21);
        expect(all.filter((binding) => binding.status === 'active')).toHaveLength(21);
        expect(all.filter((binding) => binding.role === 'handler')).toHaveLength(20);
        const { rows } = await app.db.query<{ n: string }>("SELECT count(*) AS n FROM audit_event WHERE action = 'binding.contact' AND acting_unit_id = $1", [unit.id]);
        expect(Number(rows[0]!.n)).toBe(results.filter((result) => result.status === 'fulfilled').length);
      },
      SLOW_MS,
    );

    it(
      'R-B2 when the same person is bound 20 times at once, then one live binding exists and the others are refused with binding_exists',
      async () => {
        const { unit } = await unitWithHandlers(0);
        const person = await createPerson(services(), { verified: true });
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, index) =>
            services().bindings.bind(unit.id, { account: index % 2 ? person.loginName : person.mobile, scopes: ['biz:continuing_education'] }, unitActor(unit)),
          ),
        );
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'binding_exists', status: 409 });
        }
        expect(await liveBindings(app.db, unit.id, person.id)).toBe(1);
        const { rows } = await app.db.query<{ n: string }>("SELECT count(*) AS n FROM audit_event WHERE action = 'binding.bind' AND acting_unit_id = $1", [unit.id]);
        expect(Number(rows[0]!.n)).toBe(1);
      },
      SLOW_MS,
    );

    it(
      'R-B5 when “set contact”, unbinding the new contact and unbinding the previous contact race, then the unit always keeps exactly one active contact',
      async () => {
        const { unit, handlers, bindingIds } = await unitWithHandlers(6);
        for (let round = 0; round < 6; round += 1) {
          const current = (await bindingsOf(app.db, unit.id)).find((binding) => binding.role === 'contact' && binding.status === 'active')!;
          const target = bindingIds[round]!;
          const results = await Promise.allSettled([
            services().bindings.setContact(unit.id, target, unitActor(unit)),
            services().bindings.unbind(unit.id, target, unitActor(unit)),
            services().bindings.unbind(unit.id, current.id, unitActor(unit)),
          ]);
          for (const result of results) {
            if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(AppError);
          }
          const contacts = await activeContacts(app.db, unit.id);
          expect(contacts).toHaveLength(1);
          expect([current.person_id, handlers[round]!.id]).toContain(contacts[0]);
        }
      },
      SLOW_MS,
    );

    it(
      'R-B2 when a person accepts while the unit unbinds at the same moment, then the binding ends in exactly one consistent state',
      async () => {
        const { unit } = await unitWithHandlers(0);
        const person = await createPerson(services(), { verified: true });
        for (let round = 0; round < 5; round += 1) {
          const pending = await services().bindings.bind(unit.id, { account: person.loginName, scopes: [] }, unitActor(unit));
          await Promise.allSettled([
            services().bindings.accept(person.id, pending.id, { actor: { type: 'person', id: person.id } }),
            services().bindings.unbind(unit.id, pending.id, unitActor(unit)),
          ]);
          const stored = await bindingById(app.db, pending.id);
          expect(stored?.status).toBe('unbound');
          expect(await liveBindings(app.db, unit.id, person.id)).toBe(0);
        }
      },
      SLOW_MS,
    );
  });

  describe('in the database itself, with the service bypassed', () => {
    it(
      'when a second active contact is inserted, then the unique index binding_contact_key refuses it',
      async () => {
        const { unit } = await unitWithHandlers(0);
        const other = await createPerson(services(), { verified: true });
        const result = await tryTransaction(app.db, (tx) => insertBinding(tx, { unitId: unit.id, personId: other.id, role: 'contact', status: 'active' }).then(() => undefined));
        expect(result).toMatchObject({ ok: false, code: '23505', constraint: 'binding_contact_key' });
        expect(await activeContacts(app.db, unit.id)).toHaveLength(1);
      },
      SLOW_MS,
    );

    it(
      'when a handler is promoted to contact by UPDATE without demoting the contact, then it is refused',
      async () => {
        const { contact, unit, bindingIds } = await unitWithHandlers(1);
        const result = await tryTransaction(app.db, (tx) => tx.query("UPDATE binding SET role = 'contact' WHERE id = $1", [bindingIds[0]]).then(() => undefined));
        expect(result).toMatchObject({ ok: false, code: '23505', constraint: 'binding_contact_key' });
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
      },
      SLOW_MS,
    );

    it(
      'when a second live binding of the same person is inserted (pending or active), then the unique index binding_live_key refuses it',
      async () => {
        const { unit, handlers } = await unitWithHandlers(1);
        for (const status of ['pending', 'active'] as const) {
          const result = await tryTransaction(app.db, (tx) => insertBinding(tx, { unitId: unit.id, personId: handlers[0]!.id, role: 'handler', status }).then(() => undefined));
          expect(result).toMatchObject({ ok: false, code: '23505', constraint: 'binding_live_key' });
        }
        expect(await liveBindings(app.db, unit.id, handlers[0]!.id)).toBe(1);
        // Ended bindings do not count: history may hold many.
        const ended = await tryTransaction(app.db, async (tx) => {
          await insertBinding(tx, { unitId: unit.id, personId: handlers[0]!.id, role: 'handler', status: 'unbound' });
          await insertBinding(tx, { unitId: unit.id, personId: handlers[0]!.id, role: 'handler', status: 'declined' });
        });
        expect(ended).toEqual({ ok: true });
      },
      SLOW_MS,
    );

    it(
      'when an ended binding is revived by UPDATE next to a live one, then binding_live_key refuses it',
      async () => {
        const { unit, handlers, bindingIds } = await unitWithHandlers(1);
        await services().bindings.unbind(unit.id, bindingIds[0]!, unitActor(unit));
        await bindHandler(services(), unit, handlers[0]!, []);
        const result = await tryTransaction(app.db, (tx) => tx.query("UPDATE binding SET status = 'active' WHERE id = $1", [bindingIds[0]]).then(() => undefined));
        expect(result).toMatchObject({ ok: false, code: '23505', constraint: 'binding_live_key' });
      },
      SLOW_MS,
    );

    it(
      'when the contact is demoted to handler without a new contact, then COMMIT fails on the deferred trigger binding_one_contact',
      async () => {
        const { contact, unit } = await unitWithHandlers(1);
        const result = await tryTransaction(app.db, (tx) =>
          tx.query("UPDATE binding SET role = 'handler' WHERE unit_id = $1 AND role = 'contact'", [unit.id]).then(() => undefined),
        );
        expect(result).toMatchObject({ ok: false, code: '23514' });
        expect(result.ok ? '' : result.message).toMatch(/exactly one active common contact/);
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
      },
      SLOW_MS,
    );

    it(
      'when the contact binding is deleted, then COMMIT fails on binding_one_contact',
      async () => {
        const { contact, unit } = await unitWithHandlers(0);
        const result = await tryTransaction(app.db, (tx) => tx.query("DELETE FROM binding WHERE unit_id = $1 AND role = 'contact'", [unit.id]).then(() => undefined));
        expect(result).toMatchObject({ ok: false, code: '23514' });
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
      },
      SLOW_MS,
    );

    it(
      'when the contact is unbound by UPDATE, then the row check (a contact is always active) refuses it',
      async () => {
        const { contact, unit } = await unitWithHandlers(0);
        const result = await tryTransaction(app.db, (tx) =>
          tx.query("UPDATE binding SET status = 'unbound' WHERE unit_id = $1 AND role = 'contact'", [unit.id]).then(() => undefined),
        );
        expect(result).toMatchObject({ ok: false, code: '23514' });
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
      },
      SLOW_MS,
    );

    it(
      'when the contact and a handler swap roles inside one transaction, then the deferred check lets it commit',
      async () => {
        const { unit, handlers, bindingIds } = await unitWithHandlers(1);
        const result = await tryTransaction(app.db, async (tx) => {
          await tx.query("UPDATE binding SET role = 'handler' WHERE unit_id = $1 AND role = 'contact'", [unit.id]);
          await tx.query("UPDATE binding SET role = 'contact' WHERE id = $1", [bindingIds[0]]);
        });
        expect(result).toEqual({ ok: true });
        expect(await activeContacts(app.db, unit.id)).toEqual([handlers[0]!.id]);
      },
      SLOW_MS,
    );

    it(
      'when a unit is inserted with only a handler binding, then COMMIT fails on binding_one_contact',
      async () => {
        const person = await createPerson(services(), { verified: true });
        const before = await app.db.query<{ n: string }>('SELECT count(*) AS n FROM unit');
        const result = await tryTransaction(app.db, async (tx) => {
          const unitId = await insertUnit(tx, person.id);
          await insertBinding(tx, { unitId, personId: person.id, role: 'handler', status: 'active' });
        });
        expect(result).toMatchObject({ ok: false, code: '23514' });
        expect((await app.db.query<{ n: string }>('SELECT count(*) AS n FROM unit')).rows[0]!.n).toBe(before.rows[0]!.n);
      },
      SLOW_MS,
    );

    it(
      'when a unit is inserted with no binding at all, then COMMIT fails: a unit with zero contacts cannot be committed (R-U1, R-B5)',
      async () => {
        const person = await createPerson(services(), { verified: true });
        let unitId = '';
        const result = await tryTransaction(app.db, async (tx) => {
          unitId = await insertUnit(tx, person.id);
        });
        expect(result).toMatchObject({ ok: false, code: '23514' });
        expect((await app.db.query('SELECT 1 FROM unit WHERE id = $1', [unitId])).rows).toHaveLength(0);
      },
      SLOW_MS,
    );

    it(
      'when the contact binding is moved to another unit by UPDATE, then COMMIT fails because its unit is left without a contact',
      async () => {
        const { contact, unit } = await unitWithHandlers(1);
        const result = await tryTransaction(app.db, async (tx) => {
          const otherUnit = await insertUnit(tx, contact.id);
          await tx.query("UPDATE binding SET unit_id = $2 WHERE unit_id = $1 AND role = 'contact'", [unit.id, otherUnit]);
        });
        expect(result).toMatchObject({ ok: false, code: '23514' });
        expect(await activeContacts(app.db, unit.id)).toEqual([contact.id]);
      },
      SLOW_MS,
    );

    it(
      'R-U5 when a second live verification code is inserted for a unit, then the unique index refuses it',
      async () => {
        const { unit } = await unitWithHandlers(0);
        const operator = await createOperatorRecord(services());
        await services().verification.issue(unit.id, { actor: { type: 'operator', id: operator.id } });
        const result = await tryTransaction(app.db, (tx) =>
          tx
            .query(
              `INSERT INTO unit_verification_code (id, unit_id, code_hmac, hint, issued_by, issued_at, expires_at)
         VALUES ($1, $2, 'x', 'XX', $3, now(), now() + interval '1 hour')`,
              [crypto.randomUUID(), unit.id, operator.id],
            )
            .then(() => undefined),
        );
        expect(result).toMatchObject({ ok: false, code: '23505', constraint: 'unit_verification_code_live' });
      },
      SLOW_MS,
    );

    it(
      'R-U2 when a second unit with the same certificate is inserted, then unit_certificate_key refuses it',
      async () => {
        const { unit, contact } = await unitWithHandlers(0);
        const result = await tryTransaction(app.db, (tx) =>
          tx
            .query(
              `INSERT INTO unit (id, name, cert_type, cert_no, login_name, password_hash, password_changed_at, registered_by, created_at, updated_at)
         VALUES ($1, '重复证件单位', 'uscc', $2, $3, 'x', now(), $4, now(), now())`,
              [crypto.randomUUID(), unit.certNo, `dupcert${crypto.randomBytes(3).toString('hex')}`, contact.id],
            )
            .then(() => undefined),
        );
        expect(result).toMatchObject({ ok: false, code: '23505', constraint: 'unit_certificate_key' });
      },
      SLOW_MS,
    );
  });
});
