import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { grantOfRefreshToken, openAndLogIn, pickerChoices, refresh, signInAsUnit, tryRefresh, unitClaimsOf, unitClientsFile } from '../support/unit-flows.js';

/**
 * C-T6: a relying party asks for unit mode (`login_as=unit`), for a unit (`unit_hint`) or for the picker again
 * within the SSO session (`prompt=select_unit`), and switching unit never reuses another unit's grant.
 */
describe('unit mode and unit switching requested by the RP (C-T6, C-UI2)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let lisi: TestPerson;
  let unitA: TestUnit;
  let unitB: TestUnit;

  const scope = 'openid profile unit biz:continuing_education biz:civil_service_exam';

  beforeAll(async () => {
    app = await startTestApp({ clients: unitClientsFile() });
    config = await discover(app.issuer);
    const services = app.app.services;
    const contact = await createPerson(services, { verified: true, legalName: '张三' });
    lisi = await createPerson(services, { verified: true, legalName: '李四' });
    unitA = await createUnit(services, contact, { name: '甲科技有限公司', verified: true });
    unitB = await createUnit(services, contact, { name: '乙贸易有限公司', verified: true });
    await bindHandler(services, unitA, lisi, ['biz:continuing_education']);
    await bindHandler(services, unitB, lisi, ['biz:civil_service_exam']);
  }, 120_000); // the app, keys and argon2 hashes take a while on a loaded machine
  afterAll(() => app.close());

  it('C-T6 when the RP sends login_as=unit, then the sign-in page has 以单位身份登录 ticked and the password leads to the picker', async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope, login_as: 'unit' });
    const login = await browser.get(authorization.url.toString());
    const checkbox = login.html.querySelector('form#person-login input[type=checkbox][name=unitMode]');
    expect(checkbox).not.toBeNull();
    expect(checkbox!.hasAttribute('checked')).toBe(true);

    // The person only types the password: the pre-ticked box is submitted as the page has it.
    const picker = await browser.submit(login, 'form#person-login', { account: lisi.loginName, password: lisi.password });
    expect(picker.status).toBe(200);
    expect(Browser.text(picker)).toContain('使用选中的单位账号登录');
    expect(pickerChoices(picker).unitIds.sort()).toEqual([unitA.id, unitB.id].sort());
  });

  it('C-T6 when the RP does not send login_as, then the checkbox is not ticked', async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope });
    const login = await browser.get(authorization.url.toString());
    const checkbox = login.html.querySelector('form#person-login input[type=checkbox][name=unitMode]');
    expect(checkbox).not.toBeNull();
    expect(checkbox!.hasAttribute('checked')).toBe(false);
  });

  it.each([
    ['B', () => unitB],
    ['A', () => unitA],
  ])('C-T6 when the RP sends unit_hint=<unit %s>, then the picker preselects that unit and only it', async (_name, hinted) => {
    const browser = new Browser(app.url);
    const unit = hinted();
    const authorization = await authorizationUrl(config, { scope, login_as: 'unit', unit_hint: unit.id });
    const picker = await openAndLogIn(browser, authorization, lisi, true);
    const choices = pickerChoices(picker);
    expect(choices.unitIds.sort()).toEqual([unitA.id, unitB.id].sort());
    expect(choices.checked).toEqual([unit.id]);
    expect(Browser.text(picker)).not.toContain('业务系统指定的单位不在您可代表的单位中');

    // Submitting the page as it is signs in for the hinted unit.
    const done = await browser.submit(picker, 'form#select-unit');
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ sub: lisi.id, unit_id: unit.id, unit_name: unit.name });
  });

  it('C-T6 when a person signed in personally and the RP then sends unit_hint within the SSO session, then the picker shows without the password with that unit preselected', async () => {
    const browser = new Browser(app.url);
    const personal = await authorizationUrl(config, { scope });
    const first = await redeem(config, personal, callbackOf(await openAndLogIn(browser, personal, lisi, false)));
    expect(unitClaimsOf(first.claims() as Record<string, unknown>)).toEqual({});
    const hinted = await authorizationUrl(config, { scope, unit_hint: unitB.id });
    const picker = await browser.get(hinted.url.toString());
    expect(picker.html.querySelector('input[type=password]')).toBeNull();
    expect(pickerChoices(picker).checked).toEqual([unitB.id]);
    const tokens = await redeem(config, hinted, callbackOf(await browser.submit(picker, 'form#select-unit')));
    expect(tokens.claims()).toMatchObject({ sub: lisi.id, unit_id: unitB.id });
  });

  it('C-T6 when a person bound to two units gets the picker without unit_hint, then nothing is preselected', async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope, login_as: 'unit' });
    const picker = await openAndLogIn(browser, authorization, lisi, true);
    expect(pickerChoices(picker).checked).toEqual([]);
  });

  it('C-T6 when the RP sends prompt=select_unit within the SSO session, then the picker shows without the password and switching unit yields tokens for the new unit from a different grant', async () => {
    // offline_access (with prompt=consent, OIDC Core §11): refresh tokens that outlive the SSO session's
    // authorization, so the old unit's token can be checked after the switch.
    const { browser, tokens: first } = await signInAsUnit(config, app.url, lisi, unitA.id, { scope: `${scope} offline_access`, prompt: 'consent' });
    expect(first.claims()).toMatchObject({ sub: lisi.id, unit_id: unitA.id, unit_scopes: ['biz:continuing_education'] });
    expect(first.scope?.split(' ')).toContain('offline_access');
    expect(first.refresh_token).toBeTruthy();

    // Same browser, same SSO session: the picker again, no sign-in page, no password field.
    const switching = await authorizationUrl(config, { scope, prompt: 'select_unit' });
    const picker = await browser.get(switching.url.toString());
    expect(picker.status).toBe(200);
    expect(picker.html.querySelector('form#person-login')).toBeNull();
    expect(picker.html.querySelector('input[type=password]')).toBeNull();
    expect(picker.html.querySelector('form#select-unit')).not.toBeNull();
    expect(Browser.text(picker)).toContain('使用选中的单位账号登录');
    // The unit acted for in the session is the one preselected.
    expect(pickerChoices(picker).checked).toEqual([unitA.id]);

    const done = await browser.submit(picker, 'form#select-unit', { unitId: unitB.id });
    const second = await redeem(config, switching, callbackOf(done));
    expect(second.claims()).toMatchObject({ sub: lisi.id, unit_id: unitB.id, unit_name: '乙贸易有限公司', unit_role: 'handler', unit_scopes: ['biz:civil_service_exam'] });
    expect(second.scope?.split(' ')).toContain('biz:civil_service_exam');
    expect(second.scope?.split(' ')).not.toContain('biz:continuing_education');

    // Switching unit never reuses another unit's grant.
    const grantA = await grantOfRefreshToken(app.db, first.refresh_token!);
    const grantB = await grantOfRefreshToken(app.db, second.refresh_token!);
    expect(grantA).toBeTruthy();
    expect(grantB).toBeTruthy();
    expect(grantB).not.toBe(grantA);
    expect(await app.app.services.unitGrants.forGrant(grantA)).toMatchObject({ unitId: unitA.id, personId: lisi.id });
    expect(await app.app.services.unitGrants.forGrant(grantB)).toMatchObject({ unitId: unitB.id, personId: lisi.id });

    // Each refresh token keeps its own unit.
    const refreshedA = await refresh(config, first.refresh_token!);
    expect(unitClaimsOf(refreshedA.claims)).toMatchObject({ unit_id: unitA.id, unit_scopes: ['biz:continuing_education'] });
    expect(refreshedA.tokens.scope?.split(' ')).not.toContain('biz:civil_service_exam');
    const refreshedB = await refresh(config, second.refresh_token!);
    expect(unitClaimsOf(refreshedB.claims)).toMatchObject({ unit_id: unitB.id, unit_scopes: ['biz:civil_service_exam'] });
    expect(refreshedB.tokens.scope?.split(' ')).not.toContain('biz:continuing_education');

    // And each access token answers userinfo for its own unit.
    const infoA = await client.fetchUserInfo(config, refreshedA.tokens.access_token, lisi.id);
    const infoB = await client.fetchUserInfo(config, refreshedB.tokens.access_token, lisi.id);
    expect(infoA.unit_id).toBe(unitA.id);
    expect(infoB.unit_id).toBe(unitB.id);
  });

  it('C-T6 when the session-bound refresh token of the first unit (no offline_access) is used after a switch, then it never yields the second unit', async () => {
    const { browser, tokens: first } = await signInAsUnit(config, app.url, lisi, unitA.id, { scope });
    const switching = await authorizationUrl(config, { scope, prompt: 'select_unit' });
    const picker = await browser.get(switching.url.toString());
    const second = await redeem(config, switching, callbackOf(await browser.submit(picker, 'form#select-unit', { unitId: unitB.id })));
    expect(second.claims()).toMatchObject({ unit_id: unitB.id });
    const old = await tryRefresh(config, first.refresh_token!);
    // Either the old token still speaks for unit A, or it ended with the session's authorization for this client.
    if (old.ok) expect(unitClaimsOf(old.claims)).toMatchObject({ unit_id: unitA.id });
    else expect(old.error).toBe('invalid_grant');
    const current = await refresh(config, second.refresh_token!);
    expect(unitClaimsOf(current.claims)).toMatchObject({ unit_id: unitB.id });
  });

  it("C-T6 when the person switches back to the first unit, then the first unit's grant (not the second's) serves again", async () => {
    const { browser, tokens: first } = await signInAsUnit(config, app.url, lisi, unitA.id, { scope });
    const toB = await authorizationUrl(config, { scope, prompt: 'select_unit' });
    const pickB = await browser.get(toB.url.toString());
    const second = await redeem(config, toB, callbackOf(await browser.submit(pickB, 'form#select-unit', { unitId: unitB.id })));
    const toA = await authorizationUrl(config, { scope, prompt: 'select_unit' });
    const pickA = await browser.get(toA.url.toString());
    expect(pickerChoices(pickA).checked).toEqual([unitB.id]);
    const third = await redeem(config, toA, callbackOf(await browser.submit(pickA, 'form#select-unit', { unitId: unitA.id })));
    expect(third.claims()).toMatchObject({ unit_id: unitA.id });
    const grantB = await grantOfRefreshToken(app.db, second.refresh_token!);
    const grantA3 = await grantOfRefreshToken(app.db, third.refresh_token!);
    expect(grantA3).not.toBe(grantB);
    expect(grantA3).toBe(await grantOfRefreshToken(app.db, first.refresh_token!));
    expect(await app.app.services.unitGrants.forGrant(grantA3)).toMatchObject({ unitId: unitA.id });
  });

  it('C-T6 when the person chooses “以个人身份继续” on prompt=select_unit, then the tokens carry no unit and no business scope', async () => {
    const { browser } = await signInAsUnit(config, app.url, lisi, unitA.id, { scope });
    const switching = await authorizationUrl(config, { scope, prompt: 'select_unit' });
    const picker = await browser.get(switching.url.toString());
    const done = await browser.submit(picker, 'form#continue-personal');
    const tokens = await redeem(config, switching, callbackOf(done));
    expect(unitClaimsOf(tokens.claims() as Record<string, unknown>)).toEqual({});
    expect(tokens.scope?.split(' ').filter((entry) => entry.startsWith('biz:'))).toEqual([]);
    const grant = await grantOfRefreshToken(app.db, tokens.refresh_token!);
    expect(await app.app.services.unitGrants.forGrant(grant)).toBeUndefined();
  });
});
