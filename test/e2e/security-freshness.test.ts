import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { RP_REDIRECT, TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { signInToAccount } from '../support/security.js';
import { csrfFrom, postForm, setSignInAge, signInUnit } from '../support/unit-console.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { SENSITIVE_OPERATIONS } from '../../src/shared/security/sensitive.js';

const REAUTH_SECONDS = 30;
const STALE = REAUTH_SECONDS + 60;
const ANY_ID = '00000000-0000-4000-8000-000000000000';

const routes = (kind: 'console' | 'api') =>
  Object.entries(SENSITIVE_OPERATIONS).flatMap(([operation, entry]) => entry[kind].map((route) => [operation, ...route.split(' ')] as [string, string, string]));

/**
 * S-27: freshness for sensitive operations is the time the password was last entered (the SSO session's loginTs,
 * the ID token's auth_time), for the consoles and the management API alike, from one table of operations.
 */
describe('freshness is the time the password was entered (S-27, S-34)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let unit: TestUnit;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp({
      env: { REAUTH_SECONDS: String(REAUTH_SECONDS) },
      clients: testClientsFile([testClient(), testClient({ client_id: 'unit-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'unit' })]),
    });
    config = await discover(app.issuer, 'unit-admin', TEST_SECRET);
    contact = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, contact, { name: '新鲜度测试单位' });
  });
  afterAll(() => app.close());

  /** A management token through the unit's browser: with the password on the first call, from the SSO session after. */
  async function unitToken(browser: Browser): Promise<string> {
    const authorization = await authorizationUrl(config, { scope: 'openid manage', redirect_uri: RP_REDIRECT });
    const first = await browser.get(authorization.url.toString());
    const done = first.html.querySelector('form#unit-login') ? await browser.submit(first, 'form#unit-login', { account: unit.loginName, password: unit.password }) : first;
    return (await redeem(config, authorization, callbackOf(done))).access_token;
  }

  const call = (token: string, method: string, path: string) =>
    fetch(`${app.url}${path.replace(':id', ANY_ID)}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(method === 'GET' ? {} : { 'content-type': 'application/json' }) },
      ...(method === 'GET' ? {} : { body: '{}' }),
    });

  it('S-27 when a management token is minted without a password inside an SSO session whose sign-in is old, then sensitive operations refuse it (reauth_required)', async () => {
    const browser = new Browser(app.url);
    const fresh = await unitToken(browser);
    expect((await call(fresh, 'GET', '/api/v1/unit/bindings')).status).toBe(200);
    expect(await setSignInAge(app.db, { kind: 'unit', id: unit.id }, STALE)).toBeGreaterThanOrEqual(1);
    // A new authorisation in the same SSO session: no password asked, a brand-new token …
    const minted = await unitToken(browser);
    const refused = await call(minted, 'GET', '/api/v1/unit/bindings');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'reauth_required' });
    // … and so is the earlier token: what counts is when the password was entered.
    expect((await call(fresh, 'GET', '/api/v1/unit/bindings')).status).toBe(401);
    // Not sensitive: reading the unit's own information still works.
    expect((await call(minted, 'GET', '/api/v1/unit')).status).toBe(200);
  });

  it.each(routes('api'))('S-27 when the password was entered long ago, then the API refuses %s (%s %s) with reauth_required', async (_operation, method, path) => {
    const browser = new Browser(app.url);
    const token = await unitToken(browser);
    expect(await setSignInAge(app.db, { kind: 'unit', id: unit.id }, STALE)).toBeGreaterThanOrEqual(1);
    const response = await call(token, method, path);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error: 'reauth_required' });
  });

  it.each(routes('console').filter(([operation]) => operation.startsWith('unit.')))(
    'S-34 when the unit console sign-in is old, then %s (%s %s) asks for the password again',
    async (_operation, method, path) => {
      const browser = new Browser(app.url);
      await signInUnit(browser, unit);
      const csrf = await csrfFrom(browser, '/unit');
      expect(await setSignInAge(app.db, { kind: 'unit', id: unit.id }, STALE)).toBeGreaterThanOrEqual(1);
      const url = path.replace(':id', ANY_ID);
      const page =
        method === 'GET'
          ? await browser.request(url)
          : await postForm(browser, url, csrf, [
              ['name', '新名称'],
              ['account', 'x'],
            ]);
      if (method === 'GET') {
        expect(page.status).toBe(302);
        expect(page.headers.get('location')).toContain('reauth=1');
      } else {
        expect(page.status).toBe(401);
        expect(Browser.text(page)).toContain('为了您的账号安全，请重新输入密码后继续。');
      }
    },
  );

  it.each(routes('console').filter(([operation]) => operation.startsWith('person.')))(
    'S-34 when the account centre sign-in is old, then %s (%s %s) asks for the password again',
    async (_operation, method, path) => {
      const browser = new Browser(app.url);
      await signInToAccount(browser, contact.loginName, contact.password);
      const csrf = await csrfFrom(browser, '/account/password');
      expect(await setSignInAge(app.db, { kind: 'person', id: contact.id }, STALE)).toBeGreaterThanOrEqual(1);
      const url = path.replace(':id', unit.id);
      const page =
        method === 'GET'
          ? await browser.request(url)
          : await postForm(browser, url, csrf, [
              ['password', 'x'],
              ['passwordConfirm', 'x'],
            ]);
      if (method === 'GET') {
        expect(page.status).toBe(302);
        expect(page.headers.get('location')).toContain('reauth=1');
      } else {
        expect(page.status).toBe(401);
      }
    },
  );
});
