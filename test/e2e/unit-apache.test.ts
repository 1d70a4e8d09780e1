import { startTestApp, type TestApp } from '../support/app.js';
import { assertApacheInstalled, readPrintedClaims, redirectUriFor, startApacheRp, type ApacheRp } from '../support/apache.js';
import { Browser, type Page } from '../support/browser.js';
import { testClient } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { freePort } from '../support/process.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { formDefaults, pickerChoices, postFields, unitClientsFile } from '../support/unit-flows.js';

/**
 * Interop with a relying party nobody here wrote, enforcing the unit claims (C-T2, C-T6): Apache httpd with
 * Debian's mod_auth_openidc protects /protected with `Require claim unit_id:<id>` and sends `login_as=unit`.
 * The handler of that unit gets in; the handler of another unit and a personal sign-in get 403. Apache and the
 * module must be installed (CI installs them, see .ci/run): when they are missing the suite fails, never skips.
 */

const APACHE_CLIENT_ID = 'apache-unit-rp';
const APACHE_SECRET = 'apache-unit-interop-secret-0123456789abcdefghijkl';

describe('interop: Apache mod_auth_openidc requiring the unit_id claim (C-T2, C-T6)', () => {
  let app: TestApp | undefined;
  let apache: ApacheRp | undefined;
  let zhangsan: TestPerson;
  let lisi: TestPerson;
  let wangwu: TestPerson;
  let admitted: TestUnit;
  let other: TestUnit;

  beforeAll(async () => {
    assertApacheInstalled();
    const port = await freePort();
    app = await startTestApp({
      clients: unitClientsFile({
        more: [
          testClient({
            client_id: APACHE_CLIENT_ID,
            client_secret: APACHE_SECRET,
            client_name: { 'zh-CN': 'Apache 单位互通测试', en: 'Apache unit interop test' },
            redirect_uris: [redirectUriFor(port)],
            post_logout_redirect_uris: [`http://127.0.0.1:${port}/`],
            scopes: ['openid', 'profile', 'unit', 'biz:continuing_education'],
            first_party: true,
          }),
        ],
      }),
    });
    const services = app.app.services;
    zhangsan = await createPerson(services, { verified: true, legalName: '张三' });
    lisi = await createPerson(services, { verified: true, legalName: '李四' });
    wangwu = await createPerson(services, { verified: true, legalName: '王五' });
    admitted = await createUnit(services, zhangsan, { name: '准入单位有限公司', verified: true });
    other = await createUnit(services, zhangsan, { name: '其他单位有限公司', verified: true });
    await bindHandler(services, admitted, lisi, ['biz:continuing_education']);
    await bindHandler(services, other, wangwu, ['biz:continuing_education']);
    apache = await startApacheRp({
      port,
      issuer: app.issuer,
      clientId: APACHE_CLIENT_ID,
      clientSecret: APACHE_SECRET,
      scope: 'openid profile unit',
      authRequestParams: 'login_as=unit',
      require: [`claim unit_id:${admitted.id}`],
      printedClaims: ['sub', 'unit_id', 'unit_name', 'unit_role'],
    });
  }, 120_000); // the app, keys and argon2 hashes take a while on a loaded machine

  afterAll(async () => {
    await apache?.stop();
    await app?.close();
  });

  async function step<T>(what: string, run: () => Promise<T> | T): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const log = apache?.errorLog().split('\n').slice(-40).join('\n') ?? '';
      (error as Error).message = `${what}: ${(error as Error).message}\n--- Apache error log (tail) ---\n${log}`;
      throw error;
    }
  }

  /** Opens the protected page in a new browser and returns the provider's sign-in page Apache sent it to. */
  async function loginPage(browser: Browser): Promise<Page> {
    const unauthenticated = await browser.navigate(apache!.protectedUrl);
    const authorization = await step('Apache sends the browser to the provider with login_as=unit and scope unit', () => {
      expect(unauthenticated.status).toBe(302);
      const location = new URL(unauthenticated.headers.get('location') ?? '', apache!.url);
      expect(`${location.origin}${location.pathname}`).toBe(`${app!.issuer}/auth`);
      expect(location.searchParams.get('login_as')).toBe('unit');
      expect(location.searchParams.get('scope')?.split(' ').sort()).toEqual(['openid', 'profile', 'unit']);
      return location;
    });
    expect(authorization.searchParams.get('client_id')).toBe(APACHE_CLIENT_ID);
    const login = await browser.follow(unauthenticated);
    await step('the provider shows the sign-in page with 以单位身份登录 ticked', () => {
      expect(login.status).toBe(200);
      expect(login.html.querySelector('form#person-login input[name=unitMode]')?.hasAttribute('checked')).toBe(true);
    });
    return login;
  }

  async function signInForUnit(person: TestPerson, unit: TestUnit): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser(app!.url);
    const login = await loginPage(browser);
    const picker = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    await step("the picker offers the person's unit", () => {
      expect(pickerChoices(picker).unitIds).toEqual([unit.id]);
    });
    const back = await browser.submit(picker, 'form#select-unit', { unitId: unit.id });
    await step('the provider redirects back to Apache with a code', () => {
      expect((back.headers.get('location') ?? '').split('?')[0]).toBe(apache!.redirectUri);
    });
    return { browser, page: await browser.navigateAll(back) };
  }

  it('C-T2 when the handler of the required unit signs in as that unit, then Apache admits them and sees unit_id and unit_name', async () => {
    const { browser, page } = await signInForUnit(lisi, admitted);
    await step('Apache serves the protected page', () => {
      expect({ url: page.url, status: page.status }).toEqual({ url: apache!.protectedUrl, status: 200 });
    });
    expect(readPrintedClaims(page)).toEqual({ sub: lisi.id, unit_id: admitted.id, unit_name: '准入单位有限公司', unit_role: 'handler' });
    const again = await browser.navigate(apache!.protectedUrl);
    expect(again.status).toBe(200);
  });

  it('C-T2 S-40 when the handler of another unit signs in as that unit, then Apache refuses with 403', async () => {
    const { page } = await signInForUnit(wangwu, other);
    await step('Apache refuses the page', () => {
      expect(page.status).toBe(403);
    });
    expect(page.body).not.toContain(wangwu.id);
    expect(page.html.querySelector('#claims')).toBeNull();
  });

  it('S-43 when a person signs in personally (checkbox unticked), then no unit_id reaches Apache and it refuses with 403', async () => {
    const browser = new Browser(app!.url);
    const login = await loginPage(browser);
    const fields = formDefaults(login, 'form#person-login').filter(([name]) => !['unitMode', 'account', 'password'].includes(name));
    fields.push(['account', lisi.loginName], ['password', lisi.password]);
    const back = await postFields(browser, login, 'form#person-login', fields);
    await step('the provider redirects back to Apache without the picker', () => {
      expect((back.headers.get('location') ?? '').split('?')[0]).toBe(apache!.redirectUri);
    });
    const page = await browser.navigateAll(back);
    await step('Apache refuses the page', () => {
      expect(page.status).toBe(403);
    });
    expect(page.html.querySelector('#claims')).toBeNull();
  });

  it('S-43 when the handler of the required unit chooses “以个人身份继续” at the picker, then Apache refuses with 403', async () => {
    const browser = new Browser(app!.url);
    const login = await loginPage(browser);
    const picker = await browser.submit(login, 'form#person-login', { account: lisi.loginName, password: lisi.password });
    const back = await browser.submit(picker, 'form#continue-personal');
    const page = await browser.navigateAll(back);
    await step('Apache refuses the page', () => {
      expect(page.status).toBe(403);
    });
  });
});
