import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, lastCode, mobile } from '../support/people.js';
import { clearThrottle, RecordingBrowser } from '../support/security.js';
import { createUnit } from '../support/units.js';
import { RECOVERY_LIMITS } from '../../src/modules/recovery/service.js';
import { ACCOUNT_LOCKOUT } from '../../src/shared/security/throttle.js';
import { formatWait } from '../../src/shared/i18n/index.js';

const text = (page: Page) => Browser.text(page);

/**
 * Rate limits and lockouts tell a person how long to wait (issue 14, S-21, S-28): “操作过于频繁，请 N 分钟后再试。”
 * from the throttle's real retry time, the same seconds in `Retry-After`; the page stays on the step it was sent
 * from (no throw-back to step 1) with its 返回登录 link.
 */
describe('rate-limit messages with the wait (S-21, S-28)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: 'true' } });
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  it('formats the wait as a person reads it: seconds under a minute, else whole minutes rounded up', () => {
    expect([1, 59, 60, 61, 900, 3600].map((seconds) => formatWait('zh-CN', seconds))).toEqual(['1秒', '59秒', '1分钟', '2分钟', '15分钟', '60分钟']);
    expect([1, 30, 60, 61].map((seconds) => formatWait('en', seconds))).toEqual(['in 1 second', 'in 30 seconds', 'in 1 minute', 'in 2 minutes']);
    expect([formatWait('zh-CN', undefined), formatWait('en', undefined)]).toEqual(['稍', 'later']);
  });

  it.each([
    // The first lockout lasts a minute (a second may pass before the next attempt).
    ['zh-CN', /登录失败次数过多，请(1分钟|5\d秒)后再试。/],
    ['en', /Too many failed sign-ins\. Please try again in (1 minute|5\d seconds)\./],
  ] as const)("S-21 when a person's account is locked after wrong passwords (%s), then the sign-in page says how long, and Retry-After carries it", async (locale, message) => {
    const person = await createPerson(app.app.services);
    const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': `198.51.100.${locale === 'en' ? 21 : 20}` });
    await browser.jar.setCookie(`lang=${locale}; Path=/`, app.url);
    let page = await browser.get('/account');
    for (let attempt = 0; attempt < ACCOUNT_LOCKOUT.limit; attempt += 1) {
      page = await browser.submit(page, 'form#person-login', { account: person.loginName, password: 'not the password 14' });
      expect(page.status).toBe(401);
    }
    const locked = await browser.submit(page, 'form#person-login', { account: person.loginName, password: person.password });
    expect(locked.status).toBe(429);
    expect(text(locked)).toMatch(message);
    const wait = Number(browser.responses.at(-1)!.headers.get('retry-after'));
    expect(text(locked)).toContain(formatWait(locale, wait));
    // Still the sign-in page, with what was typed.
    expect(locked.html.querySelector('form#person-login input[name="account"]')?.getAttribute('value')).toBe(person.loginName);
  });

  it('S-28 when 重新获取验证码 is pressed within the minute, then step 2 stays (same challenge, the code typed still works) and says how many seconds to wait; the countdown and Retry-After agree', async () => {
    const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '198.51.100.30' });
    const phone = mobile();
    const step = await browser.submit(await browser.get('/register'), 'form[action="/register/code"]', { mobile: phone });
    const challenge = step.html.querySelector('form[action="/register"] input[name="challenge"]')?.getAttribute('value');
    expect(challenge).toBeTruthy();
    const refused = await browser.submit(step, 'form#resend-code');
    expect(refused.status).toBe(429);
    const wait = Number(browser.responses.at(-1)!.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(60);
    expect(text(refused)).toContain(wait === 60 ? '操作过于频繁，请1分钟后再试。' : `操作过于频繁，请${wait}秒后再试。`);
    expect(refused.html.querySelector('form[action="/register"] input[name="challenge"]')?.getAttribute('value')).toBe(challenge);
    expect(refused.html.querySelector('#resend-code button')?.getAttribute('data-countdown')).toBe(String(wait));
    // The step goes on: the code sent first registers.
    const done = await browser.submit(refused, 'form[action="/register"]', {
      code: await lastCode(app.db, phone),
      loginName: `wait${Date.now().toString(36)}`,
      password: 'a long enough password 14',
      passwordConfirm: 'a long enough password 14',
      agree: 'yes',
    });
    expect(text(done)).toContain('注册成功，您已登录。');
  });

  it.each(['account', 'password'] as const)(
    'S-21 when codes for one certificate are used up on 通过常用联系人找回 (%s), then the paths step stays, says how many minutes to wait and keeps 返回登录',
    async (kind) => {
      const contact = await createPerson(app.app.services, { verified: true });
      const unit = await createUnit(app.app.services, contact);
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '198.51.100.40' });
      const paths = await browser.submit(await browser.get(`/recover/unit/${kind}`), 'form#recover-start', { certType: 'uscc', certNo: unit.certNo });
      expect(paths.html.querySelector('form#recover-contact')).not.toBeNull();
      let page: Page;
      for (let sent = 0; sent < RECOVERY_LIMITS.sendPerCertificate.limit; sent += 1) {
        // Each from its own address: only the certificate's limit is reached.
        browser.headers['X-Forwarded-For'] = `198.51.100.${50 + sent}`;
        page = await browser.submit(paths, 'form#recover-contact');
        expect(page.status).toBe(200);
        await clearOtpLimits();
      }
      browser.headers['X-Forwarded-For'] = '198.51.100.40';
      const refused = await browser.submit(paths, 'form#recover-contact');
      expect(refused.status).toBe(429);
      expect(text(refused)).toContain('操作过于频繁，请60分钟后再试。');
      expect(browser.responses.at(-1)!.headers.get('retry-after')).toMatch(/^3[56]\d\d$/);
      // The same step, for the same certificate, and a way back to the sign-in page.
      expect(refused.html.querySelector('form#recover-contact input[name="certNo"]')?.getAttribute('value')).toBe(unit.certNo);
      expect(refused.html.querySelector('form#recover-start')).toBeNull();
      expect(refused.html.querySelectorAll('a').some((link) => link.text.includes('返回登录'))).toBe(true);
    },
  );

  /** The per-destination minute between two codes is not what these tests are about. */
  async function clearOtpLimits(): Promise<void> {
    await app.db.query("DELETE FROM rate_limit WHERE key LIKE 'otp:%'");
  }
});
