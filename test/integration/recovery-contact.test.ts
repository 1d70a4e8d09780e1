import { maskMobile } from '../../src/modules/persons/rules.js';
import { RECOVERY_LIMITS } from '../../src/modules/recovery/service.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, lastCode, type TestPerson } from '../support/people.js';
import { browserCsrf, post, text } from '../support/recovery.js';
import { clearThrottle, countRows, signInToAccount } from '../support/security.js';
import { pathOf, signInUnit } from '../support/unit-console.js';
import { bindHandler, createUnit, uscc, type TestUnit } from '../support/units.js';

const MASKED = /1\d{2}\*{4}\d{4}/;
const NEW_PASSWORD = 'a brand new unit passphrase';

/** The structure of a page: its forms, fields, buttons, links and headings, without values that differ per unit. */
function shape(page: Page): string[] {
  return page.html
    .querySelectorAll('form, input, select, button, a, h1, h2, label, p')
    .map((element) =>
      [
        element.tagName,
        element.id,
        element.getAttribute('name') ?? '',
        element.getAttribute('action') ?? '',
        element.getAttribute('type') ?? '',
        element.getAttribute('class') ?? '',
      ].join('|'),
    );
}

/** The visible text with what legitimately differs (masked number, certificate number) blanked out. */
function wording(page: Page, certNo: string): string {
  return text(page).replaceAll(certNo, 'CERT').replace(MASKED, 'MOBILE');
}

describe('unit account recovery through the common contact (R-R1, R-R2, C-UI5, S-21–S-23)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let unit: TestUnit;
  let verifiedUnit: TestUnit;
  let unreachable: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    const services = app.app.services;
    contact = await createPerson(services, { verified: true, legalName: '王常联' });
    unit = await createUnit(services, contact, { name: '找回测试有限公司' });
    verifiedUnit = await createUnit(services, contact, { name: '已认证测试有限公司', verified: true });
    const silent = await createPerson(services, { verified: true });
    unreachable = await createUnit(services, silent, { name: '联系人未验证手机的单位' });
    await app.db.query('UPDATE person SET mobile_verified_at = NULL WHERE id = $1', [silent.id]);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  async function paths(browser: Browser, kind: 'account' | 'password', certNo: string, ip?: string): Promise<Page> {
    return post(browser, `/recover/unit/${kind}`, await browserCsrf(browser, `/recover/unit/${kind}`), { certType: 'uscc', certNo }, ip);
  }

  async function sendCode(browser: Browser, kind: 'account' | 'password', certNo: string, ip?: string): Promise<Page> {
    const page = await paths(browser, kind, certNo, ip);
    expect(page.status).toBe(200);
    return browser.submit(page, 'form#recover-contact');
  }

  const challengeOf = (page: Page) => page.html.querySelector('input[name="challenge"]')!.getAttribute('value')!;

  it("C-UI5 R-R2 when an unverified unit is looked up on 账号找回 and 密码找回, then “通过常用联系人找回” shows the contact's masked mobile and 申诉 is offered", async () => {
    const browser = new Browser(app.url);
    for (const kind of ['account', 'password'] as const) {
      const start = await browser.get(`/recover/unit/${kind}`);
      expect(start.status).toBe(200);
      expect(text(start)).toContain(kind === 'account' ? '账号找回' : '密码找回');
      const page = await paths(browser, kind, unit.certNo);
      expect(page.status).toBe(200);
      expect(text(page)).toContain('通过常用联系人找回');
      expect(text(page)).toContain(maskMobile(contact.mobile));
      expect(text(page)).not.toContain(contact.mobile);
      expect(page.html.querySelector('a#recover-appeal')?.getAttribute('href')).toContain(`/recover/unit/appeal?kind=${kind}`);
      expect(text(page)).toContain('申诉');
    }
  });

  it('R-R2 when a verified unit is looked up, then only “通过常用联系人找回” is offered, no appeal', async () => {
    const page = await paths(new Browser(app.url), 'password', verifiedUnit.certNo);
    expect(page.status).toBe(200);
    expect(text(page)).toContain('通过常用联系人找回');
    expect(page.html.querySelector('a#recover-appeal')).toBeNull();
    expect(page.html.querySelector('#appeal-not-offered')).not.toBeNull();
  });

  it('S-22 R-R3 when an unknown certificate, a unit whose contact has no verified mobile and a real unit go through every step, then status and page shape are the same and only the real contact gets a code', async () => {
    const unknown = uscc();
    const cases = [
      ['real', unit.certNo],
      ['unreachable', unreachable.certNo],
      ['unknown', unknown],
    ] as const;
    const outboxBefore = await countRows(app.db, 'notification_outbox');
    const seen: Record<string, { paths: Page; code: Page; wrong: Page; masked: string }> = {};
    for (const [name, certNo] of cases) {
      const browser = new Browser(app.url);
      const first = await paths(browser, 'account', certNo);
      const again = await paths(browser, 'account', certNo);
      const masked = text(first).match(MASKED)?.[0] ?? '';
      expect(text(again).match(MASKED)?.[0]).toBe(masked); // a stand-in number is stable, like a real one
      const code = await browser.submit(first, 'form#recover-contact');
      const wrong = await browser.submit(code, 'form#recover-code', { code: '000000' });
      seen[name] = { paths: first, code, wrong, masked };
    }
    const real = seen.real!;
    expect(real.masked).toBe(maskMobile(contact.mobile));
    for (const [name, certNo] of cases) {
      const other = seen[name]!;
      expect(other.masked).toMatch(/^1\d{2}\*{4}\d{4}$/);
      expect([other.paths.status, other.code.status, other.wrong.status]).toEqual([200, 200, 400]);
      expect(shape(other.paths)).toEqual(shape(real.paths));
      expect(shape(other.code)).toEqual(shape(real.code));
      expect(shape(other.wrong)).toEqual(shape(real.wrong));
      expect(wording(other.paths, certNo)).toBe(wording(real.paths, unit.certNo));
      expect(wording(other.code, certNo)).toBe(wording(real.code, unit.certNo));
      expect(wording(other.wrong, certNo)).toBe(wording(real.wrong, unit.certNo));
    }
    expect(text(real.wrong)).toContain('验证码错误或已失效');
    // Only the real unit's contact was sent something.
    expect(await countRows(app.db, 'notification_outbox')).toBe(outboxBefore + 1);
    expect(await countRows(app.db, 'notification_outbox', 'recipient = $1', [contact.mobile])).toBeGreaterThan(0);
  });

  it('S-21 S-22 when a code is asked for again at once, then a real unit and an unknown certificate are both refused with 429', async () => {
    for (const certNo of [unit.certNo, uscc()]) {
      const browser = new Browser(app.url);
      expect((await sendCode(browser, 'account', certNo)).status).toBe(200);
      const again = await sendCode(browser, 'account', certNo);
      expect(again.status).toBe(429);
      expect(text(again)).toContain('操作过于频繁');
    }
  });

  it("R-R1 when the contact's code is entered on 账号找回, then the unit login name is shown (audited) and the code cannot be used again", async () => {
    const browser = new Browser(app.url);
    const code = await sendCode(browser, 'account', unit.certNo);
    expect(text(code)).toContain(`验证码已发送至 ${maskMobile(contact.mobile)}`);
    const value = await lastCode(app.db, contact.mobile);
    const found = await browser.submit(code, 'form#recover-code', { code: value });
    expect(found.status).toBe(200);
    expect(found.html.querySelector('#unit-login-name')?.text).toBe(unit.loginName);
    expect(await countRows(app.db, 'audit_event', "action = 'recovery.account_reveal' AND acting_unit_id = $1 AND outcome = 'success'", [unit.id])).toBe(1);
    const reused = await browser.submit(code, 'form#recover-code', { code: value });
    expect(reused.status).toBe(400);
    expect(text(reused)).not.toContain(unit.loginName);
  });

  it("R-R2 S-24 when the contact's code and a new password are entered on 密码找回, then the old password stops working, the new one works and the unit account's sessions end", async () => {
    const own = await createUnit(app.app.services, contact, { name: '重置密码测试单位' });
    const unitBrowser = new Browser(app.url);
    await signInUnit(unitBrowser, own);
    const browser = new Browser(app.url);
    const code = await sendCode(browser, 'password', own.certNo);
    const value = await lastCode(app.db, contact.mobile);
    // The general rules first; the login-name rule only after the code, and a refusal leaves the code usable.
    const weak = await browser.submit(code, 'form#recover-code', { code: value, password: 'short', passwordConfirm: 'short' });
    expect(weak.status).toBe(400);
    expect(text(weak)).toContain('密码至少需要8个字符');
    const withName = `${own.loginName} is my password`;
    const named = await browser.submit(code, 'form#recover-code', { code: value, password: withName, passwordConfirm: withName });
    expect(named.status).toBe(400);
    expect(text(named)).toContain('密码不能包含账号');
    const done = await browser.submit(code, 'form#recover-code', { code: value, password: NEW_PASSWORD, passwordConfirm: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(text(done)).toContain('单位账号密码已重置');
    expect(done.html.querySelector('#unit-login-name')?.text).toBe(own.loginName);

    const after = await unitBrowser.get('/unit');
    expect(pathOf(after)).not.toBe('/unit');
    await expect(app.app.services.units.authenticate(own.loginName, own.password, { actor: { type: 'anonymous' }, ip: '10.9.9.9' })).rejects.toMatchObject({
      code: 'credentials_invalid',
    });
    await expect(app.app.services.units.authenticate(own.loginName, NEW_PASSWORD, { actor: { type: 'anonymous' }, ip: '10.9.9.9' })).resolves.toMatchObject({ id: own.id });
    expect(await countRows(app.db, 'audit_event', "action = 'unit.password_reset' AND acting_unit_id = $1 AND detail->>'path' = 'contact_code'", [own.id])).toBe(1);
  });

  it('S-23 when a code is wrong, expired, already used, for another unit or for the other recovery, then it is refused the same way', async () => {
    const other = await createUnit(app.app.services, contact, { name: '另一家测试单位' });
    const browser = new Browser(app.url);
    const refused = async (page: Page, values: Record<string, string>) => {
      const answer = await post(browser, '/recover/unit/account/verify', await browserCsrf(browser), {
        certType: 'uscc',
        certNo: page.html.querySelector('input[name="certNo"]')!.getAttribute('value')!,
        challenge: challengeOf(page),
        maskedMobile: '',
        ...values,
      });
      expect(answer.status).toBe(400);
      expect(text(answer)).toContain('验证码错误或已失效');
      expect(answer.html.querySelector('#unit-login-name')).toBeNull();
    };

    // Another unit: unit's challenge and code, submitted with the other unit's certificate.
    const code = await sendCode(browser, 'account', unit.certNo);
    const value = await lastCode(app.db, contact.mobile);
    await refused(code, { code: value, certNo: other.certNo });
    // The other recovery: a 账号找回 code does not reset the password.
    const reset = await post(browser, '/recover/unit/password/reset', await browserCsrf(browser), {
      certType: 'uscc',
      certNo: unit.certNo,
      challenge: challengeOf(code),
      code: value,
      password: NEW_PASSWORD,
      passwordConfirm: NEW_PASSWORD,
    });
    expect(reset.status).toBe(400);
    // Wrong.
    await refused(code, { code: value === '123456' ? '654321' : '123456' });
    // Expired.
    await app.db.query("UPDATE one_time_code SET expires_at = now() - interval '1 second' WHERE id = $1", [challengeOf(code)]);
    await refused(code, { code: value });
    // Used: a fresh code works once, then not again.
    await clearThrottle(app.db);
    const fresh = await sendCode(browser, 'account', unit.certNo);
    const freshValue = await lastCode(app.db, contact.mobile);
    expect((await browser.submit(fresh, 'form#recover-code', { code: freshValue })).status).toBe(200);
    await refused(fresh, { code: freshValue });
    expect(await countRows(app.db, 'audit_event', "action = 'recovery.code_verify' AND outcome = 'failure' AND acting_unit_id = $1", [unit.id])).toBeGreaterThanOrEqual(3);
  });

  it('S-21 when wrong codes for one unit come from many IPs, then the unit is locked even for the right code', async () => {
    const browser = new Browser(app.url);
    const code = await sendCode(browser, 'account', unit.certNo, '10.20.0.1');
    const value = await lastCode(app.db, contact.mobile);
    const csrf = await browserCsrf(browser);
    const fields = { certType: 'uscc', certNo: unit.certNo, challenge: challengeOf(code), maskedMobile: '' };
    for (let index = 0; index < RECOVERY_LIMITS.failuresPerCertificate.limit; index += 1) {
      const wrong = await post(browser, '/recover/unit/account/verify', csrf, { ...fields, code: '999999' === value ? '999998' : '999999' }, `10.20.1.${index}`);
      expect(wrong.status).toBe(400);
    }
    const locked = await post(browser, '/recover/unit/account/verify', csrf, { ...fields, code: value }, '10.20.2.1');
    expect(locked.status).toBe(429);
    expect(text(locked)).not.toContain(unit.loginName);
  });

  it('S-21 when one IP tries wrong codes across many certificates, then that IP is locked and another IP is not', async () => {
    const browser = new Browser(app.url);
    const csrf = await browserCsrf(browser);
    const ip = '10.30.0.1';
    for (let index = 0; index < RECOVERY_LIMITS.failuresPerIp.limit; index += 1) {
      const wrong = await post(
        browser,
        '/recover/unit/account/verify',
        csrf,
        { certType: 'uscc', certNo: uscc(), challenge: '00000000-0000-4000-8000-000000000000', maskedMobile: '', code: '123456' },
        ip,
      );
      expect(wrong.status).toBe(400);
    }
    const code = await sendCode(browser, 'account', unit.certNo, '10.30.0.2');
    const value = await lastCode(app.db, contact.mobile);
    const fields = { certType: 'uscc', certNo: unit.certNo, challenge: challengeOf(code), maskedMobile: '', code: value };
    expect((await post(browser, '/recover/unit/account/verify', csrf, fields, ip)).status).toBe(429);
    const elsewhere = await post(browser, '/recover/unit/account/verify', csrf, fields, '10.30.0.3');
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.html.querySelector('#unit-login-name')?.text).toBe(unit.loginName);
  });

  it('R-R1 R-R2 when the common contact opens 单位账号找回 in the account centre, then the unit login name shows and a new unit password can be set; a handler sees nothing and cannot reset', async () => {
    const services = app.app.services;
    const own = await createUnit(services, contact, { name: '账户中心找回测试单位' });
    const handler = await createPerson(services, { verified: true });
    await bindHandler(services, own, handler, []);
    const unitBrowser = new Browser(app.url);
    await signInUnit(unitBrowser, own);

    const browser = new Browser(app.url);
    await signInToAccount(browser, contact.loginName, contact.password);
    const before = await countRows(app.db, 'audit_event', "action = 'recovery.account_reveal' AND acting_unit_id = $1", [own.id]);
    const listed = await browser.get('/account/unit-recovery');
    expect(listed.status).toBe(200);
    // S-32: looking is a GET and changes nothing; the login name shows after the (audited) POST.
    expect(listed.body).not.toContain(own.loginName);
    expect(await countRows(app.db, 'audit_event', "action = 'recovery.account_reveal' AND acting_unit_id = $1", [own.id])).toBe(before);
    const page = await browser.submit(listed, `form[action="/account/unit-recovery/${own.id}/reveal"]`);
    expect(page.status).toBe(200);
    const section = page.html.querySelector(`[data-unit="${own.id}"]`);
    expect(section?.querySelector('.unit-login-name')?.text).toBe(own.loginName);
    expect(await countRows(app.db, 'audit_event', "action = 'recovery.account_reveal' AND acting_unit_id = $1", [own.id])).toBe(before + 1);
    const done = await browser.submit(page, `form[action="/account/unit-recovery/${own.id}/password"]`, { password: NEW_PASSWORD, passwordConfirm: NEW_PASSWORD });
    expect(done.status).toBe(200);
    expect(text(done)).toContain('单位账号密码已重置');
    expect(pathOf(await unitBrowser.get('/unit'))).not.toBe('/unit');
    await expect(services.units.authenticate(own.loginName, NEW_PASSWORD, { actor: { type: 'anonymous' } })).resolves.toMatchObject({ id: own.id });
    expect(
      await countRows(app.db, 'audit_event', "action = 'unit.password_reset' AND actor_id = $1 AND acting_unit_id = $2 AND detail->>'path' = 'contact_console'", [
        contact.id,
        own.id,
      ]),
    ).toBe(1);

    const handlerBrowser = new Browser(app.url);
    await signInToAccount(handlerBrowser, handler.loginName, handler.password);
    const none = await handlerBrowser.get('/account/unit-recovery');
    expect(none.status).toBe(200);
    expect(none.body).not.toContain(own.loginName);
    expect(text(none)).toContain('您目前不是任何单位的常用联系人');
    const csrf = none.html.querySelector('input[name="_csrf"]')?.getAttribute('value') ?? (await browserCsrf(handlerBrowser));
    const forged = await post(handlerBrowser, `/account/unit-recovery/${own.id}/password`, csrf, {
      password: 'another fine passphrase',
      passwordConfirm: 'another fine passphrase',
    });
    expect(forged.status).toBe(404);
    await expect(services.units.authenticate(own.loginName, NEW_PASSWORD, { actor: { type: 'anonymous' } })).resolves.toMatchObject({ id: own.id });
  });
});
