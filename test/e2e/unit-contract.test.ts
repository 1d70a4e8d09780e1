import crypto from 'node:crypto';
import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { RP_REDIRECT, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discoverWith, redeem } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import {
  ALL_BUSINESS_SCOPES,
  codeCount,
  consentIfAsked,
  introspect,
  openAndLogIn,
  pickerChoices,
  postTo,
  scopesOf,
  signInAsUnit,
  tryRefresh,
  userinfo,
} from '../support/unit-flows.js';
import { authorizationError } from '../support/oidc-errors.js';

/**
 * Issue 10: one unit contract for every relying party (C-T8). Each test here failed on the code before the
 * issue: a consent-based client got personal tokens, introspection advertised the whole binding, a client got
 * JWTs for another business's API, the session's unit overrode unit_hint and a second system silently reused a
 * unit without its business, and a new binding revived the tokens of an earlier one (S-46).
 */

const CE = 'biz:continuing_education';
const CSE = 'biz:civil_service_exam';
const CE_API = 'https://ce.rp.test/api';
const CSE_API = 'https://cse.rp.test/api';

describe('one unit contract for every relying party (issue 10, C-T8)', () => {
  let app: TestApp;
  let consent: client.Configuration;
  let firstParty: client.Configuration;
  let cse: client.Configuration;
  let contact: TestPerson;
  let unitA: TestUnit;
  let unitB: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([
        testClient({ scopes: ['openid', 'profile', 'phone', 'offline_access', 'unit', ...ALL_BUSINESS_SCOPES] }),
        testClient({
          client_id: 'consent-rp',
          first_party: false,
          token_endpoint_auth_method: 'client_secret_post',
          scopes: ['openid', 'profile', 'offline_access', 'unit', CE],
          business: 'continuing_education',
        }),
        testClient({ client_id: 'cse-rp', scopes: ['openid', 'profile', 'unit', CSE], business: 'civil_service_exam' }),
      ]),
    });
    consent = await discoverWith(app.issuer, 'consent-rp', 'client_secret_post');
    firstParty = await discoverWith(app.issuer, 'test-rp', 'client_secret_basic');
    cse = await discoverWith(app.issuer, 'cse-rp', 'client_secret_basic');
    const services = app.app.services;
    contact = await createPerson(services, { verified: true, legalName: '张三' });
    unitA = await createUnit(services, contact, { name: '示例科技有限公司', verified: true });
    unitB = await createUnit(services, contact, { name: '示例教育中心', verified: true });
  });
  afterAll(() => app.close());

  async function handler(scopesA: string[] = [CE], scopesB?: string[]): Promise<TestPerson> {
    const person = await createPerson(app.app.services, { verified: true, legalName: '李四' });
    await bindHandler(app.app.services, unitA, person, scopesA);
    if (scopesB) await bindHandler(app.app.services, unitB, person, scopesB);
    return person;
  }

  async function grantCount(personId: string): Promise<number> {
    const { rows } = await app.db.query<{ count: string }>("SELECT count(*)::text AS count FROM oidc_model WHERE model = 'Grant' AND account_id = $1", [`person:${personId}`]);
    return Number(rows[0]?.count ?? 0);
  }

  it('C-T8 when lisi signs in as a unit to a client that is not first_party and consents, then ID token, userinfo and the token scope carry the unit', async () => {
    const lisi = await handler();
    const authorization = await authorizationUrl(consent, { scope: `openid profile unit ${CE}` });
    const browser = new Browser(app.url);
    let page = await openAndLogIn(browser, authorization, lisi, true);
    page = await browser.submit(page, 'form#select-unit', { unitId: unitA.id });
    expect(page.html.querySelector('form[action$="/confirm"]')).not.toBeNull();
    page = await browser.submit(page, 'form[action$="/confirm"]');
    const tokens = await redeem(consent, authorization, callbackOf(page));
    expect(tokens.claims()).toMatchObject({
      sub: lisi.id,
      unit_id: unitA.id,
      unit_name: '示例科技有限公司',
      unit_cert_type: 'uscc',
      unit_cert_no: unitA.certNo,
      unit_verified: true,
      unit_role: 'handler',
      unit_scopes: [CE],
    });
    expect(scopesOf(tokens)).toContain(CE);
    const info = await userinfo(consent, tokens.access_token);
    expect(info.body).toMatchObject({ unit_id: unitA.id, unit_scopes: [CE] });
  });

  it('C-T8 when the person signs in again for the same unit, then the consent is remembered; another unit of the same client gets its own grant without asking again for the same scopes', async () => {
    const lisi = await handler([CE], [CE]);
    const first = await signInAsUnit(consent, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
    const grants = await grantCount(lisi.id);

    const again = await authorizationUrl(consent, { scope: `openid profile unit ${CE}` });
    const silent = await first.browser.get(again.url.toString());
    const tokensAgain = await redeem(consent, again, callbackOf(silent));
    expect(tokensAgain.claims()).toMatchObject({ unit_id: unitA.id, unit_scopes: [CE] });
    expect(await grantCount(lisi.id)).toBe(grants);

    const switched = await authorizationUrl(consent, { scope: `openid profile unit ${CE}`, prompt: 'select_unit' });
    const picker = await first.browser.get(switched.url.toString());
    const done = await first.browser.submit(picker, 'form#select-unit', { unitId: unitB.id });
    expect(done.html.querySelector('form[action$="/confirm"]')).toBeNull();
    const tokensB = await redeem(consent, switched, callbackOf(done));
    expect(tokensB.claims()).toMatchObject({ unit_id: unitB.id, unit_name: '示例教育中心', unit_scopes: [CE] });
    expect(scopesOf(tokensB)).toContain(CE);
    const grantA = await app.app.services.unitGrants.latestForClient('consent-rp', lisi.id);
    const links = await app.db.query<{ unit_id: string }>('SELECT unit_id FROM grant_unit WHERE person_id = $1 AND client_id = $2', [lisi.id, 'consent-rp']);
    expect(links.rows.map((row) => row.unit_id).sort()).toEqual([unitA.id, unitB.id].sort());
    expect(grantA).toBeDefined();
  });

  it('C-T8 when the person acts for another unit of the same client and the client asks for more, then the consent page asks only for what is new and the new unit gets its own grant', async () => {
    const lisi = await handler([CE], [CE]);
    const first = await signInAsUnit(consent, app.url, lisi, unitA.id, { scope: `openid unit ${CE}` });
    const switched = await authorizationUrl(consent, { scope: `openid profile unit ${CE}`, prompt: 'select_unit' });
    const picker = await first.browser.get(switched.url.toString());
    const page = await first.browser.submit(picker, 'form#select-unit', { unitId: unitB.id });
    expect(page.html.querySelector('form[action$="/confirm"]')).not.toBeNull();
    expect(page.html.querySelectorAll('main li, section li').map((item) => item.text.trim())).toEqual(['基本信息（账号、姓名、实名状态）']);
    const tokens = await redeem(consent, switched, callbackOf(await first.browser.submit(page, 'form[action$="/confirm"]')));
    expect(tokens.claims()).toMatchObject({ unit_id: unitB.id, unit_scopes: [CE], preferred_username: lisi.loginName });
    const links = await app.db.query<{ unit_id: string; grant_id: string }>('SELECT unit_id, grant_id FROM grant_unit WHERE person_id = $1', [lisi.id]);
    expect(new Set(links.rows.map((row) => row.grant_id)).size).toBe(2);
  });

  it("C-T8 when a token was issued for biz:continuing_education only and the unit grants more, then introspection reports only the token's own business scopes as unit_scopes", async () => {
    const lisi = await handler([CE, CSE]);
    const { tokens } = await signInAsUnit(firstParty, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
    expect(scopesOf(tokens)).toContain(CE);
    expect(scopesOf(tokens)).not.toContain(CSE);
    const introspection = await introspect(firstParty, tokens.access_token);
    expect(introspection).toMatchObject({ active: true, unit_id: unitA.id, unit_scopes: [CE] });
  });

  it('C-T8 when a client asks for the resource of a business it is not registered for, then the answer is invalid_target at the authorization and the token endpoint', async () => {
    const lisi = await handler([CE, CSE]);
    const authorization = await authorizationUrl(consent, { scope: `openid unit ${CE}`, resource: CSE_API });
    const refused = await new Browser(app.url).get(authorization.url.toString());
    expect(authorizationError(refused, RP_REDIRECT)).toMatchObject({ via: 'redirect', error: 'invalid_target' });

    const { tokens } = await signInAsUnit(consent, app.url, lisi, unitA.id, { scope: `openid profile unit offline_access ${CE}`, prompt: 'consent', resource: CE_API });
    const before = await app.db.query<{ count: string }>("SELECT count(*)::text AS count FROM oidc_model WHERE model = 'AccessToken'");
    const outcome = await tryRefresh(consent, tokens.refresh_token!, { resource: CSE_API });
    expect(outcome).toMatchObject({ ok: false, error: 'invalid_target' });
    const after = await app.db.query<{ count: string }>("SELECT count(*)::text AS count FROM oidc_model WHERE model = 'AccessToken'");
    expect(after.rows[0]?.count).toBe(before.rows[0]?.count);
    // Its own business's resource still works.
    const own = await tryRefresh(consent, tokens.refresh_token!, { resource: CE_API });
    if (!own.ok) throw new Error(JSON.stringify(own));
    expect(own.ok).toBe(true);
  });

  it('C-T6 S-40 when the SSO session acts for unit A and the RP sends unit_hint=<unit B>, then the picker shows with B preselected (never A silently) and the tokens are for B', async () => {
    const lisi = await handler([CE], [CE]);
    const { browser } = await signInAsUnit(firstParty, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
    const hinted = await authorizationUrl(firstParty, { scope: `openid profile unit ${CE}`, unit_hint: unitB.id });
    const picker = await browser.get(hinted.url.toString());
    expect(picker.html.querySelector('input[type=password]')).toBeNull();
    expect(pickerChoices(picker).checked).toEqual([unitB.id]);
    const tokens = await redeem(firstParty, hinted, callbackOf(await browser.submit(picker, 'form#select-unit')));
    expect(tokens.claims()).toMatchObject({ sub: lisi.id, unit_id: unitB.id });

    // The hint of the unit the session acts for is honoured without a page.
    const same = await authorizationUrl(firstParty, { scope: `openid profile unit ${CE}`, unit_hint: unitB.id });
    const tokensSame = await redeem(firstParty, same, callbackOf(await browser.get(same.url.toString())));
    expect(tokensSame.claims()).toMatchObject({ unit_id: unitB.id });
  });

  it('C-T6 S-40 when the RP hints a unit the person is not bound to (or garbage), then the picker says so, nothing is preselected and no code is issued', async () => {
    const lisi = await handler([CE]);
    const { browser } = await signInAsUnit(firstParty, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
    const codes = await codeCount(app.db);
    for (const hint of [unitB.id, crypto.randomUUID(), "x' OR 1=1 --", '%00']) {
      const hinted = await authorizationUrl(firstParty, { scope: `openid profile unit ${CE}`, unit_hint: hint });
      const picker = await browser.get(hinted.url.toString());
      expect(picker.status).toBe(200);
      expect(Browser.text(picker)).toContain('业务系统指定的单位不在您可代表的单位中');
      expect(pickerChoices(picker)).toEqual({ unitIds: [unitA.id], checked: [] });
    }
    expect(await codeCount(app.db)).toBe(codes);
  });

  it("C-UI2 when a second business system is entered in the SSO session and the session's unit does not grant its business, then the picker shows (marked) instead of reusing the unit", async () => {
    const lisi = await handler([CE], [CSE]);
    const { browser } = await signInAsUnit(firstParty, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
    const second = await authorizationUrl(cse, { scope: `openid profile unit ${CSE}` });
    const picker = await browser.get(second.url.toString());
    expect(picker.html.querySelector('form#select-unit')).not.toBeNull();
    expect(Browser.text(picker)).toContain('您当前代表的单位未授权本系统业务');
    // Units that grant this system's business come first and are marked; the others say they do not.
    expect(pickerChoices(picker).unitIds).toEqual([unitB.id, unitA.id]);
    const marks = picker.html.querySelectorAll('form#select-unit .business-mark').map((mark) => [mark.getAttribute('data-serves'), mark.text]);
    expect(marks).toEqual([
      ['yes', '已授权本系统业务：公务员考录'],
      ['no', '未授权本系统业务'],
    ]);
    const tokens = await redeem(cse, second, callbackOf(await browser.submit(picker, 'form#select-unit', { unitId: unitB.id })));
    expect(tokens.claims()).toMatchObject({ unit_id: unitB.id, unit_scopes: [CSE] });

    // A system whose business the session's unit grants reuses it without a page.
    const back = await authorizationUrl(cse, { scope: `openid profile unit ${CSE}` });
    expect((await redeem(cse, back, callbackOf(await browser.get(back.url.toString())))).claims()).toMatchObject({ unit_id: unitB.id });
  });

  it.each([
    ['the revocation of the unbinding was lost (crash after the commit)', true],
    ['the unbinding revoked the grants', false],
  ])(
    'S-46 when a person is bound, signs in, is unbound (%s) and bound again, then the old refresh token is invalid_grant and the old access token inactive',
    async (_case, lost) => {
      const services = app.app.services;
      const lisi = await createPerson(services, { verified: true });
      const bindingId = await bindHandler(services, unitA, lisi, [CE]);
      const { tokens } = await signInAsUnit(consent, app.url, lisi, unitA.id, { scope: `openid profile unit offline_access ${CE}`, prompt: 'consent' });
      expect((await introspect(consent, tokens.access_token)).active).toBe(true);
      if (lost) {
        await app.db.query("UPDATE binding SET status = 'unbound', ended_at = now(), updated_at = now() WHERE id = $1", [bindingId]);
      } else {
        await services.bindings.unbind(unitA.id, bindingId, { actor: { type: 'unit', id: unitA.id } });
      }
      const again = await bindHandler(services, unitA, lisi, [CE]);
      expect(again).not.toBe(bindingId);
      expect((await introspect(consent, tokens.access_token)).active).toBe(false);
      expect((await userinfo(consent, tokens.access_token)).status).toBe(401);
      expect(await tryRefresh(consent, tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
      // A new sign-in under the new binding works, from a new grant.
      const fresh = await signInAsUnit(consent, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
      expect(fresh.tokens.claims()).toMatchObject({ unit_id: unitA.id, unit_scopes: [CE] });
      const links = await app.db.query<{ binding_id: string }>('SELECT binding_id FROM grant_unit WHERE person_id = $1', [lisi.id]);
      expect(links.rows.map((row) => row.binding_id)).toContain(again);
    },
  );

  it('when a consent POST is sent for another interaction (or none), then a readable 400 page answers and no grant is written', async () => {
    const lisi = await handler();
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(consent, { scope: `openid profile unit ${CE}` });
    let page = await openAndLogIn(browser, authorization, lisi, true);
    page = await browser.submit(page, 'form#select-unit', { unitId: unitA.id });
    const form = page.html.querySelector('form[action$="/confirm"]');
    expect(form).not.toBeNull();
    const csrf = form!.querySelector('input[name=_csrf]')!.getAttribute('value')!;
    const grants = await grantCount(lisi.id);
    for (const uid of ['another-interaction-uid', 'x'.repeat(300)]) {
      const refused = await postTo(browser, `/interaction/${uid}/confirm`, [['_csrf', csrf]]);
      expect(refused.status).toBe(400);
      expect(Browser.text(refused)).toContain('登录已超时，请返回业务系统重新登录。');
      expect(refused.body).not.toMatch(/at .*\.ts:\d+|Error:/);
    }
    expect(await grantCount(lisi.id)).toBe(grants);
    // The real one still completes.
    const done = await consentIfAsked(browser, page);
    expect((await redeem(consent, authorization, callbackOf(done))).claims()).toMatchObject({ unit_id: unitA.id });
  });

  it('C-UI6 when a person acts for a unit on the portal, then each open tile links the business system with login_as=unit and that unit as unit_hint', async () => {
    const lisi = await handler([CE]);
    const { browser } = await signInAsUnit(firstParty, app.url, lisi, unitA.id, { scope: `openid profile unit ${CE}` });
    // The portal (the platform's home) reads the provider's SSO session of the same browser.
    const page = await browser.get('/');
    expect(Browser.text(page)).toContain('示例科技有限公司');
    const tiles = page.html.querySelectorAll('a.tile[data-state="open"]').map((tile) => new URL(tile.getAttribute('href')!));
    expect(tiles.map((url) => url.origin + url.pathname)).toEqual(['http://rp.test/ce']);
    expect(tiles[0]!.searchParams.get('login_as')).toBe('unit');
    expect(tiles[0]!.searchParams.get('unit_hint')).toBe(unitA.id);
  });
});
