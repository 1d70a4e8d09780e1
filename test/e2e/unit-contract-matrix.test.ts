import * as jose from 'jose';
import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discoverWith, redeem } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { enrolTotp } from '../support/second-factor.js';
import { signInToAccount } from '../support/security.js';
import {
  consentIfAsked,
  introspect,
  openAndLogIn,
  pickerChoices,
  refresh,
  scopesOf,
  signInAsUnit,
  tryRefresh,
  unitClaimsOf,
  userinfo,
  type Tokens,
  type UnitSignIn,
} from '../support/unit-flows.js';

/**
 * Issue 10 / C-T8: the claims contract (C-T2–C-T6) for every kind of client on every path into a grant, including a
 * unit that requires a second factor, first sign-in and step-up at a switch (issue #18). Each
 * cell asserts the full C-T2 claim set in the ID token, userinfo and introspection, and for the resource client
 * the RFC 9068 access token (C-T4). One app and database per client kind; a fresh person per cell.
 */

const CE = 'biz:continuing_education';
const CSE = 'biz:civil_service_exam';
const CE_API = 'https://ce.rp.test/api';
const SCOPE = `openid profile unit ${CE} ${CSE}`;

interface Kind {
  name: string;
  clientId: string;
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
  entry: Record<string, unknown>;
  /** Extra authorization parameters of every request of this client. */
  params: Record<string, string>;
  /** RFC 8707 resource whose JWT access tokens the cell also checks. */
  resource?: string;
}

const base = { scopes: ['openid', 'profile', 'offline_access', 'unit', CE, CSE], business: 'continuing_education' };

const KINDS: Kind[] = [
  { name: 'first-party confidential client (client_secret_basic)', clientId: 'fp-basic', method: 'client_secret_basic', params: {}, entry: { ...base, first_party: true } },
  {
    name: 'consent-based confidential client (client_secret_post)',
    clientId: 'consent-post',
    method: 'client_secret_post',
    params: {},
    entry: { ...base, first_party: false, token_endpoint_auth_method: 'client_secret_post' },
  },
  {
    name: 'public client with PKCE only (none)',
    clientId: 'public-spa',
    method: 'none',
    params: {},
    entry: { ...base, first_party: false, token_endpoint_auth_method: 'none', client_secret: undefined },
  },
  {
    name: 'client with a resource indicator',
    clientId: 'resource-rp',
    method: 'client_secret_basic',
    params: { resource: CE_API },
    resource: CE_API,
    entry: { ...base, first_party: false },
  },
  {
    name: 'client with offline_access',
    clientId: 'offline-rp',
    method: 'client_secret_basic',
    params: { scope: `${SCOPE} offline_access`, prompt: 'consent' },
    entry: { ...base, first_party: false },
  },
];

interface Expected {
  person: TestPerson;
  unit: TestUnit;
  scopes: string[];
  /** The unit requires a second factor of its handlers (issue #18): `unit_mfa_required` and a multi-factor acr. */
  mfa?: boolean;
}

const MFA_ACR = 'urn:unit-oidc:acr:mfa';

describe.each(KINDS)('C-T8 claims contract for a $name', (kind) => {
  let app: TestApp;
  let config: client.Configuration;
  let portal: client.Configuration;
  let unitA: TestUnit;
  let unitB: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([
        testClient({ client_id: kind.clientId, ...kind.entry }),
        testClient({ client_id: 'portal-rp', scopes: ['openid', 'profile', 'unit', CE], first_party: true }),
      ]),
    });
    config = await discoverWith(app.issuer, kind.clientId, kind.method);
    portal = await discoverWith(app.issuer, 'portal-rp', 'client_secret_basic');
    const contact = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    unitA = await createUnit(app.app.services, contact, { name: '示例科技有限公司', verified: true });
    unitB = await createUnit(app.app.services, contact, { name: '示例教育中心', verified: true });
  });
  afterAll(() => app.close());

  const params = (extra: Record<string, string> = {}) => ({ scope: SCOPE, ...kind.params, ...extra });

  /** A handler of both units with both business permissions; returns the person and the binding ids. */
  async function lisi(): Promise<{ person: TestPerson; bindingA: string }> {
    const person = await createPerson(app.app.services, { verified: true, legalName: '李四' });
    const bindingA = await bindHandler(app.app.services, unitA, person, [CE, CSE]);
    await bindHandler(app.app.services, unitB, person, [CE, CSE]);
    return { person, bindingA };
  }

  /** Runs a started authorization on in the browser (picker answered by the caller), consents if asked, redeems. */
  async function finish(browser: Browser, authorization: Awaited<ReturnType<typeof authorizationUrl>>, page: Awaited<ReturnType<Browser['get']>>): Promise<Tokens> {
    return redeem(config, authorization, callbackOf(await consentIfAsked(browser, page)));
  }

  /**
   * The full C-T2 set in the ID token, userinfo and introspection (and the RFC 9068 JWT for a resource), from a
   * token response obtained without `resource`. Returns the refresh token to use next.
   */
  async function assertContract(tokens: Tokens | Awaited<ReturnType<typeof refresh>>['tokens'], expected: Expected): Promise<string | undefined> {
    const unitClaims = {
      unit_id: expected.unit.id,
      unit_name: expected.unit.name,
      unit_cert_type: 'uscc',
      unit_cert_no: expected.unit.certNo,
      unit_verified: true,
      unit_role: 'handler',
      unit_scopes: expected.scopes,
      ...(expected.mfa ? { unit_mfa_required: true } : {}),
    };
    const idToken = tokens.claims() as Record<string, unknown>;
    expect(idToken.sub).toBe(expected.person.id);
    if (expected.mfa) expect(idToken.acr).toBe(MFA_ACR);
    expect(unitClaimsOf(idToken)).toEqual(unitClaims);
    expect(scopesOf(tokens).filter((scope) => scope.startsWith('biz:'))).toEqual([...expected.scopes].sort());

    const info = await userinfo(config, tokens.access_token);
    expect(info.status).toBe(200);
    expect(info.body.sub).toBe(expected.person.id);
    expect(unitClaimsOf(info.body)).toEqual(unitClaims);

    const introspection = await introspect(config, tokens.access_token);
    expect(introspection).toMatchObject({
      active: true,
      sub: expected.person.id,
      client_id: kind.clientId,
      unit_id: expected.unit.id,
      unit_role: 'handler',
      unit_verified: true,
      unit_scopes: expected.scopes,
    });

    let refreshToken = tokens.refresh_token;
    if (kind.resource) {
      const jwtTokens = (await refresh(config, refreshToken!, { resource: kind.resource })).tokens;
      const jwks = jose.createRemoteJWKSet(new URL(`${app.issuer}/jwks`));
      const { payload } = await jose.jwtVerify(jwtTokens.access_token, jwks, { issuer: app.issuer, audience: kind.resource, typ: 'at+jwt' });
      const resourceScopes = expected.scopes.filter((scope) => scope === CE);
      expect(payload).toMatchObject({ sub: expected.person.id, client_id: kind.clientId, unit_id: expected.unit.id, unit_role: 'handler', unit_verified: true });
      expect(payload.scope).toBe(resourceScopes.length ? resourceScopes.join(' ') : undefined);
      expect(unitClaimsOf(jwtTokens.claims() as Record<string, unknown>)).toEqual(unitClaims);
      refreshToken = jwtTokens.refresh_token;
    }
    return refreshToken;
  }

  async function firstSignIn(person: TestPerson, unit: TestUnit): Promise<UnitSignIn> {
    return signInAsUnit(config, app.url, person, unit.id, params());
  }

  it('cell: first sign-in as a unit', async () => {
    const { person } = await lisi();
    const { tokens } = await firstSignIn(person, unitA);
    await assertContract(tokens, { person, unit: unitA, scopes: [CE, CSE] });
  });

  it('cell: a second RP in the same SSO session', async () => {
    const { person } = await lisi();
    const { browser } = await signInAsUnit(portal, app.url, person, unitA.id, { scope: `openid profile unit ${CE}` });
    const authorization = await authorizationUrl(config, params());
    const page = await browser.get(authorization.url.toString());
    expect(page.html.querySelector('input[type=password]')).toBeNull();
    expect(page.html.querySelector('form#select-unit')).toBeNull();
    await assertContract(await finish(browser, authorization, page), { person, unit: unitA, scopes: [CE, CSE] });
  });

  it('cell: prompt=select_unit switch', async () => {
    const { person } = await lisi();
    const { browser } = await firstSignIn(person, unitA);
    const prompt = ['select_unit', ...(kind.params.prompt ? [kind.params.prompt] : [])].join(' ');
    const authorization = await authorizationUrl(config, params({ prompt }));
    const picker = await browser.get(authorization.url.toString());
    expect(pickerChoices(picker).unitIds.sort()).toEqual([unitA.id, unitB.id].sort());
    await assertContract(await finish(browser, authorization, await browser.submit(picker, 'form#select-unit', { unitId: unitB.id })), { person, unit: unitB, scopes: [CE, CSE] });
  });

  it('cell: unit_hint', async () => {
    const { person } = await lisi();
    const { browser } = await firstSignIn(person, unitA);
    const authorization = await authorizationUrl(config, params({ unit_hint: unitB.id }));
    const picker = await browser.get(authorization.url.toString());
    expect(pickerChoices(picker).checked).toEqual([unitB.id]);
    await assertContract(await finish(browser, authorization, await browser.submit(picker, 'form#select-unit')), { person, unit: unitB, scopes: [CE, CSE] });
  });

  it('cell: first sign-in as a unit that requires a second factor (issue #18)', async () => {
    const { person } = await lisi();
    const enrolling = new Browser(app.url);
    await signInToAccount(enrolling, person.loginName, person.password);
    const { authenticator } = await enrolTotp(enrolling);
    const strict = await createUnit(app.app.services, await createPerson(app.app.services, { verified: true }), { name: '严格二次验证单位', verified: true });
    await bindHandler(app.app.services, strict, person, [CE, CSE]);
    await app.app.services.unitMfa.set(strict.id, true, { actor: { type: 'unit', id: strict.id } });
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, params());
    let page = await openAndLogIn(browser, authorization, person, true);
    page = await browser.submit(page, 'form#second-factor', { code: await authenticator.code() });
    page = await browser.submit(page, 'form#select-unit', { unitId: strict.id });
    const next = await assertContract(await finish(browser, authorization, page), { person, unit: strict, scopes: [CE, CSE], mfa: true });
    expect(unitClaimsOf((await refresh(config, next!)).tokens.claims() as Record<string, unknown>)).toMatchObject({ unit_id: strict.id, unit_mfa_required: true });
  });

  it('cell: prompt=select_unit switch into a unit that requires a second factor steps the session up (issue #18)', async () => {
    const { person } = await lisi();
    const { browser } = await firstSignIn(person, unitA);
    // The factor is enrolled after that password-only sign-in, so the SSO session is password-only.
    await signInToAccount(browser, person.loginName, person.password);
    const { authenticator } = await enrolTotp(browser);
    const strict = await createUnit(app.app.services, await createPerson(app.app.services, { verified: true }), { name: '切换二次验证单位', verified: true });
    await bindHandler(app.app.services, strict, person, [CE, CSE]);
    await app.app.services.unitMfa.set(strict.id, true, { actor: { type: 'unit', id: strict.id } });
    const prompt = ['select_unit', ...(kind.params.prompt ? [kind.params.prompt] : [])].join(' ');
    const authorization = await authorizationUrl(config, params({ prompt }));
    const picker = await browser.get(authorization.url.toString());
    expect(pickerChoices(picker).unitIds).toContain(strict.id);
    let page = await browser.submit(picker, 'form#select-unit', { unitId: strict.id });
    expect(page.html.querySelector('form#second-factor')).not.toBeNull();
    expect(page.html.querySelector('input[type=password]')).toBeNull();
    page = await browser.submit(page, 'form#second-factor', { code: await authenticator.code() });
    await assertContract(await finish(browser, authorization, page), { person, unit: strict, scopes: [CE, CSE], mfa: true });
  });

  it('cell: refresh after a permission change', async () => {
    const { person, bindingA } = await lisi();
    const { tokens } = await firstSignIn(person, unitA);
    const next = await assertContract(tokens, { person, unit: unitA, scopes: [CE, CSE] });
    await app.app.services.bindings.setScopes(unitA.id, bindingA, [CSE], undefined, undefined, { actor: { type: 'unit', id: unitA.id } });
    // Outstanding access tokens are gone at once (S-42); the refresh carries the narrowed set.
    expect((await introspect(config, tokens.access_token)).active).toBe(false);
    const refreshed = await refresh(config, next!);
    await assertContract(refreshed.tokens, { person, unit: unitA, scopes: [CSE] });
  });

  it('cell: after unbinding', async () => {
    const { person, bindingA } = await lisi();
    const { tokens } = await firstSignIn(person, unitA);
    const next = await assertContract(tokens, { person, unit: unitA, scopes: [CE, CSE] });
    await app.app.services.bindings.unbind(unitA.id, bindingA, { actor: { type: 'unit', id: unitA.id } });
    expect(await tryRefresh(config, next!)).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect((await introspect(config, tokens.access_token)).active).toBe(false);
    expect((await userinfo(config, tokens.access_token)).status).toBe(401);
  });
});
