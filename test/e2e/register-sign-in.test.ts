import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, lastCode, mobile } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem, signIn } from '../support/rp.js';
import { clearThrottle } from '../support/security.js';
import { takeRegistration } from '../../src/shared/registered-sign-in.js';
import type { Context } from 'koa';

const text = (page: Page) => Browser.text(page);
const PASSWORD = 'a long enough password 14';

/**
 * Sign-in right after registration (issue 14, R-P1): whoever completes 注册 is signed in — a real provider session,
 * created or regenerated as after a password sign-in (S-30) — and lands on the account centre's next-step
 * checklist, or, when registration started from a business system's sign-in, back in that business system.
 */
describe('signed in right after registration (R-P1, S-30)', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  /** 注册 from `start` (the registration page, or the sign-in page's link to it); returns the page after 注册. */
  async function register(browser: Browser, start: Page): Promise<{ page: Page; loginName: string }> {
    const phone = mobile();
    const registration = start.html.querySelector('form[action="/register/code"]') ? start : await browser.get(registrationLinkOf(start));
    const step = await browser.submit(registration, 'form[action="/register/code"]', { mobile: phone });
    expect(step.status).toBe(200);
    const loginName = `new${Math.random().toString(36).slice(2, 10)}`;
    const page = await browser.submit(step, 'form[action="/register"]', {
      code: await lastCode(app.db, phone),
      loginName,
      password: PASSWORD,
      passwordConfirm: PASSWORD,
      agree: 'yes',
    });
    return { page, loginName };
  }

  function registrationLinkOf(login: Page): string {
    const href = login.html.querySelector('a[href^="/register?return="]')?.getAttribute('href');
    if (!href) throw new Error(`no registration link on ${login.url}`);
    return href;
  }

  const sessionsOf = async (personId: string) =>
    (await app.db.query<{ id: string }>("SELECT id FROM oidc_model WHERE model = 'Session' AND account_id = $1", [personId])).rows.map((row) => row.id);

  async function sessionCookie(browser: Browser): Promise<string | undefined> {
    return (await browser.jar.getCookies(app.url)).find((cookie) => cookie.key === '_session')?.value;
  }

  it('R-P1 when a person completes 注册 on /register, then the account centre opens signed in as that person, with the next steps 实名认证 and 注册单位账号 / 以单位身份登录', async () => {
    const browser = new Browser(app.url);
    const { page, loginName } = await register(browser, await browser.get('/register'));
    expect(page.status).toBe(200);
    expect(new URL(page.url).pathname).toBe('/account');
    expect(text(page)).toContain('注册成功，您已登录。');
    expect(text(page)).toContain(loginName);
    const steps = page.html.querySelector('#next-steps');
    expect(steps?.querySelectorAll('li').map((item) => item.getAttribute('data-step'))).toEqual(['realname', 'unit', 'unit-login']);
    expect(steps?.querySelector('[data-step="realname"] a')?.getAttribute('href')).toBe('/account/realname');
    expect(steps?.text).toContain('以单位身份登录');
    // A real provider session for the new person (the one the browser holds), and the sign-in is audited (R-A1).
    const person = await app.app.services.persons.byAccount(loginName);
    expect(await sessionsOf(person!.id)).toEqual([await sessionCookie(browser)]);
    const { rows } = await app.db.query<{ action: string; outcome: string; detail: unknown }>('SELECT action, outcome, detail FROM audit_event WHERE actor_id = $1 ORDER BY at', [
      person!.id,
    ]);
    expect(rows.map((row) => [row.action, row.outcome])).toEqual([
      ['person.register', 'success'],
      ['person.sign_in', 'success'],
    ]);
    expect(rows[1]!.detail).toEqual({ via: 'registration' });
    // The SSO session works for business systems too, without a password (prompt=none).
    const silent = callbackOf(await browser.get((await authorizationUrl(config, { prompt: 'none' })).url.toString()));
    expect(silent.searchParams.get('code')).toBeTruthy();
  });

  it("R-P1 when registration starts from a business system's sign-in page, then 注册 continues that sign-in: the business system receives a code for the new person", async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config);
    const login = await browser.get(authorization.url.toString());
    expect(login.html.querySelector('form#person-login')).not.toBeNull();
    const { page, loginName } = await register(browser, login);
    const tokens = await redeem(config, authorization, callbackOf(page));
    const person = await app.app.services.persons.byAccount(loginName);
    expect(tokens.claims()?.sub).toBe(person!.id);
  });

  it('S-30 when a browser signed in as one person registers another, then the session id changes and the earlier session ends', async () => {
    const earlier = await createPerson(app.app.services);
    const browser = new Browser(app.url);
    await signIn(browser, await authorizationUrl(config), earlier.loginName, earlier.password);
    const before = await sessionCookie(browser);
    expect(before).toBeTruthy();
    const login = await browser.get((await authorizationUrl(config, { prompt: 'login' })).url.toString());
    const { page: switching, loginName } = await register(browser, login);
    // Another account in a signed-in browser: the library first ends the earlier session (its own logout form,
    // submitted by script in a real browser), as for a password sign-in with another account.
    const page = switching.html.querySelector('form input[name="logout"]') ? await browser.submit(switching, 'form') : switching;
    callbackOf(page);
    const after = await sessionCookie(browser);
    expect(after).toBeTruthy();
    expect(after).not.toBe(before);
    const person = await app.app.services.persons.byAccount(loginName);
    expect(await sessionsOf(person!.id)).toEqual([after]);
    expect(await sessionsOf(earlier.id)).toEqual([]);
  });

  it('when the registration cookie is replayed in another browser after use, or forged, then nobody is signed in: the sign-in page asks for a password', async () => {
    const browser = new Browser(app.url);
    const captured: string[] = [];
    const original = browser.request.bind(browser);
    // Keep the handoff cookie as an attacker copying it off the wire would.
    browser.request = async (url, init) => {
      const page = await original(url, init);
      for (const cookie of page.headers.getSetCookie()) if (cookie.startsWith('registered_sign_in') && !cookie.includes('=;')) captured.push(cookie.split(';')[0]!);
      return page;
    };
    await register(browser, await browser.get('/register'));
    // Set by 注册 (the value and its signature), then cleared when used.
    const issued = captured.slice(0, 2);
    expect(issued.map((cookie) => cookie.split('=')[0])).toEqual(['registered_sign_in', 'registered_sign_in.sig']);
    const replay = new Browser(app.url);
    for (const cookie of issued) await replay.jar.setCookie(`${cookie}; Path=/interaction`, app.url);
    const page = await replay.get((await authorizationUrl(config)).url.toString());
    expect(page.html.querySelector('form#person-login')).not.toBeNull();

    const forged = new Browser(app.url);
    await forged.jar.setCookie(
      `registered_sign_in=${encodeURIComponent(JSON.stringify({ personId: (await createPerson(app.app.services)).id, at: Math.floor(Date.now() / 1000), nonce: 'x' }))}; Path=/interaction`,
      app.url,
    );
    const refused = await forged.get((await authorizationUrl(config)).url.toString());
    expect(refused.html.querySelector('form#person-login')).not.toBeNull();
  });

  it('S-52 when 30 copies of one registration cookie arrive at once, then exactly one of them signs the person in', async () => {
    const person = await createPerson(app.app.services);
    const now = new Date();
    const raw = JSON.stringify({ personId: person.id, at: Math.floor(now.getTime() / 1000), nonce: `parallel-${person.id}` });
    // The cookie as the interaction pages read it (its signature already checked): 30 requests carrying the same one.
    const requestWith = () => ({ cookies: { get: () => raw, set: () => undefined } }) as unknown as Context;
    const taken = await Promise.all(Array.from({ length: 30 }, () => takeRegistration(requestWith(), app.app.services.throttle, now)));
    expect(taken.filter((id) => id === person.id)).toHaveLength(1);
    expect(taken.filter((id) => id === undefined)).toHaveLength(29);
  });
});
