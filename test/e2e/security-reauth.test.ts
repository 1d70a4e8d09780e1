import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { signInToAccount } from '../support/security.js';
import { pathOf, setSignInAge, signInUnit } from '../support/unit-console.js';
import { createUnit, type TestUnit } from '../support/units.js';

const REAUTH_SECONDS = 30;
const STALE = REAUTH_SECONDS + 60;
const text = (page: Page) => Browser.text(page);

/**
 * S-34: the re-authentication page shows the signed-in account fixed and asks for its password only; another
 * account's credentials are refused with a readable message, and the sensitive page opens only for the same
 * person or unit.
 */
describe('re-authentication keeps the account (S-34)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let intruder: TestPerson;
  let unit: TestUnit;
  let otherUnit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({ env: { REAUTH_SECONDS: String(REAUTH_SECONDS) } });
    contact = await createPerson(app.app.services, { verified: true });
    intruder = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, contact, { name: '重新认证页面测试单位' });
    otherUnit = await createUnit(app.app.services, intruder, { name: '另一家重新认证单位' });
  });
  afterAll(() => app.close());

  it("S-34 when a person's sign-in is old, then the sensitive page asks for the password of that same person only, shown fixed, and says why", async () => {
    const browser = new Browser(app.url);
    await signInToAccount(browser, contact.loginName, contact.password);
    await setSignInAge(app.db, { kind: 'person', id: contact.id }, STALE);
    const page = await browser.get('/account/unit-recovery');
    expect(page.status).toBe(200);
    expect(page.html.querySelector('h1')?.text).toBe('请再次输入密码');
    expect(text(page)).toContain('为了您的账号安全，继续此操作');
    const account = page.html.querySelector('form#person-login input[name="account"]');
    expect(account?.getAttribute('value')).toBe(contact.loginName);
    expect(account?.getAttribute('type')).toBe('hidden');
    expect(page.html.querySelector('#reauth-account')?.text).toContain(`当前账号：${contact.loginName}`);
    expect(page.html.querySelector('input[name="unitMode"]')).toBeNull();
    expect(page.html.querySelector('nav.tabs')).toBeNull();
    expect(page.html.querySelectorAll('form#person-login input:not([type="hidden"])').map((input) => input.getAttribute('name'))).toEqual(['password']);
  });

  it("S-34 when another person's credentials are entered on the re-authentication page, then they are refused with a readable message and the sensitive page never opens for that person", async () => {
    const browser = new Browser(app.url);
    await signInToAccount(browser, contact.loginName, contact.password);
    await setSignInAge(app.db, { kind: 'person', id: contact.id }, STALE);
    const page = await browser.get('/account/unit-recovery');
    const refused = await browser.submit(page, 'form#person-login', { account: intruder.loginName, password: intruder.password });
    expect(refused.status).toBe(403);
    expect(text(refused)).toContain(`这里只能输入当前账号（${contact.loginName}）的密码。如需使用其他账号，请先退出登录。`);
    expect(pathOf(refused)).not.toBe('/account/unit-recovery');
    // The mobile number of another person is the same as another account: refused too.
    const byMobile = await browser.submit(refused, 'form#person-login', { account: intruder.mobile, password: intruder.password });
    expect(byMobile.status).toBe(403);
    // The session is still the first person's, and with the own password the page opens.
    const done = await browser.submit(byMobile, 'form#person-login', { password: contact.password });
    expect(done.status).toBe(200);
    expect(pathOf(done)).toBe('/account/unit-recovery');
    expect(done.body).toContain(unit.name);
    expect(done.body).not.toContain(otherUnit.name);
  });

  it("S-34 when another unit's credentials are entered on the unit console's re-authentication page, then they are refused and the sub-accounts of the first unit open only with its own password", async () => {
    const browser = new Browser(app.url);
    await signInUnit(browser, unit);
    await setSignInAge(app.db, { kind: 'unit', id: unit.id }, STALE);
    const page = await browser.get('/unit/bindings');
    expect(page.html.querySelector('h1')?.text).toBe('请再次输入密码');
    expect(page.html.querySelector('form#unit-login input[name="account"]')?.getAttribute('value')).toBe(unit.loginName);
    expect(text(page)).toContain(unit.name);
    const refused = await browser.submit(page, 'form#unit-login', { account: otherUnit.loginName, password: otherUnit.password });
    expect(refused.status).toBe(403);
    expect(text(refused)).toContain(`这里只能输入当前账号（${unit.loginName}）的密码`);
    const wrong = await browser.submit(refused, 'form#unit-login', { password: 'not the unit password' });
    expect(wrong.status).toBe(401);
    const done = await browser.submit(wrong, 'form#unit-login', { password: unit.password });
    expect(pathOf(done)).toBe('/unit/bindings');
    expect(text(done)).toContain('子账户信息');
  });

  it('S-34 when the re-authentication page is shown in English, then it explains itself in English', async () => {
    const browser = new Browser(app.url);
    await signInToAccount(browser, contact.loginName, contact.password);
    await browser.get('/lang?to=en&return=/account');
    await setSignInAge(app.db, { kind: 'person', id: contact.id }, STALE);
    const page = await browser.get('/account/unit-recovery');
    expect(page.html.querySelector('h1')?.text).toBe('Enter your password again');
    expect(text(page)).toContain('For your security, confirm the password of the signed-in account');
    const refused = await browser.submit(page, 'form#person-login', { account: intruder.loginName, password: intruder.password });
    expect(text(refused)).toContain(`Only the password of the signed-in account (${contact.loginName}) is accepted here.`);
  });
});
