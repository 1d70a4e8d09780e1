import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, lastCode, mobile, PASSWORD } from '../support/people.js';
import { createUnit } from '../support/units.js';
import { REGISTER_LIMITS } from '../../src/modules/persons/service.js';
import { clearThrottle, countRows, RecordingBrowser, signInOperator, signInToAccount, snapshot } from '../support/security.js';
import { base32Decode, currentStep, hotp } from '../../src/shared/security/totp.js';
import { ACCOUNT_LOCKOUT } from '../../src/shared/security/throttle.js';

const text = (page: Page) => Browser.text(page);
const LOCKED = '登录失败次数过多';

describe('security hardening under concurrency and hostile input (S-26, S-28, S-32, S-36)', () => {
  let app: TestApp;

  beforeAll(async () => {
    // One trusted proxy hop: single tests act from their own client IP with X-Forwarded-For.
    app = await startTestApp({ env: { TRUST_PROXY: '1' } });
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  describe('S-26 reserve before verify', () => {
    it('S-26 S-21 when 29 wrong passwords arrive at once, then at most 5 are checked, the rest are refused as locked, and the right password is refused while locked', async () => {
      const person = await createPerson(app.app.services);
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.26' });
      const login = await browser.get('/account');
      const wrong = await Promise.all(
        Array.from({ length: 29 }, (_unused, index) => browser.submit(login, 'form#person-login', { account: person.loginName, password: `wrong password ${index}` })),
      );
      const statuses = wrong.map((page) => page.status);
      expect(statuses.filter((status) => status === 401).length).toBeLessThanOrEqual(ACCOUNT_LOCKOUT.limit);
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(29 - ACCOUNT_LOCKOUT.limit);
      expect(statuses.every((status) => status === 401 || status === 429)).toBe(true);
      const right = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
      expect(right.status).toBe(429);
      expect(text(right)).toContain(LOCKED);
      expect(new URL(right.url).pathname).not.toBe('/account');
    });

    it('S-26 when a right password runs in parallel with a few wrong ones below the limit, then it succeeds and the account is not left locked', async () => {
      const person = await createPerson(app.app.services);
      const browser = new Browser(app.url);
      const login = await browser.get('/account');
      const pages = await Promise.all([
        ...Array.from({ length: 3 }, (_unused, index) => browser.submit(login, 'form#person-login', { account: person.loginName, password: `wrong password ${index}` })),
      ]);
      expect(pages.map((page) => page.status)).toEqual([401, 401, 401]);
      await signInToAccount(new Browser(app.url), person.loginName, PASSWORD);
      expect(await countRows(app.db, 'rate_limit', 'key = $1', [`login:person:${person.id}`])).toBe(0);
    });

    it('S-26 S-21 when 30 wrong TOTP codes arrive at once, then at most 5 are compared and the others are refused as locked', async () => {
      // An enrolled operator (the helper enrols the authenticator), then a new sign-in up to the TOTP step.
      const { operator } = await signInOperator(app, new Browser(app.url));
      const browser = new Browser(app.url);
      const login = await browser.get('/operator');
      const second = await browser.submit(login, 'form[action$="/operator-login"]', { account: operator.loginName, password: operator.password });
      expect(second.html.querySelector('form[action$="/totp"]')).not.toBeNull();
      const right = hotp(base32Decode(operator.secret), currentStep(new Date()));
      const codes = Array.from({ length: 30 }, (_unused, index) => String((Number(right) + 1 + index * 7919) % 1_000_000).padStart(6, '0'));
      const pages = await Promise.all(codes.map((totp) => browser.submit(second, 'form[action$="/totp"]', { totp })));
      const statuses = pages.map((page) => page.status);
      expect(statuses.filter((status) => status === 400).length).toBeLessThanOrEqual(5);
      expect(statuses.filter((status) => status === 429).length).toBeGreaterThanOrEqual(25);
      const { rows } = await app.db.query<{ locked_until: Date | null }>('SELECT locked_until FROM rate_limit WHERE key = $1', [`totp:operator:${operator.id}`]);
      expect(rows[0]?.locked_until?.getTime()).toBeGreaterThan(Date.now());
    });
  });

  describe('S-28 bounded hashing', () => {
    it('S-28 when more sign-ins arrive than the hashing queue holds, then the excess is refused at once with 503 and Retry-After, and nothing is left queued', async () => {
      const small = await startTestApp({ env: { TRUST_PROXY: '1', HASH_CONCURRENCY: '1', HASH_QUEUE_MAX: '2' } });
      try {
        const browser = new Browser(small.url);
        const login = await browser.get('/account');
        const pages = await Promise.all(
          Array.from({ length: 12 }, (_unused, index) => browser.submit(login, 'form#person-login', { account: `nobody-s28-${index}`, password: `wrong password ${index}` })),
        );
        const busy = pages.filter((page) => page.status === 503);
        expect(busy.length).toBeGreaterThanOrEqual(1);
        expect(pages.filter((page) => page.status === 401).length).toBeGreaterThanOrEqual(3);
        for (const page of busy) {
          expect(page.headers.get('retry-after')).toMatch(/^\d+$/);
          expect(text(page)).toContain('服务繁忙，请稍后再试。');
        }
        expect(small.app.services.hasher.queued).toBe(0);
      } finally {
        await small.close();
      }
    });
  });

  describe('S-29 S-28 no enumeration through registration and sending limits', () => {
    async function registrationStep(browser: Browser, phone: string): Promise<Page> {
      const step = await browser.submit(await browser.get('/register'), 'form[action="/register/code"]', { mobile: phone });
      expect(step.status).toBe(200);
      return step;
    }

    it('S-29 when a taken login name is sent with a wrong SMS code, then registration answers “wrong code”, not “name taken”; with the right code it says the name is taken', async () => {
      const existing = await createPerson(app.app.services);
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.29' });
      const phone = mobile();
      const step = await registrationStep(browser, phone);
      const code = await lastCode(app.db, phone);
      const wrong = await browser.submit(step, 'form[action="/register"]', {
        code: code === '000000' ? '000001' : '000000',
        loginName: existing.loginName,
        password: 'a fine long passphrase 29',
        passwordConfirm: 'a fine long passphrase 29',
        agree: 'yes',
      });
      expect(wrong.status).toBe(400);
      expect(text(wrong)).toContain('验证码错误或已失效，请重新获取。');
      expect(text(wrong)).not.toContain('该账号已被注册');
      const right = await browser.submit(step, 'form[action="/register"]', {
        code,
        loginName: existing.loginName,
        password: 'a fine long passphrase 29',
        passwordConfirm: 'a fine long passphrase 29',
        agree: 'yes',
      });
      expect(right.status).toBe(409);
      expect(text(right)).toContain('该账号已被注册，请换一个。');
    });

    it('S-28 when registrations keep coming from one IP, then they are refused with 429 beyond the hourly limit, before any hash', async () => {
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.128' });
      const phone = mobile();
      const step = await registrationStep(browser, phone);
      const statuses: number[] = [];
      for (let index = 0; index <= REGISTER_LIMITS.perIp.limit; index += 1) {
        const page = await browser.submit(step, 'form[action="/register"]', {
          mobile: mobile(),
          code: '123456',
          loginName: `s28reg${index}`,
          password: 'a fine long passphrase 28',
          passwordConfirm: 'a fine long passphrase 28',
          agree: 'yes',
        });
        statuses.push(page.status);
      }
      expect(statuses.slice(0, REGISTER_LIMITS.perIp.limit).every((status) => status === 400)).toBe(true);
      expect(statuses.at(-1)).toBe(429);
      expect(await countRows(app.db, 'person', "login_name LIKE 's28reg%'")).toBe(0);
    });

    it('S-29 when a reset code is sent for a login name and then at once for its mobile number, then the second is answered like for any other account (limits count what was typed)', async () => {
      const person = await createPerson(app.app.services);
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.31' });
      const send = async (account: string) => browser.submit(await browser.get('/recover/person'), 'form[action="/recover/person/code"]', { account });
      expect((await send(person.loginName)).status).toBe(200);
      expect((await send(person.mobile)).status).toBe(200);
      // The same input twice is limited, for an existing and a missing account alike.
      expect((await send(person.loginName)).status).toBe(429);
      expect((await send('nobody-s29-x')).status).toBe(200);
      expect((await send('nobody-s29-x')).status).toBe(429);
    });

    it('S-29 when a unit recovery code goes to the common contact and then a personal reset is asked for the contact, then no limit shows that they share a mobile', async () => {
      const contact = await createPerson(app.app.services, { verified: true });
      const unit = await createUnit(app.app.services, contact, { name: '枚举测试有限公司' });
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.32' });
      const paths = await browser.submit(await browser.get('/recover/unit/account'), 'form#recover-start', { certType: 'uscc', certNo: unit.certNo });
      expect(paths.status).toBe(200);
      const sent = await browser.submit(paths, 'form#recover-contact');
      expect(sent.status).toBe(200);
      expect(await lastCode(app.db, contact.mobile)).toMatch(/^\d{6}$/);
      const personal = await browser.submit(await browser.get('/recover/person'), 'form[action="/recover/person/code"]', { account: contact.loginName });
      expect(personal.status).toBe(200);
    });
  });

  describe('S-32 GET never changes state', () => {
    it('S-32 when an appeal link is opened with GET, valid or not, then no audit row and no rate-limit counter is written', async () => {
      const before = await snapshot(app.db, ['audit_event', 'rate_limit']);
      for (const token of ['x'.repeat(43), 'not-a-token', '']) {
        const page = await new Browser(app.url).get(`/recover/unit/appeal/link?token=${token}`);
        expect(page.status).toBe(400);
        expect(text(page)).toContain('链接');
      }
      expect(await snapshot(app.db, ['audit_event', 'rate_limit'])).toEqual(before);
    });
  });

  describe('S-36 client IP behind trusted proxies', () => {
    it('S-36 when a client writes its own X-Forwarded-For behind one trusted hop, then the IP counted is the one the proxy appended', async () => {
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.36' });
      const login = await browser.get('/account');
      const failed = await browser.submit(login, 'form#person-login', { account: 'nobody-s36', password: 'wrong password 36' });
      expect(failed.status).toBe(401);
      expect(await countRows(app.db, 'rate_limit', 'key = $1', ['login:ip:198.51.100.36'])).toBe(1);
      expect(await countRows(app.db, 'rate_limit', 'key = $1', ['login:ip:6.6.6.6'])).toBe(0);
    });

    it('S-36 when the trusted proxies are given as CIDRs, then the client IP is the rightmost address outside them, and headers from an untrusted peer are ignored', async () => {
      const behind = await startTestApp({ env: { TRUST_PROXY: '127.0.0.1/32, 10.0.0.0/8' } });
      try {
        const browser = new RecordingBrowser(behind.url, { 'X-Forwarded-For': '6.6.6.6, 192.0.2.77, 10.1.2.3' });
        const login = await browser.get('/account');
        await browser.submit(login, 'form#person-login', { account: 'nobody-cidr', password: 'wrong password 36' });
        expect(await countRows(behind.db, 'rate_limit', 'key = $1', ['login:ip:192.0.2.77'])).toBe(1);
        expect(await countRows(behind.db, 'rate_limit', "key LIKE 'login:ip:%'")).toBe(1);
      } finally {
        await behind.close();
      }
      const direct = await startTestApp({ env: { TRUST_PROXY: '10.0.0.0/8' } });
      try {
        // The test client (127.0.0.1) is not a trusted proxy: its X-Forwarded-For is ignored.
        const browser = new RecordingBrowser(direct.url, { 'X-Forwarded-For': '6.6.6.6' });
        const login = await browser.get('/account');
        await browser.submit(login, 'form#person-login', { account: 'nobody-direct', password: 'wrong password 36' });
        expect(await countRows(direct.db, 'rate_limit', "key LIKE 'login:ip:%6.6.6.6'")).toBe(0);
        expect(await countRows(direct.db, 'rate_limit', "key LIKE 'login:ip:%127.0.0.1'")).toBe(1);
      } finally {
        await direct.close();
      }
    });
  });

  describe('S-36 return paths', () => {
    it.each([
      '//evil.example/',
      '/%09/evil.example/',
      '/\t/evil.example/',
      '/\\evil.example',
      '/\\/evil.example',
      '/%2F%2Fevil.example',
      '/%2fevil.example',
      '/%5cevil.example',
      '/@evil.example',
      '/a@evil.example',
      'https://evil.example/',
      'evil.example',
      '/%0d%0aSet-Cookie:x=1',
      '/\r\nLocation: https://evil.example',
      '/ /evil.example',
      '/%252F%252Fevil.example',
      '/.%2e/%2e%2e/evil',
      '/a//b',
      '',
      'javascript:alert(1)',
      '/\u3000/evil.example',
    ])('S-36 when the language switch is given the return path %j, then it redirects to / instead', async (value) => {
      const response = await fetch(`${app.url}/lang?to=en&return=${encodeURIComponent(value)}`, { redirect: 'manual' });
      expect(response.status).toBe(302);
      expect(response.headers.get('location')).toBe('/');
    });

    it.each(['/account', '/unit/bindings?page=2', '/interaction/abc-DEF_123', '/a/b.c?x=%20y&z=1'])(
      'S-36 when the return path is the local path %j, then it is kept',
      async (value) => {
        const response = await fetch(`${app.url}/lang?to=en&return=${encodeURIComponent(value)}`, { redirect: 'manual' });
        expect(response.headers.get('location')).toBe(value);
      },
    );
  });
});
