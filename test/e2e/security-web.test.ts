import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type * as client from 'openid-client';
import { rotateKeys } from '../../src/oidc/keys.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createTestDatabase } from '../support/database.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, idNumber, lastCode, mobile, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, signIn } from '../support/rp.js';
import { countRows, csrfOf, RecordingBrowser, signInOperator, signInToAccount, snapshot, type TestOperator, type WatchedTable } from '../support/security.js';

const CSRF_MESSAGE = '页面已过期，请刷新后重试。';

interface SetCookie {
  name: string;
  value: string;
  attributes: Map<string, string>;
  raw: string;
}

function parseSetCookie(raw: string): SetCookie {
  const [pair = '', ...parts] = raw.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string>();
  for (const part of parts) {
    const [key = '', ...rest] = part.trim().split('=');
    attributes.set(key.toLowerCase(), rest.join('='));
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes, raw };
}

const deleted = (cookie: SetCookie) => cookie.value === '' || /1970/.test(cookie.attributes.get('expires') ?? '');

/** Keygrip's signature (what the `cookies` module puts in `<name>.sig`). */
function cookieSignature(key: string, name: string, value: string): string {
  return crypto
    .createHmac('sha1', key)
    .update(`${name}=${value}`)
    .digest('base64')
    .replace(/\/|\+|=/g, (x) => ({ '/': '_', '+': '-', '=': '' })[x]!);
}

function csp(headers: Headers): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const directive of (headers.get('content-security-policy') ?? '').split(';')) {
    const [name, ...values] = directive.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), values);
  }
  return out;
}

describe('sessions and web (S-30 … S-33)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let thirdParty: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([testClient(), testClient({ client_id: 'third-rp', first_party: false, client_name: { 'zh-CN': '第三方系统', en: 'Third party' } })]),
    });
    config = await discover(app.issuer);
    thirdParty = await discover(app.issuer, 'third-rp');
  });
  afterAll(() => app.close());

  const services = () => app.app.services;
  const sessionIds = async (accountId: string) =>
    (await app.db.query<{ id: string }>("SELECT id FROM oidc_model WHERE model = 'Session' AND account_id = $1", [accountId])).rows.map((row) => row.id);

  async function silent(browser: Browser, configuration = config): Promise<URL> {
    const authorization = await authorizationUrl(configuration, { prompt: 'none' });
    return callbackOf(await browser.get(authorization.url.toString()));
  }

  async function cookiesOf(browser: Browser, origin = app.url) {
    const cookies = await browser.jar.getCookies(origin);
    return Object.fromEntries(cookies.map((cookie) => [cookie.key, cookie.value]));
  }

  /** A new browser holding only the given cookies (e.g. a replayed session cookie). */
  async function browserWith(cookies: Record<string, string | undefined>, origin = app.url): Promise<Browser> {
    const browser = new Browser(origin);
    for (const [name, value] of Object.entries(cookies)) {
      if (value !== undefined) await browser.jar.setCookie(`${name}=${value}; Path=/; HttpOnly`, origin);
    }
    return browser;
  }

  describe('S-30', () => {
    it('S-30 the session cookie and the server-side session id change at every sign-in; the old one is worthless', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      await signIn(browser, await authorizationUrl(config), person.loginName, person.password);
      const first = await cookiesOf(browser);
      expect(first._session).toBeTruthy();
      expect(await sessionIds(person.id)).toEqual([first._session]);

      // A second sign-in in the same browser (prompt=login) must not keep the identifier.
      await signIn(browser, await authorizationUrl(config, { prompt: 'login' }), person.loginName, person.password);
      const second = await cookiesOf(browser);
      expect(second._session).toBeTruthy();
      expect(second._session).not.toBe(first._session);
      expect(second['_session.sig']).not.toBe(first['_session.sig']);
      expect(await sessionIds(person.id)).toEqual([second._session]);

      // The previous identifier, replayed, finds no session; the current one does.
      const replay = await browserWith({ _session: first._session, '_session.sig': first['_session.sig'] });
      expect((await silent(replay)).searchParams.get('error')).toBe('login_required');
      const current = await browserWith({ _session: second._session, '_session.sig': second['_session.sig'] });
      expect((await silent(current)).searchParams.get('code')).toBeTruthy();
    });

    it('S-30 the account centre sign-in also gets a fresh session identifier', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      await signInToAccount(browser, person.loginName, person.password);
      const first = (await cookiesOf(browser))._session;
      const reauth = await browser.get('/console/login?kind=person&reauth=1&return=/account');
      const page = await browser.submit(reauth, 'form#person-login', { account: person.loginName, password: person.password });
      expect(new URL(page.url).pathname).toBe('/account');
      const second = (await cookiesOf(browser))._session;
      expect(second).toBeTruthy();
      expect(second).not.toBe(first);
      expect(await sessionIds(person.id)).toEqual([second]);
    });

    it('S-30 sign-out invalidates the server-side session: prompt=none gives login_required, the old cookie replayed finds no session', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      await signIn(browser, await authorizationUrl(config), person.loginName, person.password);
      await signInToAccount(browser, person.loginName, person.password);
      const old = await cookiesOf(browser);
      expect(await sessionIds(person.id)).toHaveLength(1);

      const confirm = await browser.get('/session/end'); // the account centre's 退出登录 link
      expect(Browser.text(confirm)).toContain('确定要退出统一身份认证平台吗');
      const done = await browser.submit(confirm, 'form[id="op.logoutForm"]', {}, { name: 'logout', value: 'yes' });
      expect(done.status).toBeLessThan(400);
      expect(await sessionIds(person.id)).toEqual([]);

      expect((await silent(browser)).searchParams.get('error')).toBe('login_required');
      const replay = await browserWith({ _session: old._session, '_session.sig': old['_session.sig'] });
      expect((await silent(replay)).searchParams.get('error')).toBe('login_required');
      const account = await replay.get('/account');
      expect(new URL(account.url).pathname).toMatch(/^\/interaction\//);
      expect(account.html.querySelector('form#person-login')).not.toBeNull();
    });
  });

  describe('S-31', () => {
    /** A whole visit: business-system sign-in, account centre, language switch, sign-out. */
    async function visit(browser: RecordingBrowser, person: TestPerson): Promise<void> {
      await signInToAccount(browser, person.loginName, person.password);
      await signIn(browser, await authorizationUrl(config, { prompt: 'login' }), person.loginName, person.password);
      await browser.get('/account/password');
      await browser.get('/lang?to=en&return=/account');
      const confirm = await browser.get('/session/end');
      await browser.submit(confirm, 'form[id="op.logoutForm"]', {}, { name: 'logout', value: 'yes' });
      await browser.get('/register');
    }

    function setCookies(browser: RecordingBrowser): SetCookie[] {
      return browser.setCookies().map(parseSetCookie);
    }

    it('S-31 every cookie is HttpOnly, SameSite=Lax (Strict for the CSRF secret) and signed with a .sig companion', async () => {
      const person = await createPerson(services());
      const browser = new RecordingBrowser(app.url);
      await visit(browser, person);
      const all = setCookies(browser);
      const names = new Set(all.map((cookie) => cookie.name));
      for (const expected of ['_session', '_interaction', '_interaction_resume', 'csrf', 'console_login']) expect(names).toContain(expected);

      for (const cookie of all.filter((c) => !deleted(c))) {
        expect({ cookie: cookie.raw, httpOnly: cookie.attributes.has('httponly') }).toEqual({ cookie: cookie.raw, httpOnly: true });
        const sameSite = cookie.attributes.get('samesite')?.toLowerCase();
        const wanted = cookie.name.replace(/\.sig$/, '') === 'csrf' ? ['strict'] : ['lax'];
        expect({ cookie: cookie.raw, sameSite }).toEqual({ cookie: cookie.raw, sameSite: expect.stringMatching(new RegExp(`^(${wanted.join('|')})$`)) });
      }
      for (const page of browser.responses) {
        const set = page.headers.getSetCookie().map(parseSetCookie);
        for (const cookie of set.filter((c) => !c.name.endsWith('.sig') && !deleted(c))) {
          expect({ cookie: cookie.raw, signed: set.some((c) => c.name === `${cookie.name}.sig` && c.value.length > 0) }).toEqual({ cookie: cookie.raw, signed: true });
        }
      }
      // Over plain http with no trusted proxy, nothing claims to be Secure.
      expect(all.filter((cookie) => cookie.attributes.has('secure')).map((cookie) => cookie.raw)).toEqual([]);
    });

    it('S-31 behind a trusted proxy (TRUST_PROXY=true, X-Forwarded-Proto: https) every cookie is Secure; without TRUST_PROXY the header is ignored', async () => {
      const proxied = await startTestApp({ env: { TRUST_PROXY: 'true' } });
      try {
        const person = await createPerson(proxied.app.services);
        const browser = new RecordingBrowser(proxied.url, { 'X-Forwarded-Proto': 'https' }, { behindTls: true });
        const proxiedConfig = await discover(proxied.issuer);
        await signInToAccount(browser, person.loginName, person.password);
        await signIn(browser, await authorizationUrl(proxiedConfig, { prompt: 'login' }), person.loginName, person.password);
        const all = setCookies(browser).filter((cookie) => !deleted(cookie));
        expect(all.map((cookie) => cookie.name)).toEqual(expect.arrayContaining(['_session', '_session.sig', '_interaction', 'csrf', 'console_login']));
        expect(all.filter((cookie) => !cookie.attributes.has('secure')).map((cookie) => cookie.raw)).toEqual([]);
      } finally {
        await proxied.close();
      }
      // The same header sent straight to an instance that does not trust proxies changes nothing.
      const person = await createPerson(services());
      const direct = new RecordingBrowser(app.url, { 'X-Forwarded-Proto': 'https' });
      await signInToAccount(direct, person.loginName, person.password);
      await signIn(direct, await authorizationUrl(config, { prompt: 'login' }), person.loginName, person.password);
      const all = setCookies(direct);
      expect(all.map((cookie) => cookie.name)).toContain('_session');
      expect(all.filter((cookie) => cookie.attributes.has('secure')).map((cookie) => cookie.raw)).toEqual([]);
    });

    it('S-31 a session cookie whose value or signature was altered is ignored', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      await signIn(browser, await authorizationUrl(config), person.loginName, person.password);
      const { _session: value, '_session.sig': sig } = await cookiesOf(browser);
      expect(value && sig).toBeTruthy();
      const flip = (text: string) => `${text.slice(0, -1)}${text.endsWith('A') ? 'B' : 'A'}`;
      for (const cookies of [
        { _session: value }, // no signature
        { _session: value, '_session.sig': flip(sig!) },
        { _session: flip(value!), '_session.sig': sig },
      ]) {
        expect((await silent(await browserWith(cookies))).searchParams.get('error')).toBe('login_required');
      }
      expect((await silent(await browserWith({ _session: value, '_session.sig': sig }))).searchParams.get('code')).toBeTruthy();
    });

    it('S-31 cookie keys rotate: after keys:rotate new cookies are signed with the new key and existing ones still verify', async () => {
      const database = await createTestDatabase();
      const before = await startTestApp({ database });
      let after: TestApp | undefined;
      try {
        const person = await createPerson(before.app.services);
        const browser = new Browser(before.url);
        await signIn(browser, await authorizationUrl(await discover(before.issuer)), person.loginName, person.password);
        const old = await cookiesOf(browser, before.url);
        const certs = path.join(before.dir, 'certs');
        const [oldKey] = JSON.parse(fs.readFileSync(path.join(certs, 'cookie-keys.json'), 'utf8')) as string[];
        expect(old['_session.sig']).toBe(cookieSignature(oldKey!, '_session', old._session!));

        await rotateKeys(certs, 3600);
        const [newKey, previous] = JSON.parse(fs.readFileSync(path.join(certs, 'cookie-keys.json'), 'utf8')) as string[];
        expect(previous).toBe(oldKey);
        expect(newKey).not.toBe(oldKey);
        after = await startTestApp({ database, dir: before.dir });
        const afterConfig = await discover(after.issuer);

        // The old cookie still verifies on the restarted instance …
        const carried = await browserWith({ _session: old._session, '_session.sig': old['_session.sig'] }, after.url);
        expect((await silent(carried, afterConfig)).searchParams.get('code')).toBeTruthy();
        // … and a new sign-in is signed with the new key.
        const fresh = new Browser(after.url);
        await signIn(fresh, await authorizationUrl(afterConfig), person.loginName, person.password);
        const now = await cookiesOf(fresh, after.url);
        expect(now['_session.sig']).toBe(cookieSignature(newKey!, '_session', now._session!));
      } finally {
        await after?.close();
        await before.close();
        await database.drop();
      }
    });
  });

  describe('S-32', () => {
    interface Target {
      name: string;
      browser: Browser;
      url: string;
      fields: Record<string, string>;
    }

    let person: TestPerson;
    let pending: TestPerson;
    let operator: TestOperator;
    let signedIn: Browser;
    let counter: Browser;
    let grantId: string;
    const pages: Page[] = [];

    beforeAll(async () => {
      person = await createPerson(services());
      pending = await createPerson(services());
      const number = idNumber('11010119800101123');
      await services().persons.submitRealname(pending.id, '王五', number, { actor: { type: 'person', id: pending.id } });

      signedIn = new Browser(app.url);
      await signIn(signedIn, await authorizationUrl(config), person.loginName, person.password);
      pages.push(await signInToAccount(signedIn, person.loginName, person.password));
      grantId = (await services().sessions.listGrants(person.id))[0]!.grantId;
      counter = new Browser(app.url);
      const operatorSignIn = await signInOperator(app, counter);
      operator = operatorSignIn.operator;
      pages.push(operatorSignIn.page);
    });

    /** Every state-changing form of the personal pages, consoles and interactions, filled in so that it would succeed. */
    async function targets(): Promise<Target[]> {
      const out: Target[] = [];
      const anonymous = new Browser(app.url);
      const register = await anonymous.get('/register');
      pages.push(register);
      out.push({ name: 'register code', browser: anonymous, url: '/register/code', fields: { mobile: mobile() } });

      const registering = new Browser(app.url);
      const phone = mobile();
      const step = await registering.submit(await registering.get('/register'), 'form[action="/register/code"]', { mobile: phone });
      pages.push(step);
      const password = `Pw-${crypto.randomBytes(9).toString('base64url')}`;
      out.push({
        name: 'register',
        browser: registering,
        url: '/register',
        fields: {
          mobile: phone,
          challenge: step.html.querySelector('input[name="challenge"]')!.getAttribute('value')!,
          code: await lastCode(app.db, phone),
          loginName: `csrf${crypto.randomBytes(4).toString('hex')}`,
          password,
          passwordConfirm: password,
          agree: 'yes',
        },
      });

      const recovering = new Browser(app.url);
      pages.push(await recovering.get('/recover/person'));
      out.push({ name: 'recovery code', browser: recovering, url: '/recover/person/code', fields: { account: pending.loginName } });
      await app.db.query("DELETE FROM rate_limit WHERE key LIKE 'otp:%'");
      const resetting = new Browser(app.url);
      const recoveryStep = await resetting.submit(await resetting.get('/recover/person'), 'form[action="/recover/person/code"]', { account: person.loginName });
      pages.push(recoveryStep);
      out.push({
        name: 'recovery',
        browser: resetting,
        url: '/recover/person',
        fields: {
          challenge: recoveryStep.html.querySelector('input[name="challenge"]')!.getAttribute('value')!,
          code: await lastCode(app.db, person.mobile),
          password,
          passwordConfirm: password,
        },
      });

      const signingIn = new Browser(app.url);
      const login = await signingIn.get((await authorizationUrl(config)).url.toString());
      pages.push(login);
      const uid = new URL(login.url).pathname.split('/')[2]!;
      out.push({ name: 'sign-in', browser: signingIn, url: `/interaction/${uid}/login`, fields: { account: person.loginName, password: person.password } });
      out.push({ name: 'abort', browser: signingIn, url: `/interaction/${uid}/abort`, fields: {} });

      const consenting = new Browser(app.url);
      const consent = await consenting.submit(await consenting.get((await authorizationUrl(thirdParty, { scope: 'openid profile' })).url.toString()), 'form#person-login', {
        account: person.loginName,
        password: person.password,
      });
      expect(consent.html.querySelector('form[action$="/confirm"]')).not.toBeNull();
      pages.push(consent);
      out.push({
        name: 'consent',
        browser: consenting,
        url: new URL(consent.html.querySelector('form[action$="/confirm"]')!.getAttribute('action')!, app.url).pathname,
        fields: {},
      });

      const operatorLogin = new Browser(app.url);
      const operatorPage = await operatorLogin.get('/operator');
      pages.push(operatorPage);
      out.push({
        name: 'operator sign-in',
        browser: operatorLogin,
        url: operatorPage.html.querySelector('form[action$="/operator-login"]')!.getAttribute('action')!,
        fields: { account: operator.loginName, password: operator.password },
      });
      const totpStep = await operatorLogin.submit(operatorPage, 'form[action$="/operator-login"]', { account: operator.loginName, password: operator.password });
      pages.push(totpStep);
      out.push({ name: 'operator totp', browser: operatorLogin, url: totpStep.html.querySelector('form[action$="/totp"]')!.getAttribute('action')!, fields: { totp: '123456' } });

      for (const address of ['/account/password', '/account/mobile', '/account/realname']) pages.push(await signedIn.get(address));
      out.push({ name: 'password change', browser: signedIn, url: '/account/password', fields: { currentPassword: person.password, password, passwordConfirm: password } });
      out.push({ name: 'mobile code', browser: signedIn, url: '/account/mobile/code', fields: { currentPassword: person.password, mobile: mobile() } });
      out.push({ name: 'mobile', browser: signedIn, url: '/account/mobile', fields: { mobile: mobile(), challenge: crypto.randomUUID(), code: '123456' } });
      out.push({ name: 'real name', browser: signedIn, url: '/account/realname', fields: { legalName: '张三', idNumber: idNumber('11010119900307123') } });
      out.push({ name: 'grant revoke', browser: signedIn, url: `/account/grants/${grantId}/revoke`, fields: {} });

      pages.push(await counter.get(`/operator/persons/${pending.id}`));
      out.push({ name: 'operator verify', browser: counter, url: `/operator/persons/${pending.id}/verify`, fields: { idNumber: idNumber('11010119800101123') } });
      out.push({ name: 'operator reject', browser: counter, url: `/operator/persons/${pending.id}/reject`, fields: { note: '证件不清晰' } });
      out.push({ name: 'operator disable', browser: counter, url: `/operator/persons/${person.id}/disable`, fields: {} });
      return out;
    }

    const watched: WatchedTable[] = ['person', 'operator', 'one_time_code', 'notification_outbox', 'audit_event', 'rate_limit', 'oidc_model'];

    it("S-32 a POST without a CSRF token, with a wrong one, or with another browser's is refused with 403 and a readable page, and nothing is written", async () => {
      const list = await targets();
      const foreign = csrfOf(await new Browser(app.url).get('/register'));
      const bad: [string, string | undefined][] = [
        ['missing', undefined],
        ['empty', ''],
        ['wrong', crypto.randomBytes(32).toString('base64url')],
        ["another browser's", foreign],
      ];
      for (const target of list) {
        for (const [label, token] of bad) {
          const before = await snapshot(app.db, watched);
          const body = new URLSearchParams(target.fields);
          if (token !== undefined) body.set('_csrf', token);
          const page = await target.browser.request(target.url, { method: 'POST', body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
          expect({ target: target.name, label, status: page.status }).toEqual({ target: target.name, label, status: 403 });
          expect({ target: target.name, label, text: Browser.text(page).includes(CSRF_MESSAGE) }).toEqual({ target: target.name, label, text: true });
          expect(page.headers.get('content-type')).toMatch(/text\/html/);
          expect({ target: target.name, label, tables: await snapshot(app.db, watched) }).toEqual({ target: target.name, label, tables: before });
        }
      }
      // The library's own sign-out form is protected by its xsrf field in the same way.
      const sessionsBefore = await sessionIds(person.id);
      const logout = await signedIn.get('/session/end');
      const action = logout.html.querySelector('form[id="op.logoutForm"]')!.getAttribute('action')!;
      const forged = await signedIn.request(action, { method: 'POST', body: 'logout=yes&xsrf=forged', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(forged.status).toBeGreaterThanOrEqual(400);
      expect(forged.status).toBeLessThan(500);
      expect((await sessionIds(person.id)).sort()).toEqual(sessionsBefore.sort());
      expect(new URL((await signedIn.get('/account')).url).pathname).toBe('/account');
    });

    it('S-32 a CSRF token of the right length made of non-ASCII characters is refused with 403, not a server error', async () => {
      const list = await targets();
      const problems: string[] = [];
      for (const target of list) {
        const before = await snapshot(app.db, watched);
        const body = new URLSearchParams({ ...target.fields, _csrf: 'é'.repeat(43) });
        const page = await target.browser.request(target.url, { method: 'POST', body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
        if (page.status !== 403 || !Browser.text(page).includes(CSRF_MESSAGE)) problems.push(`${target.name}: ${page.status} ${Browser.text(page).slice(0, 80)}`);
        expect(await snapshot(app.db, watched)).toEqual(before);
      }
      expect(problems).toEqual([]);
    });

    it('S-32 every POST form on every page carries a CSRF token', async () => {
      await targets();
      expect(pages.length).toBeGreaterThan(10);
      for (const page of pages) {
        for (const form of page.html.querySelectorAll('form')) {
          if ((form.getAttribute('method') ?? 'get').toLowerCase() !== 'post') continue;
          const token = form.querySelector('input[name="_csrf"]')?.getAttribute('value') ?? form.querySelector('input[name="xsrf"]')?.getAttribute('value');
          expect({ page: page.url, form: form.getAttribute('action'), token: !!token }).toEqual({ page: page.url, form: form.getAttribute('action'), token: true });
        }
      }
    });

    it('S-32 a GET to a state-changing address changes nothing', async () => {
      const list = await targets();
      const before = await snapshot(
        app.db,
        watched.filter((table) => table !== 'oidc_model'),
      );
      const grants = await countRows(app.db, 'oidc_model', "model IN ('Grant', 'Session', 'RefreshToken', 'AccessToken')");
      for (const target of list) {
        const query = new URLSearchParams({ ...target.fields, _csrf: csrfOf(await target.browser.get('/register')) });
        for (const method of ['GET', 'HEAD']) {
          const page = await target.browser.request(`${target.url}?${query}`, { method });
          expect({ target: target.name, method, status: page.status < 500 }).toEqual({ target: target.name, method, status: true });
        }
      }
      expect(
        await snapshot(
          app.db,
          watched.filter((table) => table !== 'oidc_model'),
        ),
      ).toEqual(before);
      expect(await countRows(app.db, 'oidc_model', "model IN ('Grant', 'Session', 'RefreshToken', 'AccessToken')")).toBe(grants);
      expect((await services().persons.byId(person.id))?.status).toBe('active');
    });
  });

  describe('S-33', () => {
    function checkHeaders(label: string, page: { headers: Headers; status: number; body: string }, noStore: boolean): void {
      const policy = csp(page.headers);
      const scriptSrc = policy.get('script-src') ?? policy.get('default-src');
      const context = { page: label, status: page.status };
      expect({ ...context, csp: page.headers.get('content-security-policy') }).toEqual({ ...context, csp: expect.any(String) });
      expect({ ...context, scriptSrc }).toEqual({ ...context, scriptSrc: expect.any(Array) });
      expect({ ...context, inline: scriptSrc!.filter((source) => /unsafe-inline|unsafe-eval|unsafe-hashes/.test(source)) }).toEqual({ ...context, inline: [] });
      expect({ ...context, frameAncestors: policy.get('frame-ancestors') }).toEqual({ ...context, frameAncestors: ["'none'"] });
      expect({ ...context, xfo: page.headers.get('x-frame-options') }).toEqual({ ...context, xfo: 'DENY' });
      expect({ ...context, referrer: page.headers.get('referrer-policy') }).toEqual({ ...context, referrer: 'no-referrer' });
      if (noStore) expect({ ...context, cache: page.headers.get('cache-control') }).toEqual({ ...context, cache: expect.stringContaining('no-store') });
      // The pages work under that policy: no inline script and no inline event handlers.
      const inlineScripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].filter(([, attrs, code]) => !/\bsrc=/.test(attrs!) || code!.trim());
      expect({ ...context, inlineScripts: inlineScripts.length }).toEqual({ ...context, inlineScripts: 0 });
      expect({ ...context, handlers: /<[^>]+\son[a-z]+\s*=/i.test(page.body) }).toEqual({ ...context, handlers: false });
    }

    it('S-33 every page type carries CSP without inline script, frame-ancestors none, X-Frame-Options DENY, Referrer-Policy no-referrer; interaction and console pages are not cached', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      const visited: [string, Page, number][] = [];
      const login = await browser.get((await authorizationUrl(thirdParty, { scope: 'openid profile' })).url.toString());
      visited.push(['sign-in page', login, 200]);
      const failed = await browser.submit(login, 'form#person-login', { account: person.loginName, password: 'wrong password 1' });
      visited.push(['sign-in page with an error', failed, 401]);
      const consent = await browser.submit(failed, 'form#person-login', { account: person.loginName, password: person.password });
      expect(consent.html.querySelector('form[action$="/confirm"]')).not.toBeNull();
      visited.push(['consent page', consent, 200]);
      visited.push(['account centre', await browser.get('/account'), 200]);
      visited.push(['account password page', await browser.get('/account/password'), 200]);
      visited.push(['account mobile page', await browser.get('/account/mobile'), 200]);
      visited.push(['account real-name page', await browser.get('/account/realname'), 200]);
      visited.push(['sign-out confirmation', await browser.get('/session/end'), 200]);
      visited.push(['registration page', await browser.get('/register'), 200]);
      visited.push(['recovery page', await browser.get('/recover/person'), 200]);
      visited.push(['error page (404)', await browser.get('/no-such-page'), 404]);
      // (A browser without a session: a signed-in one is sent home instead, issue 14.)
      visited.push(['error page (expired sign-in)', await new Browser(app.url).get('/interaction/no-such-interaction'), 400]);
      visited.push(['error page (provider)', await browser.get('/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=http://evil.test/cb'), 400]);
      visited.push([
        'error page (CSRF)',
        await browser.request('/register/code', { method: 'POST', body: 'mobile=13900000000', headers: { 'content-type': 'application/x-www-form-urlencoded' } }),
        403,
      ]);

      const counter = new RecordingBrowser(app.url);
      const operatorLogin = await counter.get('/operator');
      visited.push(['operator sign-in page', operatorLogin, 200]);
      const { page: operatorHome } = await signInOperator(app, counter);
      const enrolment = counter.responses.find((page) => page.body.includes('绑定身份验证器'));
      expect(enrolment).toBeDefined();
      visited.push(['operator TOTP enrolment page', enrolment!, 200]);
      visited.push(['operator console', operatorHome, 200]);
      visited.push(['operator person page', await counter.get(`/operator/persons/${person.id}`), 200]);
      visited.push(['operator audit log', await counter.get('/operator/audit'), 200]);
      visited.push(['operator outbox', await counter.get('/operator/outbox'), 200]);

      for (const [label, page, status] of visited) {
        expect({ page: label, status: page.status }).toEqual({ page: label, status });
        checkHeaders(label, page, true);
      }

      // Static files and JSON answers carry the framing and referrer headers too.
      for (const url of ['/static/app.css', '/healthz', '/.well-known/openid-configuration']) {
        const response = await fetch(`${app.url}${url}`);
        expect({ url, xfo: response.headers.get('x-frame-options'), referrer: response.headers.get('referrer-policy') }).toEqual({ url, xfo: 'DENY', referrer: 'no-referrer' });
      }
    });
  });
});
