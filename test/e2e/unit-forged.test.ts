import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem, type Authorization } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { codeCount, createOperator, csrfOf, interactionUidOf, issueCode, openAndLogIn, pickerChoices, postTo, unitClientsFile } from '../support/unit-flows.js';

/**
 * S-40: the unit is checked on the server. Whatever unit id a browser posts to the picker (or to the
 * unverified-unit interstitial), only a unit with an active, unexpired binding of the signed-in person is
 * accepted; anything else is a readable 403 and no authorization code is issued. A foreign `unit_hint`
 * (C-T6) is refused with a notice and preselects nothing.
 */
describe('forged and foreign unit ids (S-40, C-T6)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let lisi: TestPerson;
  let wangwu: TestPerson;
  let mine: TestUnit;
  let mineToo: TestUnit;
  let unbound: TestUnit;
  let pending: TestUnit;
  let expired: TestUnit;
  let othersUnit: TestUnit;
  let disabled: TestUnit;
  let declined: TestUnit;
  let unboundAgain: TestUnit;
  let notYetValid: TestUnit;

  const scope = 'openid profile unit biz:continuing_education';
  const REFUSED = '不能以该单位身份登录';

  beforeAll(async () => {
    app = await startTestApp({ clients: unitClientsFile() });
    config = await discover(app.issuer);
    const services = app.app.services;
    const zhangsan = await createPerson(services, { verified: true, legalName: '张三' });
    lisi = await createPerson(services, { verified: true, legalName: '李四' });
    wangwu = await createPerson(services, { verified: true, legalName: '王五' });
    mine = await createUnit(services, zhangsan, { name: '李四可代表的单位', verified: true });
    mineToo = await createUnit(services, zhangsan, { name: '李四可代表的第二个单位', verified: true });
    unbound = await createUnit(services, zhangsan, { name: '从未绑定的单位', verified: true });
    pending = await createUnit(services, zhangsan, { name: '待确认绑定的单位', verified: true });
    expired = await createUnit(services, zhangsan, { name: '绑定已过期的单位', verified: true });
    othersUnit = await createUnit(services, wangwu, { name: '王五的单位', verified: false });
    disabled = await createUnit(services, zhangsan, { name: '已停用的单位', verified: true });
    declined = await createUnit(services, zhangsan, { name: '已拒绝绑定的单位', verified: true });
    unboundAgain = await createUnit(services, zhangsan, { name: '已解除绑定的单位', verified: true });
    await bindHandler(services, mine, lisi, ['biz:continuing_education']);
    await bindHandler(services, mineToo, lisi, ['biz:continuing_education']);
    await services.bindings.bind(pending.id, { account: lisi.loginName, scopes: ['biz:continuing_education'] }, { actor: { type: 'unit', id: pending.id } });
    await bindHandler(services, expired, lisi, ['biz:continuing_education']);
    await app.db.query("UPDATE binding SET valid_until = now() - interval '1 hour' WHERE unit_id = $1 AND person_id = $2", [expired.id, lisi.id]);
    await bindHandler(services, disabled, lisi, ['biz:continuing_education']);
    await services.units.setStatus(disabled.id, 'disabled', { actor: { type: 'operator' } });
    const toDecline = await services.bindings.bind(declined.id, { account: lisi.loginName, scopes: ['biz:continuing_education'] }, { actor: { type: 'unit', id: declined.id } });
    await services.bindings.decline(lisi.id, toDecline.id, { actor: { type: 'person', id: lisi.id } });
    const toUnbind = await bindHandler(services, unboundAgain, lisi, ['biz:continuing_education']);
    await services.bindings.unbind(unboundAgain.id, toUnbind, { actor: { type: 'unit', id: unboundAgain.id } });
    notYetValid = await createUnit(services, zhangsan, { name: '绑定尚未生效的单位', verified: true });
    await bindHandler(services, notYetValid, lisi, ['biz:continuing_education']);
    await app.db.query("UPDATE binding SET valid_from = now() + interval '1 day' WHERE unit_id = $1 AND person_id = $2", [notYetValid.id, lisi.id]);
  }, 120_000); // the app, keys and argon2 hashes take a while on a loaded machine
  afterAll(() => app.close());

  async function picker(params: Record<string, string> = {}): Promise<{ browser: Browser; authorization: Authorization; page: Page }> {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope, login_as: 'unit', ...params });
    const page = await openAndLogIn(browser, authorization, lisi, true);
    expect(page.html.querySelector('form#select-unit')).not.toBeNull();
    return { browser, authorization, page };
  }

  it('S-40 when the picker is shown, then it offers only the units with a binding in force', async () => {
    const { page } = await picker();
    expect(pickerChoices(page).unitIds.sort()).toEqual([mine.id, mineToo.id].sort());
    const text = Browser.text(page);
    for (const unit of [unbound, pending, expired, othersUnit, disabled, declined, unboundAgain, notYetValid]) expect(text).not.toContain(unit.name);
  });

  const forged: [string, () => TestUnit][] = [
    ['a unit the person was never bound to', () => unbound],
    ['a unit whose binding is still pending', () => pending],
    ['a unit whose binding is past its validity period', () => expired],
    ["another person's unit", () => othersUnit],
    ['a disabled unit', () => disabled],
    ['a unit whose binding the person declined', () => declined],
    ['a unit that unbound the person', () => unboundAgain],
    ['a unit whose binding is not valid yet', () => notYetValid],
  ];

  it.each(forged)('S-40 when the picker form is posted with %s, then a 403 page refuses it, no code is issued and the person can still choose', async (_what, target) => {
    const unit = target();
    const { browser, authorization, page } = await picker();
    const codes = await codeCount(app.db);
    const refused = await browser.submit(page, 'form#select-unit', { unitId: unit.id });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('location')).toBeNull();
    expect(Browser.text(refused)).toContain(REFUSED);
    // No disclosure of the forged unit, and the picker is still there as the way on.
    expect(Browser.text(refused)).not.toContain(unit.name);
    expect(pickerChoices(refused).unitIds.sort()).toEqual([mine.id, mineToo.id].sort());
    expect(await codeCount(app.db)).toBe(codes);

    // The interaction is not poisoned: choosing a real unit signs in for that unit, not the forged one.
    const done = await browser.submit(refused, 'form#select-unit', { unitId: mine.id });
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ sub: lisi.id, unit_id: mine.id });
  });

  it.each([
    ['a random UUID', () => '00000000-0000-4000-8000-000000000000'],
    ['a non-UUID string', () => 'not-a-unit-id'],
    ['36 characters that only look like a UUID', () => 'f'.repeat(36)],
    ['SQL', () => "' OR '1'='1"],
  ])('S-40 S-53 when the picker form is posted with %s as unitId, then it is refused with a readable 4xx page, never a 500, and no code is issued', async (_what, value) => {
    const { browser, page } = await picker();
    const codes = await codeCount(app.db);
    const refused = await browser.submit(page, 'form#select-unit', { unitId: value() });
    expect(refused.status).toBe(403);
    expect(refused.headers.get('location')).toBeNull();
    expect(Browser.text(refused)).toContain(REFUSED);
    expect(await codeCount(app.db)).toBe(codes);
  });

  it("S-40 when the interstitial's code form is posted for another person's unverified unit with that unit's valid code, then it is refused and the unit stays unverified", async () => {
    const services = app.app.services;
    const operatorId = await createOperator(services);
    const code = await issueCode(services, operatorId, othersUnit.id);
    const { browser, page } = await picker();
    const codes = await codeCount(app.db);
    const refused = await postTo(browser, `/interaction/${interactionUidOf(page)}/unit-code`, [
      ['_csrf', csrfOf(page, 'form#select-unit')],
      ['unitId', othersUnit.id],
      ['code', code],
    ]);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('location')).toBeNull();
    expect(Browser.text(refused)).toContain(REFUSED);
    expect(await codeCount(app.db)).toBe(codes);
    expect((await services.units.byId(othersUnit.id))?.verified).toBe(false);
    // The code was not spent either: the unit's own people can still use it.
    const [issued] = await services.verification.list(othersUnit.id);
    expect(issued).toMatchObject({ state: 'live', attempts: 0 });
  });

  it.each([
    ["another person's unit", () => othersUnit.id],
    ['a unit with a pending binding', () => pending.id],
    ['a unit whose binding expired', () => expired.id],
    ['an unknown id', () => '00000000-0000-4000-8000-000000000000'],
    ['something that is not a UUID', () => 'not-a-unit-id'],
    ['36 characters that only look like a UUID', () => 'f'.repeat(36)],
  ])('C-T6 S-40 when unit_hint names %s, then the picker says it cannot be used and preselects nothing', async (_what, hint) => {
    const { page } = await picker({ unit_hint: hint() });
    expect(page.status).toBe(200);
    expect(Browser.text(page)).toContain('业务系统指定的单位不在您可代表的单位中');
    const choices = pickerChoices(page);
    expect(choices.unitIds.sort()).toEqual([mine.id, mineToo.id].sort());
    expect(choices.checked).toEqual([]);
    expect(page.body).not.toContain(hint());
    expect(Browser.text(page)).not.toContain(othersUnit.name);
  });

  it('C-T6 S-40 when unit_hint names a foreign unit and the person submits the page as it is, then no unit is chosen and no code is issued', async () => {
    const { browser, page } = await picker({ unit_hint: othersUnit.id });
    const codes = await codeCount(app.db);
    const result = await browser.submit(page, 'form#select-unit');
    expect(result.status).toBe(400);
    expect(result.headers.get('location')).toBeNull();
    expect(Browser.text(result)).toContain('请选择一个单位');
    expect(await codeCount(app.db)).toBe(codes);
  });

  it('S-40 when a person whose only binding is with one unit forges unit_hint and the picker post for another, then the single own unit is all that can be chosen', async () => {
    const services = app.app.services;
    const solo = await createPerson(services, { verified: true });
    const soloUnit = await createUnit(services, wangwu, { name: '独立经办单位', verified: true });
    await bindHandler(services, soloUnit, solo, ['biz:continuing_education']);
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope, login_as: 'unit', unit_hint: othersUnit.id });
    const page = await openAndLogIn(browser, authorization, solo, true);
    expect(Browser.text(page)).toContain('业务系统指定的单位不在您可代表的单位中');
    expect(pickerChoices(page).unitIds).toEqual([soloUnit.id]);
    const refused = await browser.submit(page, 'form#select-unit', { unitId: othersUnit.id });
    expect(refused.status).toBe(403);
    const done = await browser.submit(refused, 'form#select-unit', { unitId: soloUnit.id });
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ sub: solo.id, unit_id: soloUnit.id });
  });
});
