import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { RP_REDIRECT, TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { createUnit, type TestUnit } from '../support/units.js';

describe('the JSON management API (issue 4)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let handler: TestPerson;
  let unit: TestUnit;
  let other: TestUnit;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([testClient(), testClient({ client_id: 'unit-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'unit' })]),
    });
    config = await discover(app.issuer, 'unit-admin', TEST_SECRET);
    contact = await createPerson(app.app.services, { verified: true });
    handler = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, contact, { name: '接口测试单位' });
    other = await createUnit(app.app.services, contact, { name: '另一个单位' });
  });
  afterAll(() => app.close());

  async function unitToken(target: TestUnit): Promise<string> {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope: 'openid manage', redirect_uri: RP_REDIRECT });
    const login = await browser.get(authorization.url.toString());
    expect(login.html.querySelector('form#person-login')).toBeNull();
    const done = await browser.submit(login, 'form#unit-login', { account: target.loginName, password: target.password });
    const tokens = await redeem(config, authorization, callbackOf(done));
    return tokens.access_token;
  }

  const call = (token: string | undefined, path: string, init: RequestInit = {}) =>
    fetch(`${app.url}/api/v1${path}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}) },
    });

  it('when the OpenAPI document is fetched, then it is OpenAPI 3.1 and lists the unit, person and counter operations', async () => {
    const response = await fetch(`${app.url}/api/v1/openapi.json`);
    const document = (await response.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/unit/bindings', '/me/bindings/{id}/accept', '/counter/units/{id}/verification-codes']));
  });

  it('when there is no token or a token without the manage scope, then 401/403 with a WWW-Authenticate challenge', async () => {
    const none = await call(undefined, '/unit');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const bogus = await call('not-a-token', '/unit');
    expect(bogus.status).toBe(401);
  });

  it('when the unit account binds a person through the API, then the binding is pending and only this unit sees it (S-45)', async () => {
    const token = await unitToken(unit);
    const me = await call(token, '/unit');
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ id: unit.id, name: '接口测试单位', verified: false });

    const bound = await call(token, '/unit/bindings', { method: 'POST', body: JSON.stringify({ account: handler.loginName, scopes: ['biz:continuing_education'] }) });
    expect(bound.status).toBe(201);
    const binding = (await bound.json()) as { id: string; status: string; scopes: string[] };
    expect(binding).toMatchObject({ status: 'pending', scopes: ['biz:continuing_education'] });

    const unknownScope = await call(token, '/unit/bindings', { method: 'POST', body: JSON.stringify({ account: contact.loginName, scopes: ['biz:fishing'] }) });
    expect(unknownScope.status).toBe(400);
    expect(await unknownScope.json()).toMatchObject({ error: 'binding_scope_unknown' });

    const otherToken = await unitToken(other);
    const foreign = await call(otherToken, `/unit/bindings/${binding.id}/unbind`, { method: 'POST' });
    expect(foreign.status).toBe(404);
    const list = (await (await call(otherToken, '/unit/bindings')).json()) as { bindings: { id: string }[] };
    expect(list.bindings.map((entry) => entry.id)).not.toContain(binding.id);

    const personRoute = await call(token, '/me/bindings');
    expect(personRoute.status).toBe(403);
  });
});
