import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { discover } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { ALL_BUSINESS_SCOPES, signInAsUnit, unitClientsFile } from '../support/unit-flows.js';
import { auditOf, bindingById, signInUnit } from '../support/unit-console.js';

/**
 * 设为常用联系人 changes the role only (issue 10, R-B5, R-U1): the business permissions stay what they were unless
 * the unit changes them in the same form; the previous contact becomes a handler with its permissions unchanged;
 * only the registrant's first contact binding gets every permission.
 */

const CE = 'biz:continuing_education';
const CSE = 'biz:civil_service_exam';
const unitActor = (unit: TestUnit) => ({ actor: { type: 'unit' as const, id: unit.id } });

describe('设为常用联系人 changes the role only (issue 10, R-B5, R-U1)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ clients: unitClientsFile() });
  });
  afterAll(() => app.close());

  async function setUp(): Promise<{ registrant: TestPerson; handler: TestPerson; unit: TestUnit; contactBinding: string; handlerBinding: string }> {
    const services = app.app.services;
    const registrant = await createPerson(services, { verified: true });
    const handler = await createPerson(services, { verified: true });
    const unit = await createUnit(services, registrant, { verified: true });
    const handlerBinding = await bindHandler(services, unit, handler, [CE]);
    const { rows } = await app.db.query<{ id: string }>("SELECT id FROM binding WHERE unit_id = $1 AND role = 'contact'", [unit.id]);
    return { registrant, handler, unit, contactBinding: rows[0]!.id, handlerBinding };
  }

  it("R-U1 when a person registers a unit, then the registrant's contact binding has every business permission", async () => {
    const { contactBinding } = await setUp();
    expect([...(await bindingById(app.db, contactBinding))!.scopes].sort()).toEqual([...ALL_BUSINESS_SCOPES].sort());
  });

  it('R-B5 when a handler with one permission is made the common contact, then its permissions stay, the previous contact keeps its own, and the tokens carry only the kept permission', async () => {
    const { handler, unit, contactBinding, handlerBinding } = await setUp();
    await app.app.services.bindings.setContact(unit.id, handlerBinding, unitActor(unit));
    expect(await bindingById(app.db, handlerBinding)).toMatchObject({ role: 'contact', status: 'active', scopes: [CE] });
    const previous = await bindingById(app.db, contactBinding);
    expect(previous).toMatchObject({ role: 'handler', status: 'active' });
    expect([...previous!.scopes].sort()).toEqual([...ALL_BUSINESS_SCOPES].sort());

    const config = await discover(app.issuer);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE} ${CSE}` });
    expect(tokens.claims()).toMatchObject({ unit_id: unit.id, unit_role: 'contact', unit_scopes: [CE] });
    expect(tokens.scope?.split(' ')).not.toContain(CSE);
  });

  it('R-B5 when the unit changes the permissions in the same 设为常用联系人 form, then the new set applies and is audited; unticked boxes are not kept', async () => {
    const { unit, handlerBinding } = await setUp();
    const browser = new Browser(app.url);
    const page = await signInUnit(browser, unit, '/unit/bindings');
    // 设为常用联系人 opens its confirmation step, which shows the current permissions, ticked.
    const step = await browser.submit(page, `tr[data-binding="${handlerBinding}"] form.set-contact`);
    expect(step.status).toBe(200);
    const form = step.html.querySelector('form#confirm');
    expect(form).not.toBeNull();
    expect(form!.querySelectorAll('input[name=scopes][checked]').map((input) => input.getAttribute('value'))).toEqual([CE]);
    const changed = await browser.submit(step, 'form#confirm', { scopes: CSE });
    expect(changed.status).toBe(200);
    expect(Browser.text(changed)).toContain('常用联系人已变更。');
    expect(await bindingById(app.db, handlerBinding)).toMatchObject({ role: 'contact', scopes: [CSE] });
    const audit = await auditOf(app.db, 'binding.contact', unit.id);
    expect(audit.at(-1)?.detail).toMatchObject({ bindingId: handlerBinding, before: [CE], after: [CSE] });
  });

  it("R-B3 when the unit changes the common contact's permissions, then they apply; a validity period for the contact is refused with a readable message and nothing changes", async () => {
    const { unit, contactBinding } = await setUp();
    const bindings = app.app.services.bindings;
    await bindings.setScopes(unit.id, contactBinding, [CE], undefined, undefined, unitActor(unit));
    expect(await bindingById(app.db, contactBinding)).toMatchObject({ role: 'contact', scopes: [CE] });
    const refused = await bindings.setScopes(unit.id, contactBinding, [CSE], undefined, '2099-12-31', unitActor(unit)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'binding_contact_no_validity', status: 409 });
    expect(await bindingById(app.db, contactBinding)).toMatchObject({ scopes: [CE], valid_until: null });
  });

  it('when the 设为常用联系人 form sends an unknown permission, then a readable 400 answers and nothing changes', async () => {
    const { unit, handlerBinding, contactBinding } = await setUp();
    const browser = new Browser(app.url);
    const page = await signInUnit(browser, unit, '/unit/bindings');
    const step = await browser.submit(page, `tr[data-binding="${handlerBinding}"] form.set-contact`);
    const refused = await browser.submit(step, 'form#confirm', { scopes: 'biz:nonexistent' });
    expect(refused.status).toBe(400);
    expect(await bindingById(app.db, handlerBinding)).toMatchObject({ role: 'handler', scopes: [CE] });
    expect(await bindingById(app.db, contactBinding)).toMatchObject({ role: 'contact' });
  });
});
