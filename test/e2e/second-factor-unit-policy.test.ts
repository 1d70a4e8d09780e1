import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { callbackOf, discover, redeem, authorizationUrl } from '../support/rp.js';
import { clearThrottle, countRows, signInToAccount } from '../support/security.js';
import { enrolTotp } from '../support/second-factor.js';
import { ALL_BUSINESS_SCOPES, consentIfAsked, introspect, openAndLogIn, signInAsUnit, tryRefresh, unitClientsFile } from '../support/unit-flows.js';
import { csrfFrom, postForm, signInUnit } from '../support/unit-console.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';

const MFA = 'urn:unit-oidc:acr:mfa';

/**
 * Issue #18, item 4: the unit console can require a second factor of every handler acting for the unit (a
 * confirmation step, a fresh sign-in, audited); the picker marks such units, choosing one steps a password-only
 * session up, and the unit claims carry `unit_mfa_required`.
 */
describe('per-unit MFA policy (issue #18)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let contact: TestPerson;
  let strictUnit: TestUnit;
  let plainUnit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({ clients: unitClientsFile() });
    config = await discover(app.issuer);
    contact = await createPerson(app.app.services, { verified: true });
    strictUnit = await createUnit(app.app.services, contact, { name: '严格二次验证单位', verified: true });
    plainUnit = await createUnit(app.app.services, contact, { name: '普通单位', verified: true });
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  async function turnOn(unit: TestUnit): Promise<void> {
    const browser = new Browser(app.url);
    await signInUnit(browser, unit);
    const confirm = await browser.get('/unit/mfa-policy');
    expect(Browser.text(confirm)).toContain('未要求二次验证');
    expect(Browser.text(confirm)).toContain(`经办人员以“${unit.name}”身份登录任何业务系统时`);
    const done = await browser.submit(confirm, 'form#confirm');
    expect(Browser.text(done)).toContain('已要求经办人员二次验证。');
  }

  /** A sign-in for the unit with offline_access: the password, then (enrolled) the second factor, the picker, consent. */
  async function offlineSignIn(unit: TestUnit, handler: TestPerson, code?: () => Promise<string>) {
    const params = { scope: 'openid unit offline_access', prompt: 'consent' };
    if (!code) return (await signInAsUnit(config, app.url, handler, unit.id, params)).tokens;
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, params);
    let page = await openAndLogIn(browser, authorization, handler, true);
    expect(page.html.querySelector('form#second-factor')).not.toBeNull();
    page = await browser.submit(page, 'form#second-factor', { code: await code() });
    page = await consentIfAsked(browser, await browser.submit(page, 'form#select-unit', { unitId: unit.id }));
    return redeem(config, authorization, callbackOf(page));
  }

  it('when a unit turns the policy on, then the grants signed in without a second factor are revoked in that change (refresh invalid_grant, introspection inactive, the unit link gone), while a grant signed in with one keeps refreshing with unit_mfa_required (C-T5, S-56)', async () => {
    const unit = await createUnit(app.app.services, contact, { name: '后开启策略单位', verified: true });
    const passwordOnly = await createPerson(app.app.services, { verified: true });
    const withTotp = await createPerson(app.app.services, { verified: true });
    await bindHandler(app.app.services, unit, passwordOnly, ALL_BUSINESS_SCOPES);
    await bindHandler(app.app.services, unit, withTotp, ALL_BUSINESS_SCOPES);
    const enrolling = new Browser(app.url);
    await signInToAccount(enrolling, withTotp.loginName, withTotp.password);
    const { authenticator } = await enrolTotp(enrolling);

    const before = await offlineSignIn(unit, passwordOnly);
    const strong = await offlineSignIn(unit, withTotp, () => authenticator.code());
    expect(before.claims()).toMatchObject({ amr: ['pwd'], unit_id: unit.id });
    expect(strong.claims()).toMatchObject({ amr: ['pwd', 'otp'], unit_id: unit.id });

    await turnOn(unit);
    const refused = await tryRefresh(config, before.refresh_token!);
    expect(refused).toMatchObject({ ok: false, error: 'invalid_grant' });
    await expect(introspect(config, before.access_token)).resolves.toMatchObject({ active: false });
    expect(await countRows(app.db, 'grant_unit', 'person_id = $1 AND unit_id = $2', [passwordOnly.id, unit.id])).toBe(0);

    const kept = await tryRefresh(config, strong.refresh_token!);
    expect(kept.ok).toBe(true);
    expect(kept.ok && kept.claims).toMatchObject({ sub: withTotp.id, unit_id: unit.id, unit_mfa_required: true, amr: ['pwd', 'otp'] });
  });

  it('when the policy is on and a refresh token of a sign-in without a second factor is presented (the policy row written beside the revocation), then the refresh is refused with invalid_grant, not answered with tokens (C-T5)', async () => {
    const unit = await createUnit(app.app.services, contact, { name: '刷新检查单位', verified: true });
    const handler = await createPerson(app.app.services, { verified: true });
    await bindHandler(app.app.services, unit, handler, ALL_BUSINESS_SCOPES);
    const tokens = await offlineSignIn(unit, handler);
    const first = await tryRefresh(config, tokens.refresh_token!);
    expect(first.ok).toBe(true);
    const current = (first.ok && first.tokens.refresh_token) || tokens.refresh_token!;
    // Only the policy, not the revocation that comes with it in the console: the refresh itself must check.
    await app.db.query('INSERT INTO unit_mfa_policy (unit_id, required_at) VALUES ($1, now())', [unit.id]);
    await expect(tryRefresh(config, current)).resolves.toMatchObject({ ok: false, error: 'invalid_grant' });
    // An access token keeps its unit claims until it expires (it carries no amr); the claims now say the policy.
    await expect(introspect(config, first.ok ? first.tokens.access_token : tokens.access_token)).resolves.toMatchObject({ active: true, unit_mfa_required: true });
  });

  it('when the unit console turns the policy on, then a confirmation step comes first, the change is audited and a bad value is refused readably (a stale sign-in: security-freshness walks unit.mfa_policy)', async () => {
    const unit = await createUnit(app.app.services, contact, { name: '策略测试单位' });
    const browser = new Browser(app.url);
    await signInUnit(browser, unit);
    const csrf = await csrfFrom(browser, '/unit');
    const bad = await postForm(browser, '/unit/mfa-policy', csrf, [['required', 'maybe']]);
    expect(bad.status).toBe(400);
    expect(Browser.text(bad)).toContain('提交的内容不完整或格式不正确。');
    expect(await app.app.services.unitMfa.required(unit.id)).toBe(false);
    await turnOn(unit);
    expect(await app.app.services.unitMfa.required(unit.id)).toBe(true);
    const { rows } = await app.db.query<{ detail: { required: boolean }; actor_type: string }>(
      "SELECT detail, actor_type FROM audit_event WHERE action = 'unit.mfa_policy' AND target_id = $1",
      [unit.id],
    );
    expect(rows).toEqual([{ detail: { required: true }, actor_type: 'unit' }]);
    // And off again, through the same confirmation step.
    const confirm = await browser.get('/unit/mfa-policy');
    expect(Browser.text(confirm)).toContain('经办人员须二次验证');
    const off = await browser.submit(confirm, 'form#confirm');
    expect(Browser.text(off)).toContain('已取消二次验证要求。');
    expect(await app.app.services.unitMfa.required(unit.id)).toBe(false);
  });

  it('when a handler with a password-only session picks a unit that requires a second factor, then the picker marks it, the second factor is asked (no password), and the unit claims say unit_mfa_required with acr mfa', async () => {
    await turnOn(strictUnit);
    const handler = await createPerson(app.app.services, { verified: true });
    await bindHandler(app.app.services, strictUnit, handler, ALL_BUSINESS_SCOPES);
    await bindHandler(app.app.services, plainUnit, handler, ALL_BUSINESS_SCOPES);
    const browser = new Browser(app.url);
    await signInToAccount(browser, handler.loginName, handler.password);
    const { authenticator } = await enrolTotp(browser);

    // The plain unit: the password-only session is enough; the claims say the unit does not require it.
    const first = await authorizationUrl(config, { scope: 'openid unit', prompt: 'select_unit' });
    const picker = await browser.get(first.url.toString());
    const strictRow = picker.html.querySelectorAll('form#select-unit label').find((label) => label.text.includes('严格二次验证单位'));
    const plainRow = picker.html.querySelectorAll('form#select-unit label').find((label) => label.text.includes('普通单位'));
    expect(strictRow?.querySelector('.mfa-mark')?.text).toBe('须二次验证');
    expect(plainRow?.querySelector('.mfa-mark')).toBeNull();
    const plainDone = await consentIfAsked(browser, await browser.submit(picker, 'form#select-unit', { unitId: plainUnit.id }));
    const plainTokens = await redeem(config, first, callbackOf(plainDone));
    expect(plainTokens.claims()).toMatchObject({ unit_id: plainUnit.id, amr: ['pwd'] });
    expect(plainTokens.claims()).not.toHaveProperty('unit_mfa_required');

    const second = await authorizationUrl(config, { scope: 'openid unit', prompt: 'select_unit' });
    const again = await browser.get(second.url.toString());
    const stepUp = await browser.submit(again, 'form#select-unit', { unitId: strictUnit.id });
    expect(stepUp.html.querySelector('input[name="password"]')).toBeNull();
    expect(stepUp.html.querySelector('form#second-factor')).not.toBeNull();
    const done = await consentIfAsked(browser, await browser.submit(stepUp, 'form#second-factor', { code: await authenticator.code() }));
    const tokens = await redeem(config, second, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ sub: handler.id, unit_id: strictUnit.id, unit_mfa_required: true, acr: MFA, amr: ['pwd', 'otp'] });
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_step_up' AND target_id = $1", [handler.id])).toBe(1);
    const info = await client.fetchUserInfo(config, tokens.access_token, handler.id);
    expect(info).toMatchObject({ unit_id: strictUnit.id, unit_mfa_required: true });
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, unit_id: strictUnit.id, unit_mfa_required: true });
  });

  it('when a handler without a second factor picks such a unit, then the sign-in stops with the request to enrol one and no code is issued', async () => {
    const handler = await createPerson(app.app.services, { verified: true });
    await bindHandler(app.app.services, strictUnit, handler, ALL_BUSINESS_SCOPES);
    if (!(await app.app.services.unitMfa.required(strictUnit.id))) await turnOn(strictUnit);
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope: 'openid unit' });
    const picker = await openAndLogIn(browser, authorization, handler, true);
    const page = await browser.submit(picker, 'form#select-unit', { unitId: strictUnit.id });
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    expect(Browser.text(page)).toContain('要求二次验证，但您尚未绑定身份验证器');
  });
});
