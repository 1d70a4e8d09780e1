import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson } from '../support/people.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { bindingById, bindingsOf, csrfFrom, fingerprint, pathOf, postForm, setSignInAge, signInUnit, SLOW_MS, unitRow } from '../support/unit-console.js';

/**
 * S-34: sensitive actions of the unit console (bind, unbind, contact change, name change, password change, and the
 * permission change) need a password sign-in within REAUTH_SECONDS. A stale session's POST is answered 401 with a
 * readable message and changes nothing; a stale GET of such a page goes to the sign-in page with prompt=login,
 * and after the password the action works. The session is aged by moving its `loginTs` into the past.
 */

const REAUTH_SECONDS = 30;
const STALE = REAUTH_SECONDS + 60;

interface Fixture {
  unit: TestUnit;
  handlerBinding: string;
  pendingPerson: string;
  contactBinding: string;
}

describe('re-authentication for sensitive unit actions (S-34)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { REAUTH_SECONDS: String(REAUTH_SECONDS) } });
  }, SLOW_MS);
  afterAll(() => app.close());

  const services = () => app.app.services;

  async function fixture(verified = false): Promise<Fixture> {
    const contact = await createPerson(services(), { verified: true });
    const unit = await createUnit(services(), contact, { name: '重新认证测试单位', verified });
    const handler = await createPerson(services(), { verified: true });
    const handlerBinding = await bindHandler(services(), unit, handler, ['biz:continuing_education']);
    const pending = await createPerson(services(), { verified: true });
    const contactBinding = (await bindingsOf(app.db, unit.id)).find((binding) => binding.role === 'contact')!.id;
    return { unit, handlerBinding, pendingPerson: pending.loginName, contactBinding };
  }

  /** A browser signed in as the unit, with its CSRF token, whose session is then made stale. */
  async function staleSession(unit: TestUnit): Promise<{ browser: Browser; csrf: string }> {
    const browser = new Browser(app.url);
    await signInUnit(browser, unit);
    const csrf = await csrfFrom(browser, '/unit/password');
    expect(await setSignInAge(app.db, { kind: 'unit', id: unit.id }, STALE)).toBe(1);
    return { browser, csrf };
  }

  function expectReauthPage(page: Page, english = false): void {
    expect(page.status).toBe(401);
    expect(Browser.text(page)).toContain(english ? 'For your security, sign in again to continue.' : '为了您的账号安全，请重新输入密码后继续。');
  }

  const ACTIONS: { name: string; verified?: boolean; url: (f: Fixture) => string; values: (f: Fixture) => [string, string][] }[] = [
    {
      name: 'bind',
      url: () => '/unit/bindings',
      values: (f) => [
        ['account', f.pendingPerson],
        ['scopes', 'biz:continuing_education'],
      ],
    },
    { name: 'unbind (取消绑定)', url: (f) => `/unit/bindings/${f.handlerBinding}/unbind`, values: () => [] },
    { name: 'set as common contact', url: (f) => `/unit/bindings/${f.handlerBinding}/contact`, values: () => [] },
    { name: 'change permissions', url: (f) => `/unit/bindings/${f.handlerBinding}/scopes`, values: () => [['scopes', 'biz:online_service_hall']] },
    { name: 'name change of a verified unit', verified: true, url: () => '/unit/name-change', values: () => [['name', '重新认证后的新名称']] },
    { name: 'name change in the general form (unverified unit)', url: () => '/unit/info', values: () => [['name', '重新认证后的新名称']] },
    {
      name: 'password change',
      url: () => '/unit/password',
      values: (f) => [
        ['currentPassword', f.unit.password],
        ['password', 'a brand new unit passphrase'],
        ['passwordConfirm', 'a brand new unit passphrase'],
      ],
    },
  ];

  for (const action of ACTIONS) {
    it(
      `when the sign-in is older than REAUTH_SECONDS and the unit posts “${action.name}”, then 401 with a readable message and nothing changes`,
      async () => {
        const f = await fixture(action.verified);
        const { browser, csrf } = await staleSession(f.unit);
        const before = await fingerprint(app.db);
        const page = await postForm(browser, action.url(f), csrf, action.values(f));
        expectReauthPage(page);
        expect(await fingerprint(app.db)).toEqual(before);
        // The message in English with the language choice.
        const english = await postForm(browser, `${action.url(f)}?lang=en`, csrf, action.values(f));
        expectReauthPage(english, true);
        // A JSON client gets the error code.
        const json = await browser.request(action.url(f), {
          method: 'POST',
          body: new URLSearchParams([['_csrf', csrf], ...action.values(f)]).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        });
        expect(json.status).toBe(401);
        expect(JSON.parse(json.body)).toMatchObject({ error: 'reauth_required' });
        expect(await fingerprint(app.db)).toEqual(before);
      },
      SLOW_MS,
    );
  }

  it(
    'when the sign-in is stale and the unit opens 子账户信息, then it goes to the sign-in page with prompt=login, and after the password the action works',
    async () => {
      const f = await fixture();
      const { browser } = await staleSession(f.unit);
      const first = await browser.request('/unit/bindings');
      expect(first.status).toBe(302);
      expect(first.headers.get('location')).toBe('/console/login?kind=unit&return=%2Funit%2Fbindings&reauth=1');
      const second = await browser.request(first.headers.get('location')!);
      expect(second.status).toBe(302);
      const authorize = new URL(second.headers.get('location')!, app.url);
      expect(authorize.pathname).toBe('/auth');
      expect(authorize.searchParams.get('prompt')).toBe('login');
      expect(authorize.searchParams.get('console')).toBe('unit');

      // The sign-in page asks for the password again, although the SSO session exists.
      const login = await browser.follow(second);
      expect(pathOf(login)).toMatch(/^\/interaction\//);
      expect(login.html.querySelector('form#unit-login')).not.toBeNull();
      const back = await browser.submit(login, 'form#unit-login', { account: f.unit.loginName, password: f.unit.password });
      expect(pathOf(back)).toBe('/unit/bindings');
      expect(back.status).toBe(200);

      const done = await browser.submit(await browser.submit(back, `tr[data-binding="${f.handlerBinding}"] form.unbind`), 'form#confirm');
      expect(done.status).toBe(200);
      expect(Browser.text(done)).toContain('已取消绑定。');
      expect((await bindingById(app.db, f.handlerBinding))?.status).toBe('unbound');
    },
    SLOW_MS,
  );

  it(
    'when the sign-in is stale, then the sensitive pages (子账户信息, name change, password) redirect to the sign-in, the others still open',
    async () => {
      const f = await fixture(true);
      const { browser } = await staleSession(f.unit);
      for (const path of ['/unit/bindings', '/unit/name-change', '/unit/password']) {
        const page = await browser.request(path);
        expect({ path, status: page.status, location: page.headers.get('location') }).toEqual({
          path,
          status: 302,
          location: `/console/login?kind=unit&return=${encodeURIComponent(path)}&reauth=1`,
        });
      }
      for (const path of ['/unit', '/unit/verify', '/unit/audit']) {
        const page = await browser.request(path);
        expect({ path, status: page.status }).toEqual({ path, status: 200 });
      }
    },
    SLOW_MS,
  );

  it(
    'when the sign-in is within REAUTH_SECONDS, then the same actions go through (bind, contact change, name change, password change)',
    async () => {
      const f = await fixture(true);
      const browser = new Browser(app.url);
      await signInUnit(browser, f.unit);
      const csrf = await csrfFrom(browser, '/unit/password');
      // Almost stale, still fresh, at every request.
      const almostStale = () => setSignInAge(app.db, { kind: 'unit', id: f.unit.id }, REAUTH_SECONDS - 10);
      await almostStale();
      const bound = await postForm(browser, '/unit/bindings', csrf, [
        ['account', f.pendingPerson],
        ['scopes', 'biz:continuing_education'],
      ]);
      expect(bound.status).toBe(303);
      await almostStale();
      const contact = await postForm(browser, `/unit/bindings/${f.handlerBinding}/contact`, csrf);
      expect(contact.status).toBe(303);
      expect((await bindingById(app.db, f.handlerBinding))?.role).toBe('contact');
      await almostStale();
      const renamed = await postForm(browser, '/unit/name-change', csrf, [['name', '及时认证后的新名称']]);
      expect(renamed.status).toBe(303);
      expect((await unitRow(app.db, f.unit.id))?.name).toBe('及时认证后的新名称');
      await almostStale();
      const password = await postForm(browser, '/unit/password', csrf, [
        ['currentPassword', f.unit.password],
        ['password', 'a brand new unit passphrase'],
        ['passwordConfirm', 'a brand new unit passphrase'],
      ]);
      expect(password.status).toBe(303);
      expect(password.headers.get('location')).toBe('/unit?done=password');
    },
    SLOW_MS,
  );

  it(
    'when the session is stale and a password is entered again, then loginTs moves forward and the POST is accepted',
    async () => {
      const f = await fixture();
      const { browser, csrf } = await staleSession(f.unit);
      expectReauthPage(await postForm(browser, '/unit/bindings', csrf, [['account', f.pendingPerson]]));
      await signInUnit(browser, f.unit, '/unit/bindings');
      const { rows } = await app.db.query<{ login_ts: string }>("SELECT payload->>'loginTs' AS login_ts FROM oidc_model WHERE model = 'Session' AND account_id = $1", [
        `unit:${f.unit.id}`,
      ]);
      expect(rows).toHaveLength(1);
      expect(Math.abs(Number(rows[0]!.login_ts) - Date.now() / 1000)).toBeLessThan(REAUTH_SECONDS);
      const bound = await postForm(browser, '/unit/bindings', await csrfFrom(browser, '/unit/bindings'), [
        ['account', f.pendingPerson],
        ['scopes', 'biz:continuing_education'],
      ]);
      expect(bound.status).toBe(303);
      expect((await bindingsOf(app.db, f.unit.id)).some((binding) => binding.status === 'pending')).toBe(true);
    },
    SLOW_MS,
  );
});
