import type * as client from 'openid-client';
import type { Queryable } from '../../src/shared/db/database.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { signInToAccount } from '../support/security.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { bindingsOf, pathOf, signInUnit, SLOW_MS, tryTransaction } from '../support/unit-console.js';

/**
 * S-44: ids are never reused. A person or unit deleted and re-created with the same login name or certificate,
 * or replaced after being disabled, gets a new id and inherits none of the old bindings, grants or sessions.
 */

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Every row of the unit domain and the provider's storage that names an id. */
async function referencesTo(db: Queryable, id: string): Promise<Record<string, number>> {
  const queries: Record<string, string> = {
    binding: 'SELECT count(*) AS n FROM binding WHERE unit_id = $1 OR person_id = $1',
    grant_unit: 'SELECT count(*) AS n FROM grant_unit WHERE unit_id = $1 OR person_id = $1',
    session_unit: 'SELECT count(*) AS n FROM session_unit WHERE unit_id = $1 OR person_id = $1',
    oidc_model: "SELECT count(*) AS n FROM oidc_model WHERE account_id IN ($1::text, 'unit:' || $1::text)",
    unit_name_history: 'SELECT count(*) AS n FROM unit_name_history WHERE unit_id = $1',
    unit_verification_code: 'SELECT count(*) AS n FROM unit_verification_code WHERE unit_id = $1',
  };
  const out: Record<string, number> = {};
  for (const [name, sql] of Object.entries(queries)) {
    const { rows } = await db.query<{ n: string | number }>(sql, [id]);
    out[name] = Number(rows[0]?.n ?? 0);
  }
  return out;
}

const NO_REFERENCES = { binding: 0, grant_unit: 0, session_unit: 0, oidc_model: 0, unit_name_history: 0, unit_verification_code: 0 };

/** Deletes a person who is only a handler: the person's bindings, then the person. */
async function deletePerson(db: { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> }, personId: string): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('DELETE FROM binding WHERE person_id = $1', [personId]);
    await tx.query('DELETE FROM session_unit WHERE person_id = $1', [personId]);
    await tx.query('DELETE FROM grant_unit WHERE person_id = $1', [personId]);
    await tx.query('DELETE FROM person WHERE id = $1', [personId]);
  });
}

/** The statements that delete a unit with every row that references it. */
async function deleteUnitRows(tx: Queryable, unitId: string): Promise<void> {
  await tx.query('DELETE FROM unit_verification_code WHERE unit_id = $1', [unitId]);
  await tx.query('DELETE FROM unit_name_history WHERE unit_id = $1', [unitId]);
  await tx.query('DELETE FROM binding WHERE unit_id = $1', [unitId]);
  await tx.query('DELETE FROM grant_unit WHERE unit_id = $1', [unitId]);
  await tx.query('DELETE FROM session_unit WHERE unit_id = $1', [unitId]);
  const { rows } = await tx.query<{ exists: boolean }>("SELECT to_regclass('appeal') IS NOT NULL AS exists");
  if (rows[0]?.exists) await tx.query('UPDATE appeal SET unit_id = NULL WHERE unit_id = $1', [unitId]);
  await tx.query('DELETE FROM unit WHERE id = $1', [unitId]);
}

describe('S-44 ids are never reused', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
  }, SLOW_MS);
  afterAll(() => app.close());

  const services = () => app.app.services;

  let lastPickerBrowser: Browser | undefined;

  /** Signs in personally with 以单位身份登录 ticked and returns the unit picker. */
  async function picker(person: TestPerson, params: Record<string, string> = {}): Promise<Page> {
    const browser = new Browser(app.url);
    lastPickerBrowser = browser;
    const authorization = await authorizationUrl(config, { scope: 'openid profile unit biz:continuing_education', ...params });
    const login = await browser.get(authorization.url.toString());
    return browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password, unitMode: '1' });
  }

  it(
    'when a handler is deleted and a person is re-created with the same login name, then the new person has a new id and none of the old bindings',
    async () => {
      const contact = await createPerson(services(), { verified: true });
      const unit = await createUnit(services(), contact, { name: 'S44人员单位' });
      const old = await createPerson(services(), { verified: true });
      await bindHandler(services(), unit, old, ['biz:continuing_education']);
      const oldBrowser = new Browser(app.url);
      await signInToAccount(oldBrowser, old.loginName, old.password);
      expect((await picker(old)).html.querySelector(`input[value="${unit.id}"]`)).not.toBeNull();

      await deletePerson(app.db, old.id);
      const renewed = await createPerson(services(), { verified: true, loginName: old.loginName });

      expect(renewed.id).toMatch(UUID_V4);
      expect(renewed.id).not.toBe(old.id);
      expect(await referencesTo(app.db, renewed.id)).toEqual(NO_REFERENCES);
      expect(await services().bindings.listForPerson(renewed.id)).toEqual([]);
      expect(await services().bindings.activeFor(renewed.id, unit.id)).toBeUndefined();

      // The new person sees no unit, in the account centre or in the picker …
      const browser = new Browser(app.url);
      const account = await signInToAccount(browser, renewed.loginName, renewed.password);
      expect(account.html.querySelector(`#my-units tr[data-unit="${unit.id}"]`)).toBeNull();
      expect(account.html.querySelector('#pending-bindings')).toBeNull();
      const choices = await picker(renewed);
      expect(choices.html.querySelector('form#select-unit')).toBeNull();
      expect(Browser.text(choices)).not.toContain('S44人员单位');
      // … asking for the old unit by id is refused …
      const hinted = await picker(renewed, { unit_hint: unit.id });
      expect(hinted.html.querySelector(`input[value="${unit.id}"]`)).toBeNull();
      // … the unit lists only its contact …
      expect((await bindingsOf(app.db, unit.id)).map((binding) => binding.person_id)).toEqual([contact.id]);
      // … and the deleted person's old session does not open the new person's account centre.
      const stale = await oldBrowser.get('/account');
      expect(stale.status === 200 && pathOf(stale) === '/account').toBe(false);
      expect(stale.body).not.toContain(`${renewed.mobile.slice(0, 3)}****${renewed.mobile.slice(-4)}`);
      expect(stale.body).not.toContain(renewed.id);

      // Binding the new person creates a new binding, pending until he or she accepts.
      const fresh = await services().bindings.bind(unit.id, { account: renewed.loginName, scopes: [] }, { actor: { type: 'unit', id: unit.id } });
      expect(fresh).toMatchObject({ personId: renewed.id, status: 'pending', role: 'handler' });
    },
    SLOW_MS,
  );

  it(
    'when a unit is deleted with its rows in one transaction, then the database allows it (the one-contact rule concerns units that exist)',
    async () => {
      const contact = await createPerson(services(), { verified: true });
      const unit = await createUnit(services(), contact);
      const result = await tryTransaction(app.db, (tx) => deleteUnitRows(tx, unit.id));
      expect(result).toEqual({ ok: true });
      expect((await app.db.query('SELECT 1 FROM unit WHERE id = $1', [unit.id])).rows).toHaveLength(0);
    },
    SLOW_MS,
  );

  it(
    'when a unit is deleted and registered again with the same certificate and login name, then it gets a new id and inherits no handler, grant or session',
    async () => {
      const contact = await createPerson(services(), { verified: true });
      const old = await createUnit(services(), contact, { name: 'S44旧单位' });
      const handler = await createPerson(services(), { verified: true });
      await bindHandler(services(), old, handler, ['biz:continuing_education']);
      const unitBrowser = new Browser(app.url);
      await signInUnit(unitBrowser, old);
      // The handler signs in as the old unit once (grant_unit, session_unit rows exist for it).
      const chosen = await picker(handler);
      expect(chosen.html.querySelector(`input[value="${old.id}"]`)).not.toBeNull();
      const handlerBrowser = lastPickerBrowser!;
      const done = await handlerBrowser.submit(chosen, 'form#select-unit', { unitId: old.id });
      expect(done.headers.get('location')).toMatch(/^http:\/\/rp\.test\/cb\?code=/);
      expect((await referencesTo(app.db, old.id)).session_unit).toBe(1);

      // The deletion bypasses the constraint trigger (replica mode), whatever the trigger's treatment of deleted
      // units is: this test is about what a re-created unit inherits.
      await app.db.transaction(async (tx) => {
        await tx.query('SET LOCAL session_replication_role = replica');
        await deleteUnitRows(tx, old.id);
      });

      const renewed = await services().units.register(
        contact.id,
        { name: 'S44新单位', certType: old.certType, certNo: old.certNo, loginName: old.loginName, password: old.password, passwordConfirm: old.password },
        { actor: { type: 'person', id: contact.id } },
      );
      expect(renewed.id).toMatch(UUID_V4);
      expect(renewed.id).not.toBe(old.id);
      // Nothing of the old unit is attached to the new id: only its own contact binding.
      expect(await referencesTo(app.db, renewed.id)).toEqual({ ...NO_REFERENCES, binding: 1 });
      const bindings = await bindingsOf(app.db, renewed.id);
      expect(bindings.map((binding) => [binding.person_id, binding.role, binding.status])).toEqual([[contact.id, 'contact', 'active']]);
      expect(await services().bindings.activeFor(handler.id, renewed.id)).toBeUndefined();

      // The handler has no unit to choose; the old id is refused.
      const choices = await picker(handler);
      expect(choices.html.querySelector('form#select-unit')).toBeNull();
      const hinted = await picker(handler, { unit_hint: old.id });
      expect(hinted.html.querySelector(`input[value="${old.id}"]`)).toBeNull();
      expect(hinted.html.querySelector(`input[value="${renewed.id}"]`)).toBeNull();

      // The old unit's console session does not open the new unit's console.
      const stale = await unitBrowser.get('/unit');
      expect(stale.body).not.toContain('S44新单位');

      // Signing in afresh with the same login name opens the new unit, with only its new contact.
      const browser = new Browser(app.url);
      const page = await signInUnit(browser, { loginName: old.loginName, password: old.password }, '/unit/bindings');
      expect(Browser.text(page)).toContain('常用联系人');
      expect(page.html.querySelectorAll('tr[data-binding]').map((row) => row.getAttribute('data-binding'))).toEqual([bindings[0]!.id]);
    },
    SLOW_MS,
  );

  it(
    'when a unit is disabled, then its certificate cannot be registered again, and a new unit of the same registrant gets a new id without the old handlers',
    async () => {
      const contact = await createPerson(services(), { verified: true });
      const old: TestUnit = await createUnit(services(), contact, { name: 'S44停用单位' });
      const handler = await createPerson(services(), { verified: true });
      await bindHandler(services(), old, handler, ['biz:continuing_education']);
      await services().units.setStatus(old.id, 'disabled', { actor: { type: 'system' } });

      const again = await services()
        .units.register(
          contact.id,
          { name: 'S44重新注册', certType: old.certType, certNo: old.certNo, loginName: `re${old.loginName}`.slice(0, 32), password: old.password, passwordConfirm: old.password },
          { actor: { type: 'person', id: contact.id } },
        )
        .catch((error: unknown) => error);
      expect(again).toMatchObject({ code: 'unit_registered', status: 409 });

      const other = await createUnit(services(), contact, { name: 'S44另一单位' });
      expect(other.id).not.toBe(old.id);
      expect((await bindingsOf(app.db, other.id)).map((binding) => binding.person_id)).toEqual([contact.id]);
      expect(await services().bindings.activeFor(handler.id, other.id)).toBeUndefined();
      const choices = await picker(handler);
      expect(choices.html.querySelector(`input[value="${old.id}"]`)).toBeNull();
      expect(choices.html.querySelector(`input[value="${other.id}"]`)).toBeNull();
    },
    SLOW_MS,
  );

  it(
    'when a person is disabled, then the unit cannot bind him or her again, and a new person with the same legal name starts with no binding',
    async () => {
      const contact = await createPerson(services(), { verified: true });
      const unit = await createUnit(services(), contact);
      const old = await createPerson(services(), { verified: true, legalName: '赵六' });
      const bindingId = await bindHandler(services(), unit, old, ['biz:continuing_education']);
      await services().bindings.unbind(unit.id, bindingId, { actor: { type: 'unit', id: unit.id }, actingUnitId: unit.id });
      await services().persons.setStatus(old.id, 'disabled', { actor: { type: 'system' } });

      const refused = await services()
        .bindings.bind(unit.id, { account: old.loginName, scopes: [] }, { actor: { type: 'unit', id: unit.id } })
        .catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'binding_person_not_found', status: 404 });

      const renewed = await createPerson(services(), { verified: true, legalName: '赵六' });
      expect(renewed.id).not.toBe(old.id);
      expect(await referencesTo(app.db, renewed.id)).toEqual(NO_REFERENCES);
      expect(await services().bindings.activeFor(renewed.id, unit.id)).toBeUndefined();
    },
    SLOW_MS,
  );
});
