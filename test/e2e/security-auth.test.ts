import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { loadConfig } from '../../src/config/env.js';
import { createServices } from '../../src/services.js';
import { seedDemoData } from '../../src/modules/demo/seed.js';
import { createLogger } from '../../src/shared/logger.js';
import { openDatabase } from '../../src/shared/db/database.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPostgresDatabase, createTestDatabase } from '../support/database.js';
import { testClientsFile } from '../support/fixtures.js';
import { createPerson, lastCode, mobile, type TestPerson } from '../support/people.js';
import { startServerProcess } from '../support/process.js';
import { authorizationUrl, callbackOf, discover, redeem, signIn } from '../support/rp.js';
import { clearThrottle, countRows, median, RecordingBrowser, signInOperator, signInToAccount } from '../support/security.js';
import { jobsSettled } from '../support/jobs.js';

const LOCKED = '登录失败次数过多';
const WRONG = '账号或密码错误。';
const CODE_INVALID = '验证码错误或已失效，请重新获取。';
const TOO_SHORT = '密码至少需要8个字符。';
const TOO_LONG = '密码不能超过128个字符。';
const COMMON = '该密码过于常见，容易被猜到，请换一个。';

/** A password of exactly `length` characters with no dictionary word, repetition or identity in it. */
function passwordOf(length: number): string {
  let out = '';
  while (out.length < length) out += crypto.randomBytes(96).toString('base64url').replace(/[-_]/g, '');
  return out.slice(0, length);
}

/** Refused by S-20 whatever the account: 7 and 129 characters, and common or breached passwords. */
const REFUSED: [string, string][] = [
  [passwordOf(7), TOO_SHORT],
  [passwordOf(129), TOO_LONG],
  ['password1', COMMON],
  ['Password1', COMMON],
  ['iloveyou', COMMON],
  ['12345678', COMMON],
  ['qwertyuiop', COMMON],
  ['woaini1314', COMMON],
  ['1qaz2wsx', COMMON],
];

const text = (page: Page) => Browser.text(page);

describe('authentication and recovery (S-20 … S-25)', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    // TRUST_PROXY lets single tests act from their own client IP (X-Forwarded-For) without touching the others.
    app = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    config = await discover(app.issuer);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  const services = () => app.app.services;
  const hashOf = async (id: string) => (await app.db.query<{ password_hash: string }>('SELECT password_hash FROM person WHERE id = $1', [id])).rows[0]?.password_hash;

  async function registrationStep(browser: Browser, phone: string): Promise<Page> {
    const start = await browser.get('/register');
    const step = await browser.submit(start, 'form[action="/register/code"]', { mobile: phone });
    expect(step.status).toBe(200);
    return step;
  }

  async function recoveryStep(browser: Browser, account: string): Promise<Page> {
    const start = await browser.get('/recover/person');
    return browser.submit(start, 'form[action="/recover/person/code"]', { account });
  }

  describe('S-20', () => {
    it('S-20 at registration, passwords of 8 and 128 characters are accepted; 7, 129 and common or breached ones are refused in Chinese', async () => {
      for (const length of [8, 128]) {
        const browser = new Browser(app.url);
        const phone = mobile();
        const step = await registrationStep(browser, phone);
        const code = await lastCode(app.db, phone);
        const loginName = `reg${crypto.randomBytes(4).toString('hex')}`;
        for (const [password, message] of REFUSED) {
          const refused = await browser.submit(step, 'form[action="/register"]', { code, loginName, password, passwordConfirm: password, agree: 'yes' });
          expect({ password, status: refused.status }).toEqual({ password, status: 400 });
          expect(text(refused)).toContain(message);
          expect(await countRows(app.db, 'person', 'lower(login_name) = lower($1)', [loginName])).toBe(0);
        }
        const password = passwordOf(length);
        const done = await browser.submit(step, 'form[action="/register"]', { code, loginName, password, passwordConfirm: password, agree: 'yes' });
        expect(done.status).toBe(200);
        expect(text(done)).toContain('注册成功，您已登录。');
        expect(new URL(done.url).pathname).toBe('/account');
        const person = await services().persons.byAccount(loginName);
        expect(person).toBeDefined();
        expect(await services().hasher.verify((await hashOf(person!.id))!, password)).toBe(true);
      }
    });

    it('S-20 at password change (/account/password), 7, 129 and common passwords are refused and the password stays; 128 and 8 are accepted', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      await signInToAccount(browser, person.loginName, person.password);
      const form = await browser.get('/account/password');
      const before = await hashOf(person.id);
      for (const [password, message] of REFUSED) {
        const refused = await browser.submit(form, 'form[action="/account/password"]', { currentPassword: person.password, password, passwordConfirm: password });
        expect({ password, status: refused.status }).toEqual({ password, status: 400 });
        expect(text(refused)).toContain(message);
        expect(await hashOf(person.id)).toBe(before);
      }
      let current = person.password;
      for (const length of [128, 8]) {
        const password = passwordOf(length);
        const page = await browser.get('/account/password');
        const done = await browser.submit(page, 'form[action="/account/password"]', { currentPassword: current, password, passwordConfirm: password });
        expect(done.status).toBe(200);
        expect(new URL(done.url).pathname).toBe('/account');
        expect(text(done)).toContain('密码已修改');
        expect(await services().hasher.verify((await hashOf(person.id))!, password)).toBe(true);
        current = password;
      }
    });

    it('S-20 at password reset (/recover/person), 7, 129 and common passwords are refused and the code stays usable; 8 and 128 are accepted', async () => {
      const person = await createPerson(services());
      for (const length of [8, 128]) {
        await clearThrottle(app.db); // one code per minute and number: the second round stands for a later minute
        const browser = new Browser(app.url);
        const step = await recoveryStep(browser, person.loginName);
        expect(step.status).toBe(200);
        const code = await lastCode(app.db, person.mobile);
        const before = await hashOf(person.id);
        for (const [password, message] of REFUSED) {
          const refused = await browser.submit(step, 'form[action="/recover/person"]', { code, password, passwordConfirm: password });
          expect({ password, status: refused.status }).toEqual({ password, status: 400 });
          expect(text(refused)).toContain(message);
          expect(await hashOf(person.id)).toBe(before);
        }
        const password = passwordOf(length);
        const done = await browser.submit(step, 'form[action="/recover/person"]', { code, password, passwordConfirm: password });
        expect(done.status).toBe(200);
        expect(text(done)).toContain('密码已重置，请使用新密码登录。');
        expect(await services().hasher.verify((await hashOf(person.id))!, password)).toBe(true);
      }
    });
  });

  describe('S-21', () => {
    async function lockRow(key: string) {
      const { rows } = await app.db.query<{ locked_until: Date | null; lockouts: number; now: Date }>(
        'SELECT locked_until, lockouts, now() AS now FROM rate_limit WHERE key = $1',
        [key],
      );
      return rows[0];
    }

    it('S-21 when five wrong passwords are tried, then the account is locked for a while and the lock is shared by instances', async () => {
      const database = await createTestDatabase();
      const first = await startTestApp({ database });
      const second = await startTestApp({ database });
      try {
        const person = await createPerson(first.app.services);
        const one = new Browser(first.url);
        const two = new Browser(second.url);
        let pageOne = await one.get('/account');
        let pageTwo = await two.get('/account');
        // Five failures, spread over both instances: 3 on the first, 2 on the second.
        for (const [browser, which] of [
          [one, 1],
          [two, 2],
          [one, 1],
          [two, 2],
          [one, 1],
        ] as const) {
          const page = await browser.submit(which === 1 ? pageOne : pageTwo, 'form#person-login', { account: person.loginName, password: 'wrong password 123' });
          expect(page.status).toBe(401);
          expect(text(page)).toContain(WRONG);
          if (which === 1) pageOne = page;
          else pageTwo = page;
        }
        // Locked on both instances, even with the right password.
        for (const [browser, page] of [
          [one, pageOne],
          [two, pageTwo],
        ] as const) {
          const refused = await browser.submit(page, 'form#person-login', { account: person.loginName, password: person.password });
          expect(refused.status).toBe(429);
          expect(text(refused)).toContain(LOCKED);
          expect(new URL(refused.url).pathname).not.toBe('/account');
        }
        const { rows } = await database.db.query<{ locked_until: Date; now: Date }>('SELECT locked_until, now() AS now FROM rate_limit WHERE key = $1', [
          `login:person:${person.id}`,
        ]);
        expect(rows).toHaveLength(1);
        const seconds = (rows[0]!.locked_until.getTime() - rows[0]!.now.getTime()) / 1000;
        expect(seconds).toBeGreaterThan(0);
        expect(seconds).toBeLessThanOrEqual(15 * 60);

        // The lock expires (the clock is simulated by moving locked_until into the past): the right password works.
        await database.db.query("UPDATE rate_limit SET locked_until = now() - interval '1 second' WHERE key LIKE 'login:%'");
        const fresh = await two.get('/account');
        const signedIn = await two.submit(fresh, 'form#person-login', { account: person.loginName, password: person.password });
        expect(signedIn.status).toBe(200);
        expect(new URL(signedIn.url).pathname).toBe('/account');
      } finally {
        await first.close();
        await second.close();
        await database.drop();
      }
    });

    it('S-21 a lockout is never permanent: the first lasts about a minute, repeated ones double and never exceed 15 minutes', async () => {
      const person = await createPerson(services());
      const key = `login:person:${person.id}`;
      const browser = new Browser(app.url);
      const lockOnce = async () => {
        let page = await browser.get('/account');
        for (let i = 0; i < 5; i += 1) page = await browser.submit(page, 'form#person-login', { account: person.loginName, password: `wrong-${i}-password` });
        const row = await lockRow(key);
        expect(row?.locked_until).toBeTruthy();
        return (row!.locked_until!.getTime() - row!.now.getTime()) / 1000;
      };
      const firstLock = await lockOnce();
      expect(firstLock).toBeGreaterThan(30);
      expect(firstLock).toBeLessThanOrEqual(61);
      await app.db.query("UPDATE rate_limit SET locked_until = now() - interval '1 second' WHERE key = $1", [key]);
      const secondLock = await lockOnce();
      expect(secondLock).toBeGreaterThan(firstLock);
      // An attacker who keeps failing for hours: many lockouts later the lock is still at most 15 minutes.
      await app.db.query("UPDATE rate_limit SET locked_until = now() - interval '1 second', lockouts = 40 WHERE key = $1", [key]);
      const longLock = await lockOnce();
      expect(longLock).toBeGreaterThan(60);
      expect(longLock).toBeLessThanOrEqual(15 * 60 + 1);
      // And once it is over, the victim signs in.
      await app.db.query("UPDATE rate_limit SET locked_until = now() - interval '1 second' WHERE key = $1", [key]);
      await signInToAccount(new Browser(app.url), person.loginName, person.password);
    });

    it('S-21 the account lock counts failures by account, whether the login name or the mobile number was typed', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      let page = await browser.get('/account');
      for (const account of [person.loginName, person.mobile, person.loginName.toUpperCase(), person.mobile, person.loginName]) {
        page = await browser.submit(page, 'form#person-login', { account, password: 'wrong password 456' });
        expect(page.status).toBe(401);
      }
      const refused = await browser.submit(page, 'form#person-login', { account: person.mobile, password: person.password });
      expect(refused.status).toBe(429);
      expect(text(refused)).toContain(LOCKED);
    });

    it('S-21 failures are counted per client IP across accounts: 50 from one IP lock that IP, not the others', async () => {
      const person = await createPerson(services());
      const sprayer = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.50' });
      let page = await sprayer.get('/account');
      for (let i = 0; i < 50; i += 1) {
        page = await sprayer.submit(page, 'form#person-login', { account: `nobody${i}x${crypto.randomBytes(3).toString('hex')}`, password: 'Spray-Password-1' });
        expect(page.status).toBe(401);
      }
      const ipRow = await lockRow('login:ip:203.0.113.50');
      expect(ipRow?.locked_until?.getTime()).toBeGreaterThan(ipRow!.now.getTime());
      // The right password of a real person, from the sprayer's IP: refused while the IP is locked …
      const fromSprayer = await sprayer.submit(page, 'form#person-login', { account: person.loginName, password: person.password });
      expect(fromSprayer.status).toBe(429);
      expect(text(fromSprayer)).toContain(LOCKED);
      // … while the person, from another IP, signs in.
      const elsewhere = new RecordingBrowser(app.url, { 'X-Forwarded-For': '198.51.100.7' });
      await signInToAccount(elsewhere, person.loginName, person.password);
    });

    it('S-21 verification codes are rate-limited per mobile number and per IP, in the database', async () => {
      const phone = mobile();
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.60' });
      await registrationStep(browser, phone);
      const again = await browser.submit(await browser.get('/register'), 'form[action="/register/code"]', { mobile: phone });
      expect(again.status).toBe(429);
      expect(text(again)).toMatch(/操作过于频繁，请(\d+秒|1分钟)后再试。/);
      expect(await countRows(app.db, 'notification_outbox', 'recipient = $1', [phone])).toBe(1);
      // At most 20 code requests an hour from one IP, whatever the numbers.
      let sent = 1;
      let limited: { page: Page; phone: string } | undefined;
      for (let i = 0; i < 25 && !limited; i += 1) {
        const phone = mobile();
        const page = await browser.submit(await browser.get('/register'), 'form[action="/register/code"]', { mobile: phone });
        if (page.status === 429) limited = { page, phone };
        else sent += 1;
      }
      expect(limited).toBeDefined();
      expect(sent).toBeLessThanOrEqual(20);
      expect(sent).toBeGreaterThanOrEqual(10);
      expect(text(limited!.page)).toContain('操作过于频繁，请60分钟后再试。');
      expect(await countRows(app.db, 'notification_outbox', 'recipient = $1', [limited!.phone])).toBe(0);
      expect(await countRows(app.db, 'rate_limit', "key = 'otp:ip:203.0.113.60'")).toBe(1);
    });
  });

  describe('S-22', () => {
    it('S-22 an unknown login name and a wrong password get the same status and page, and take comparable time (dummy argon2)', async () => {
      const person = await createPerson(services());
      const browser = new Browser(app.url);
      const page = await browser.get('/account');
      const uid = new URL(page.url).pathname.split('/')[2]!;
      const attempt = async (account: string) => {
        await clearThrottle(app.db);
        const started = performance.now();
        const result = await browser.submit(page, 'form#person-login', { account, password: 'not the password 1' });
        const ms = performance.now() - started;
        const html = result.body
          .replaceAll(account, 'ACCOUNT')
          .replaceAll(uid, 'UID')
          .replace(/name="_csrf" value="[^"]*"/g, '');
        return { status: result.status, text: text(result).replaceAll(account, 'ACCOUNT'), html, ms };
      };
      const unknownName = () => `nobody${crypto.randomBytes(4).toString('hex')}`;
      // Warm up both paths (the dummy hash is created on first use).
      await attempt(person.loginName);
      await attempt(unknownName());
      const known: number[] = [];
      const unknown: number[] = [];
      for (let round = 0; round < 9; round += 1) {
        // Alternate the order so that neither case always runs first.
        let a: Awaited<ReturnType<typeof attempt>>;
        let b: Awaited<ReturnType<typeof attempt>>;
        if (round % 2 === 0) {
          a = await attempt(person.loginName);
          b = await attempt(unknownName());
        } else {
          b = await attempt(unknownName());
          a = await attempt(person.loginName);
        }
        expect(b.status).toBe(a.status);
        expect(a.status).toBe(401);
        expect(b.text).toBe(a.text);
        expect(b.html).toBe(a.html);
        expect(a.text).toContain(WRONG);
        known.push(a.ms);
        unknown.push(b.ms);
      }
      // Without the dummy verification the unknown case would skip argon2 (tens of ms) and be far faster.
      const timing = { knownMs: median(known), unknownMs: median(unknown), ratio: median(unknown) / median(known) };
      expect(timing.ratio >= 0.5 ? 'comparable' : timing).toBe('comparable');
    });

    const normalise = (page: Page) => ({
      status: page.status,
      text: text(page),
      // The account field echoes what the person typed; that reveals nothing.
      html: page.body
        .replace(/name="challenge" value="[^"]*"/g, '')
        .replace(/name="_csrf" value="[^"]*"/g, '')
        .replace(/(name="account" type="text" value=")[^"]*"/g, '$1"'),
    });

    it('S-22 password recovery gives the same response for an unknown and an existing account', async () => {
      const person = await createPerson(services());
      const existing = await recoveryStep(new Browser(app.url), person.loginName);
      const unknown = await recoveryStep(new Browser(app.url), `nobody${crypto.randomBytes(4).toString('hex')}`);
      expect(normalise(unknown)).toEqual(normalise(existing));
      expect(existing.status).toBe(200);
      expect(text(existing)).toContain('如果该账号存在且已绑定手机，验证码已发送至该手机');
      const byMobile = await recoveryStep(new Browser(app.url), '13912345678');
      expect(normalise(byMobile)).toEqual(normalise(existing));
    });

    it('S-22 password recovery asked twice within a minute answers the same for an unknown and an existing account', async () => {
      const person = await createPerson(services());
      const unknownName = `nobody${crypto.randomBytes(4).toString('hex')}`;
      await recoveryStep(new Browser(app.url), person.loginName);
      await recoveryStep(new Browser(app.url), unknownName);
      const existingAgain = await recoveryStep(new Browser(app.url), person.loginName);
      const unknownAgain = await recoveryStep(new Browser(app.url), unknownName);
      expect(normalise(existingAgain)).toEqual(normalise(unknownAgain));
    });

    it('S-22 registration answers the same for a new and an already registered mobile number; the registered one is told so by SMS', async () => {
      const person = await createPerson(services());
      const fresh = mobile();
      const masked = (phone: string) => `${phone.slice(0, 3)}****${phone.slice(-4)}`;
      const shape = (page: Page, phone: string) => ({
        status: page.status,
        text: text(page).replaceAll(masked(phone), 'MASKED'),
        html: page.body
          .replaceAll(masked(phone), 'MASKED')
          .replaceAll(phone, 'PHONE')
          .replace(/name="challenge" value="[^"]*"/g, '')
          .replace(/name="_csrf" value="[^"]*"/g, ''),
      });
      const codesBefore = await countRows(app.db, 'one_time_code');
      const forNew = await registrationStep(new Browser(app.url), fresh);
      const forTaken = await registrationStep(new Browser(app.url), person.mobile);
      expect(shape(forTaken, person.mobile)).toEqual(shape(forNew, fresh));
      await jobsSettled(app.db);
      const body = async (phone: string) =>
        (await app.db.query<{ body: string; template: string }>('SELECT body, template FROM notification_outbox WHERE recipient = $1 ORDER BY created_at DESC LIMIT 1', [phone]))
          .rows[0];
      expect((await body(fresh))?.body).toMatch(/\d{6}/);
      const told = await body(person.mobile);
      expect(told?.body).toContain('该号码已注册');
      expect(told?.body).not.toMatch(/\d{6}/);
      // Only the new number got a code.
      expect(await countRows(app.db, 'one_time_code')).toBe(codesBefore + 1);
      expect(await countRows(app.db, 'one_time_code', 'destination = $1', [person.mobile])).toBe(0);
    });

    it('S-22 once a client IP has used up its code requests, a registered mobile number is refused like a new one (no SMS, same answer)', async () => {
      const person = await createPerson(services());
      const browser = new RecordingBrowser(app.url, { 'X-Forwarded-For': '203.0.113.70' });
      const ask = async (phone: string) => browser.submit(await browser.get('/register'), 'form[action="/register/code"]', { mobile: phone });
      let limited: Page | undefined;
      for (let i = 0; i < 25 && !limited; i += 1) {
        const page = await ask(mobile());
        if (page.status === 429) limited = page;
      }
      expect(limited).toBeDefined();
      const fresh = mobile();
      const sentBefore = await countRows(app.db, 'notification_outbox', 'recipient = $1', [person.mobile]);
      const forNew = await ask(fresh);
      const forTaken = await ask(person.mobile);
      const shape = (page: Page, phone: string) => ({ status: page.status, text: text(page).replaceAll(phone, 'PHONE') });
      expect(shape(forTaken, person.mobile)).toEqual(shape(forNew, fresh));
      expect(await countRows(app.db, 'notification_outbox', 'recipient = $1', [person.mobile])).toBe(sentBefore);
    });
  });

  describe('S-23', () => {
    async function registrationCode(browser: Browser, phone: string) {
      const step = await registrationStep(browser, phone);
      const code = await lastCode(app.db, phone);
      const challenge = step.html.querySelector('input[name="challenge"]')!.getAttribute('value')!;
      return { step, code, challenge };
    }
    const tryRegister = (browser: Browser, step: Page, values: Record<string, string>) => {
      const password = passwordOf(16);
      return browser.submit(step, 'form[action="/register"]', {
        loginName: `otp${crypto.randomBytes(4).toString('hex')}`,
        password,
        passwordConfirm: password,
        agree: 'yes',
        ...values,
      });
    };

    it('S-23 one-time codes are 6 digits stored only as a keyed hash, never in plain text', async () => {
      const phone = mobile();
      const { code, challenge } = await registrationCode(new Browser(app.url), phone);
      expect(code).toMatch(/^\d{6}$/);
      const { rows } = await app.db.query<{ row: string; code_hmac: string }>('SELECT t::text AS row, code_hmac FROM one_time_code t WHERE id = $1', [challenge]);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.row).not.toContain(code);
      expect(rows[0]!.code_hmac.length).toBeGreaterThanOrEqual(32);
      // Not an unkeyed hash either (a million codes are hashed in a second).
      for (const algorithm of ['sha256', 'sha1', 'md5']) {
        for (const input of [code, `${challenge}:${code}`]) {
          for (const encoding of ['hex', 'base64', 'base64url'] as const) {
            expect(rows[0]!.code_hmac).not.toBe(crypto.createHash(algorithm).update(input).digest(encoding));
          }
        }
      }
    });

    it('S-23 a code works once', async () => {
      const browser = new Browser(app.url);
      const { step, code } = await registrationCode(browser, mobile());
      const first = await tryRegister(browser, step, { code });
      expect(first.status).toBe(200);
      expect(text(first)).toContain('注册成功');
      const personsBefore = await countRows(app.db, 'person');
      const again = await tryRegister(browser, step, { code });
      expect(again.status).toBe(400);
      expect(text(again)).toContain(CODE_INVALID);
      expect(await countRows(app.db, 'person')).toBe(personsBefore);
    });

    it('S-23 a code is bound to its mobile number: the code sent to A does not register B', async () => {
      const browser = new Browser(app.url);
      const a = mobile();
      const b = mobile();
      const forA = await registrationCode(browser, a);
      const forB = await registrationCode(new Browser(app.url), b);
      const personsBefore = await countRows(app.db, 'person');
      const swapped = await tryRegister(browser, forA.step, { code: forA.code, mobile: b });
      expect(swapped.status).toBe(400);
      expect(text(swapped)).toContain(CODE_INVALID);
      const crossed = await tryRegister(browser, forA.step, { code: forA.code, challenge: forB.challenge, mobile: b });
      expect(crossed.status).toBe(400);
      expect(await countRows(app.db, 'person')).toBe(personsBefore);
      expect(await countRows(app.db, 'person', 'mobile = $1', [b])).toBe(0);
      // The code still works for the number it was sent to.
      const own = await tryRegister(browser, forA.step, { code: forA.code });
      expect(own.status).toBe(200);
      expect(await countRows(app.db, 'person', 'mobile = $1', [a])).toBe(1);
    });

    it('S-23 an expired code is refused', async () => {
      const browser = new Browser(app.url);
      const phone = mobile();
      const { step, code, challenge } = await registrationCode(browser, phone);
      await app.db.query("UPDATE one_time_code SET expires_at = now() - interval '1 second' WHERE id = $1", [challenge]);
      const late = await tryRegister(browser, step, { code });
      expect(late.status).toBe(400);
      expect(text(late)).toContain(CODE_INVALID);
      expect(await countRows(app.db, 'person', 'mobile = $1', [phone])).toBe(0);
    });

    it('S-23 after 5 wrong codes even the right code is refused', async () => {
      const browser = new Browser(app.url);
      const phone = mobile();
      const { step, code, challenge } = await registrationCode(browser, phone);
      for (let i = 0; i < 5; i += 1) {
        const wrong = String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0');
        const page = await tryRegister(browser, step, { code: wrong });
        expect(page.status).toBe(400);
        expect(text(page)).toContain(CODE_INVALID);
      }
      const right = await tryRegister(browser, step, { code });
      expect(right.status).toBe(400);
      expect(text(right)).toContain(CODE_INVALID);
      expect(await countRows(app.db, 'person', 'mobile = $1', [phone])).toBe(0);
      expect(await countRows(app.db, 'one_time_code', 'id = $1 AND consumed_at IS NULL', [challenge])).toBe(1);
    });

    it('S-23 password-reset codes are bound to their person and single use as well', async () => {
      const person = await createPerson(services());
      const other = await createPerson(services());
      const browser = new Browser(app.url);
      const step = await recoveryStep(browser, person.loginName);
      const code = await lastCode(app.db, person.mobile);
      const otherStep = await recoveryStep(new Browser(app.url), other.loginName);
      const otherChallenge = otherStep.html.querySelector('input[name="challenge"]')!.getAttribute('value')!;
      const password = passwordOf(20);
      const crossed = await browser.submit(step, 'form[action="/recover/person"]', { code, challenge: otherChallenge, password, passwordConfirm: password });
      expect(crossed.status).toBe(400);
      expect(await services().hasher.verify((await hashOf(other.id))!, other.password)).toBe(true);
      const done = await browser.submit(step, 'form[action="/recover/person"]', { code, password, passwordConfirm: password });
      expect(done.status).toBe(200);
      const replay = await browser.submit(step, 'form[action="/recover/person"]', { code, password: `${password}x`, passwordConfirm: `${password}x` });
      expect(replay.status).toBe(400);
      expect(text(replay)).toContain(CODE_INVALID);
      expect(await services().hasher.verify((await hashOf(person.id))!, password)).toBe(true);
    });
  });

  describe('S-24', () => {
    interface SignedIn {
      browser: Browser;
      tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    }

    async function signInRp(person: TestPerson, browser = new Browser(app.url)): Promise<SignedIn> {
      const authorization = await authorizationUrl(config);
      const callback = await signIn(browser, authorization, person.loginName, person.password);
      const tokens = await redeem(config, authorization, callback);
      expect(tokens.refresh_token).toBeDefined();
      return { browser, tokens };
    }
    async function silent(browser: Browser): Promise<URL> {
      const authorization = await authorizationUrl(config, { prompt: 'none' });
      return callbackOf(await browser.get(authorization.url.toString()));
    }
    const refreshError = async (refreshToken: string) => {
      try {
        await client.refreshTokenGrant(config, refreshToken);
        return 'refreshed';
      } catch (error) {
        return (error as { error?: string }).error ?? String(error);
      }
    };
    const sessions = (personId: string) => countRows(app.db, 'oidc_model', "model = 'Session' AND account_id = $1", [personId]);

    it('S-24 when a person changes the password, then the other sessions and refresh tokens end and the current session stays', async () => {
      const person = await createPerson(services());
      const here = await signInRp(person);
      const there = await signInRp(person);
      await signInToAccount(here.browser, person.loginName, person.password); // SSO: no password asked again
      expect(await sessions(person.id)).toBe(2);

      const form = await here.browser.get('/account/password');
      const password = passwordOf(20);
      const done = await here.browser.submit(form, 'form[action="/account/password"]', { currentPassword: person.password, password, passwordConfirm: password });
      expect(new URL(done.url).pathname).toBe('/account');
      expect(text(done)).toContain('其他设备上的登录已退出');

      // The other browser: no session any more, its refresh token is dead.
      expect((await silent(there.browser)).searchParams.get('error')).toBe('login_required');
      expect(await refreshError(there.tokens.refresh_token!)).toBe('invalid_grant');
      // This browser: still signed in.
      expect(await sessions(person.id)).toBe(1);
      const stay = await here.browser.get('/account');
      expect(new URL(stay.url).pathname).toBe('/account');
      expect(stay.status).toBe(200);
      const again = await silent(here.browser);
      expect(again.searchParams.get('error')).toBeNull();
      expect(again.searchParams.get('code')).toBeTruthy();
    });

    it('S-24 when a person resets the password, then every session and refresh token ends', async () => {
      const person = await createPerson(services());
      const one = await signInRp(person);
      const two = await signInRp(person);
      const browser = new Browser(app.url);
      const step = await recoveryStep(browser, person.loginName);
      const password = passwordOf(20);
      const done = await browser.submit(step, 'form[action="/recover/person"]', { code: await lastCode(app.db, person.mobile), password, passwordConfirm: password });
      expect(done.status).toBe(200);
      for (const signedIn of [one, two]) {
        expect((await silent(signedIn.browser)).searchParams.get('error')).toBe('login_required');
        expect(await refreshError(signedIn.tokens.refresh_token!)).toBe('invalid_grant');
      }
      expect(await sessions(person.id)).toBe(0);
    });

    it('S-24 when an operator disables a person, then every session and grant ends (refresh invalid_grant, userinfo 401)', async () => {
      const person = await createPerson(services());
      const signedIn = await signInRp(person);
      await signInToAccount(signedIn.browser, person.loginName, person.password);
      const counter = new Browser(app.url);
      await signInOperator(app, counter);
      const personPage = await counter.get(`/operator/persons/${person.id}`);
      const done = await counter.submit(personPage, `form[action="/operator/persons/${person.id}/disable"]`);
      expect(done.status).toBe(200);
      expect((await services().persons.byId(person.id))?.status).toBe('disabled');

      expect(await refreshError(signedIn.tokens.refresh_token!)).toBe('invalid_grant');
      const userinfo = await fetch(config.serverMetadata().userinfo_endpoint!, { headers: { authorization: `Bearer ${signedIn.tokens.access_token}` } });
      expect(userinfo.status).toBe(401);
      expect((await silent(signedIn.browser)).searchParams.get('error')).toBe('login_required');
      const account = await signedIn.browser.get('/account');
      expect(new URL(account.url).pathname).toMatch(/^\/interaction\//);
      expect(await sessions(person.id)).toBe(0);
      expect(await countRows(app.db, 'oidc_model', "model IN ('Grant', 'RefreshToken', 'AccessToken') AND account_id = $1", [person.id])).toBe(0);
    });
  });

  describe('S-25', () => {
    const production = { NODE_ENV: 'production', ISSUER: 'https://id.example.test', SMS_GATEWAY_URL: 'https://sms.example.test/send' };

    it('S-25 in production, DEMO_DATA is refused, is off by default, and seeding demo data throws and writes nothing', async () => {
      expect(() => loadConfig({ ...production, DEMO_DATA: 'true' })).toThrow(/DEMO_DATA/);
      expect(loadConfig(production).demoData).toBe(false);
      expect(loadConfig({ NODE_ENV: 'development' }).demoData).toBe(true);

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-s25-'));
      const database = await createTestDatabase();
      try {
        const prodConfig = loadConfig({ ...production, DATA_DIR: dir });
        const prodServices = createServices({ config: prodConfig, db: database.db, catalog: app.catalog, dataKey: crypto.randomBytes(32), logger: createLogger('silent') });
        await expect(seedDemoData(prodServices)).rejects.toThrow(/production/);
        expect(await countRows(database.db, 'person')).toBe(0);
        expect(await countRows(database.db, 'operator')).toBe(0);
        expect(fs.readdirSync(dir)).toEqual([]);
      } finally {
        await database.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('S-25 a server started with NODE_ENV=production seeds nobody: no demo person, no demo operator, no demo password', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-s25p-'));
      fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
      const postgres = process.env.TEST_DATABASE_URL ? await createPostgresDatabase() : undefined;
      const env: Record<string, string> = {
        ...production,
        KEYS_AUTO_GENERATE: 'true',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        CERTS_DIR: path.join(dir, 'certs'),
        DATA_DIR: path.join(dir, 'data'),
        CLIENTS_FILE: path.join(dir, 'clients.json'),
        ...(postgres ? { DATABASE_URL: postgres.url } : {}),
      };
      const server = await startServerProcess(env);
      try {
        const browser = new Browser(server.url);
        const login = await browser.get(
          `/auth?${new URLSearchParams({
            client_id: 'test-rp',
            response_type: 'code',
            scope: 'openid',
            redirect_uri: 'http://rp.test/cb',
            code_challenge: 'x'.repeat(43),
            code_challenge_method: 'S256',
            state: 'state-1234',
          })}`,
        );
        const page = await browser.submit(login, 'form#person-login', { account: 'zhangsan', password: 'Demo-anything-1' });
        expect(page.status).toBe(401);
        expect(text(page)).toContain(WRONG);
      } finally {
        expect(await server.stop()).toBe(0);
      }
      try {
        expect(server.stdout()).not.toContain('demo accounts');
        expect(fs.existsSync(path.join(dir, 'data', 'demo-password.txt'))).toBe(false);
        const db = await openDatabase(postgres ? { url: postgres.url } : { url: undefined, dataDir: path.join(dir, 'data') });
        try {
          expect(await countRows(db, 'person')).toBe(0);
          expect(await countRows(db, 'operator')).toBe(0);
        } finally {
          await db.close();
        }
      } finally {
        await postgres?.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
