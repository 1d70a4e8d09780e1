import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { clearThrottle, countRows, signInToAccount } from '../support/security.js';
import { enrolTotp, type TestAuthenticator } from '../support/second-factor.js';
import { currentStep, totpCode } from '../../src/shared/security/totp.js';
import { csrfFrom, csrfOn, postForm, setSignInAge } from '../support/unit-console.js';

const REAUTH_SECONDS = 60;

/**
 * Issue #18, item 1: a person's TOTP authenticator, enrolled and removed in the account centre after a fresh
 * sign-in (S-34), asked for after the password (amr pwd+otp, the multi-factor acr), single-use recovery codes stored
 * as digests, throttling like passwords (S-21, S-26) and audit entries.
 */
describe('TOTP second factor for persons (issue #18)', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp({ env: { REAUTH_SECONDS: String(REAUTH_SECONDS) } });
    config = await discover(app.issuer);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  async function enrolled(): Promise<{ person: TestPerson; authenticator: TestAuthenticator; recoveryCodes: string[] }> {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    const { authenticator, recoveryCodes } = await enrolTotp(browser);
    return { person, authenticator, recoveryCodes };
  }

  /** An RP sign-in up to the page after the password. */
  async function passwordStep(person: TestPerson, params: Record<string, string> = {}) {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, params);
    const login = await browser.get(authorization.url.toString());
    const second = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    return { browser, authorization, second };
  }

  it('S-34 when a person enrols an authenticator, then the page shows the QR code and key, a wrong code is refused readably, the right one turns it on with ten recovery codes stored only as digests, and the audit says so', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    const security = await browser.get('/account/security');
    expect(security.html.querySelector('#totp-status')?.text).toBe('未开启');
    const enrol = await browser.get('/account/security/totp');
    expect(enrol.status).toBe(200);
    expect(enrol.html.querySelector('img')?.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(enrol.html.querySelector('#totp-secret')?.text.replace(/\s+/g, '')).toMatch(/^[A-Z2-7]{32}$/);
    const wrong = await browser.submit(enrol, 'form#totp-confirm', { totp: '000000' });
    expect(wrong.status).toBe(400);
    expect(Browser.text(wrong)).toContain('动态口令错误，请重试。');
    const junk = await browser.submit(enrol, 'form#totp-confirm', { totp: 'abc' });
    expect(junk.status).toBe(400);

    const { recoveryCodes, page } = await enrolTotp(browser);
    expect(Browser.text(page)).toContain('已开启二次验证。');
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    for (const code of recoveryCodes) expect(code).toMatch(/^[A-Z2-9]{5}-[A-Z2-9]{5}$/);
    const { rows } = await app.db.query<{ code_hmac: string }>('SELECT code_hmac FROM person_recovery_code WHERE person_id = $1', [person.id]);
    expect(rows).toHaveLength(10);
    for (const row of rows) for (const code of recoveryCodes) expect(row.code_hmac).not.toContain(code.replace('-', ''));
    expect((await browser.get('/account/security')).html.querySelector('#totp-status')?.text).toBe('已开启');
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_enrol' AND outcome = 'success' AND target_id = $1", [person.id])).toBe(1);
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_enrol' AND outcome = 'failure' AND target_id = $1", [person.id])).toBeGreaterThanOrEqual(1);
    // Enrolled: the enrolment page is not offered again (remove first).
    const again = await browser.request('/account/security/totp');
    expect(again.status).toBe(303);
  });

  it('S-26 when 30 copies of the same right confirmation arrive at once (a double click, retries), then the authenticator is enrolled once with one set of recovery codes, and the other copies say it is already on instead of "wrong code"', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    const enrol = await browser.get('/account/security/totp');
    const secret = enrol.html.querySelector('#totp-secret')!.text.replace(/\s+/g, '');
    // The current step's code: valid for 30–60 s (±1 step), however slow 30 parallel requests are on a busy machine.
    const code = totpCode(secret, currentStep(new Date()));
    const csrf = csrfOn(enrol);
    const answers = await Promise.all(Array.from({ length: 30 }, () => postForm(browser, '/account/security/totp', csrf, [['totp', code]])));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(answers.filter((answer) => ![200, 303, 429].includes(answer.status)).map((answer) => Browser.text(answer).slice(0, 300))).toEqual([]);
    const shown = answers.find((answer) => answer.status === 200)!;
    expect(shown.html.querySelectorAll('#recovery-codes code')).toHaveLength(10);
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1', [person.id])).toBe(10);
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_enrol' AND outcome = 'success' AND target_id = $1", [person.id])).toBe(1);
    const copy = answers.find((answer) => answer.status === 303)!;
    expect(copy.headers.get('location')).toBe('/account/security?done=totp_already_enrolled');
    const security = await browser.get(copy.headers.get('location')!);
    expect(Browser.text(security)).toContain('身份验证器已启用。恢复码只显示一次；如未保存，请在下方重新生成恢复码。');
    expect(security.html.querySelector('form#renew-codes')).not.toBeNull();
  });

  it('when an enrolled person signs in to a business system, then the password alone issues no code, the TOTP completes it and the ID token says amr pwd+otp with the multi-factor acr', async () => {
    const { person, authenticator } = await enrolled();
    const { authorization, browser, second } = await passwordStep(person);
    expect(second.status).toBe(200);
    expect(second.headers.get('location')).toBeNull();
    expect(Browser.text(second)).toContain('您的账号已开启二次验证');
    const done = await browser.submit(second, 'form#second-factor', { code: await authenticator.code() });
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ sub: person.id, amr: ['pwd', 'otp'], acr: 'urn:unit-oidc:acr:mfa' });
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_verify' AND outcome = 'success' AND target_id = $1", [person.id])).toBe(1);
  });

  it('when a TOTP code is replayed or wrong, then the sign-in is refused with a readable message and no code reaches the RP', async () => {
    const { person, authenticator } = await enrolled();
    const { browser, second } = await passwordStep(person);
    const replay = await browser.submit(second, 'form#second-factor', { code: authenticator.replay() });
    expect(replay.status).toBe(400);
    expect(Browser.text(replay)).toContain('动态口令或恢复码错误，请重试。');
    expect(replay.headers.get('location')).toBeNull();
    const short = await browser.submit(second, 'form#second-factor', { code: '12' });
    expect(short.status).toBe(400);
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_verify' AND outcome = 'failure' AND target_id = $1", [person.id])).toBe(2);
  });

  it('when a recovery code is used, then it signs in once (amr otp), the audit records it with how many are left, and the same code is refused the second time', async () => {
    const { person, recoveryCodes } = await enrolled();
    const first = await passwordStep(person);
    const done = await first.browser.submit(first.second, 'form#second-factor', { code: recoveryCodes[0]!.toLowerCase() });
    const tokens = await redeem(config, first.authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ amr: ['pwd', 'otp'], acr: 'urn:unit-oidc:acr:mfa' });
    const { rows } = await app.db.query<{ detail: { left: number } }>("SELECT detail FROM audit_event WHERE action = 'person.recovery_code_used' AND target_id = $1", [person.id]);
    expect(rows.map((row) => row.detail.left)).toEqual([9]);
    const second = await passwordStep(person);
    const refused = await second.browser.submit(second.second, 'form#second-factor', { code: recoveryCodes[0]! });
    expect(refused.status).toBe(400);
    expect(Browser.text(refused)).toContain('动态口令或恢复码错误');
    const other = await second.browser.submit(second.second, 'form#second-factor', { code: recoveryCodes[1]!.replace('-', ' ') });
    expect(callbackOf(other).searchParams.get('code')).toBeTruthy();
  });

  it('S-21 S-26 when wrong second-factor codes are tried, then after five the person is locked out (429, readable) and even the right code is refused until the lockout ends; parallel guesses each count', async () => {
    const { person, authenticator } = await enrolled();
    const { browser, second } = await passwordStep(person);
    const csrf = second.html.querySelector('input[name="_csrf"]')!.getAttribute('value')!;
    const action = new URL(second.html.querySelector('form#second-factor')!.getAttribute('action')!, second.url).toString();
    const guesses = await Promise.all(['111111', '222222', '333333', '444444', '555555', '666666', '777777'].map((code) => postForm(browser, action, csrf, [['code', code]])));
    expect(guesses.filter((page) => page.status === 400)).toHaveLength(5);
    expect(guesses.filter((page) => page.status === 429)).toHaveLength(2);
    const right = await postForm(browser, action, csrf, [['code', await authenticator.code()]]);
    expect(right.status).toBe(429);
    // The wait of the one-minute lockout, in the words of the rate-limit messages (issue #14): “1分钟”, or seconds once under a minute.
    expect(Browser.text(right)).toMatch(/登录失败次数过多，请(\d+秒|1分钟)后再试。/);
    const retryAfter = Number(right.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(right.headers.get('location')).toBeNull();
  });

  it('S-34 when the sign-in is old, then removing the authenticator asks for the password and second factor again; after a fresh sign-in it is removed, the recovery codes stop working and the next sign-in is password-only (acr pwd)', async () => {
    const { person, authenticator } = await enrolled();
    const browser = new Browser(app.url);
    const login = await browser.get('/account');
    const second = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    const home = await browser.submit(second, 'form#second-factor', { code: await authenticator.code() });
    expect(new URL(home.url).pathname).toBe('/account');
    const csrf = await csrfFrom(browser, '/account/security');
    expect(await setSignInAge(app.db, { kind: 'person', id: person.id }, REAUTH_SECONDS + 60)).toBeGreaterThanOrEqual(1);
    const stale = await postForm(browser, '/account/security/totp/remove', csrf, []);
    expect(stale.status).toBe(401);
    expect(await app.app.services.mfa.enrolled(person.id)).toBe(true);
    // The re-authentication: the password of the same person, then the second factor.
    const reauth = await browser.get('/console/login?kind=person&reauth=1&return=/account/security');
    const again = await browser.submit(reauth, 'form#person-login', { password: person.password });
    expect(again.html.querySelector('form#second-factor')).not.toBeNull();
    const back = await browser.submit(again, 'form#second-factor', { code: await authenticator.code() });
    expect(new URL(back.url).pathname).toBe('/account/security');
    const removed = await browser.submit(back, 'form#remove-totp');
    expect(Browser.text(removed)).toContain('已解除身份验证器绑定，登录只需密码。');
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1', [person.id])).toBe(0);
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_remove' AND target_id = $1", [person.id])).toBe(1);
    expect(await app.app.services.mfa.enrolled(person.id)).toBe(false);

    const plain = new Browser(app.url);
    const authorization = await authorizationUrl(config);
    const page = await plain.submit(await plain.get(authorization.url.toString()), 'form#person-login', { account: person.loginName, password: person.password });
    const tokens = await redeem(config, authorization, callbackOf(page));
    expect(tokens.claims()).toMatchObject({ amr: ['pwd'], acr: 'urn:unit-oidc:acr:pwd' });
  });
});
