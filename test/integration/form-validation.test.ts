import { translate, type Locale, type MessageKey } from '../../src/shared/i18n/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { RP_REDIRECT, TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { INTERNALS, signInOperator, signInToAccount } from '../support/security.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { csrfFrom, fingerprint, postForm, SLOW_MS } from '../support/unit-console.js';

/**
 * One DTO per use case for the HTML form and the JSON API (issue #13): every failing field is reported at once
 * (the message next to each field, the values kept as typed), and an over-long value is refused with the field's
 * real limit instead of being cut (R-P3 “never truncated”, R-U4, S-53). Real HTTP app, real database.
 */
describe('form and body validation: every field at once, nothing truncated (issue #13)', () => {
  let app: TestApp;
  let person: TestPerson;
  let browser: Browser;
  let unit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([testClient(), testClient({ client_id: 'unit-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'unit' })]),
    });
    person = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, person, { name: '校验测试单位' });
    browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
  }, SLOW_MS);
  afterAll(() => app.close());

  const message = (locale: Locale, key: MessageKey, params?: Record<string, string | number>) => translate(locale, key, params);
  const errorOf = (page: Page, field: string) => page.html.querySelector(`#f-${field}-error`)?.textContent?.trim();
  const valueOf = (page: Page, field: string) => page.html.querySelector(`input[name="${field}"]`)?.getAttribute('value');

  it.each<[Locale, string]>([
    ['zh-CN', ''],
    ['en', '?lang=en'],
  ])(
    'when the unit registration form has four bad fields (%s), then 400 shows each message next to its field and keeps the values uncut',
    async (locale, query) => {
      const csrf = await csrfFrom(browser, '/account/units/register');
      const longName = '长'.repeat(101);
      const longLogin = `u${'x'.repeat(32)}`;
      const before = await fingerprint(app.db);
      const page = await postForm(browser, `/account/units/register${query}`, csrf, [
        ['name', longName],
        ['certType', 'passport'],
        ['certNo', '91110000000000000X'],
        ['loginName', longLogin],
        ['password', 'p'.repeat(129)],
        ['passwordConfirm', 'p'.repeat(129)],
      ]);
      expect(page.status).toBe(400);
      expect(page.body).not.toMatch(INTERNALS);
      expect({
        name: errorOf(page, 'name'),
        certType: errorOf(page, 'certType'),
        loginName: errorOf(page, 'loginName'),
        password: errorOf(page, 'password'),
        passwordConfirm: errorOf(page, 'passwordConfirm'),
      }).toEqual({
        name: message(locale, 'error.unit_name_invalid'),
        certType: message(locale, 'error.unit_cert_type_invalid'),
        loginName: message(locale, 'error.login_name_invalid'),
        password: message(locale, 'error.password_too_long'),
        passwordConfirm: message(locale, 'error.password_too_long'),
      });
      // The values are shown again as typed, not cut to the input's length; passwords never are.
      expect([valueOf(page, 'name'), valueOf(page, 'loginName'), valueOf(page, 'password')]).toEqual([longName, longLogin, '']);
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );

  it(
    'when the password change has an over-long current password and a short new one, then both are named at once and nothing is checked',
    async () => {
      const csrf = await csrfFrom(browser, '/account/password');
      const before = await fingerprint(app.db);
      const page = await postForm(browser, '/account/password', csrf, [
        ['currentPassword', 'c'.repeat(600)],
        ['password', 'short'],
        ['passwordConfirm', 'short'],
      ]);
      expect(page.status).toBe(400);
      expect([errorOf(page, 'currentPassword'), errorOf(page, 'password'), errorOf(page, 'passwordConfirm')]).toEqual([
        message('zh-CN', 'error.password_too_long'),
        message('zh-CN', 'error.password_too_short'),
        undefined,
      ]);
      // Refused before the current password was verified: no failed attempt was audited or counted.
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );

  it(
    'when a sign-in carries a 600-character account, then the page refuses it with the limit instead of cutting it',
    async () => {
      const signingIn = new Browser(app.url);
      const login = await signingIn.get('/account');
      const page = await signingIn.submit(login, 'form#person-login', { account: 'a'.repeat(600), password: 'p'.repeat(200) });
      expect(page.status).toBe(400);
      expect([errorOf(page, 'account'), errorOf(page, 'password')]).toEqual([message('zh-CN', 'error.field_too_long', { max: 64 }), message('zh-CN', 'error.password_too_long')]);
      expect(valueOf(page, 'account')).toBe('a'.repeat(600));
    },
    SLOW_MS,
  );

  it(
    'when 密码找回 gets an unknown certificate type and an over-long number, then both fields are named on the page (R-R2)',
    async () => {
      const anonymous = new Browser(app.url);
      const csrf = await csrfFrom(anonymous, '/recover/unit/password');
      const before = await fingerprint(app.db);
      const page = await postForm(anonymous, '/recover/unit/password?lang=en', csrf, [
        ['certType', 'passport'],
        ['certNo', '9'.repeat(41)],
      ]);
      expect(page.status).toBe(400);
      expect([errorOf(page, 'certType'), errorOf(page, 'certNo')]).toEqual([message('en', 'error.unit_cert_type_invalid'), message('en', 'error.field_too_long', { max: 40 })]);
      expect(valueOf(page, 'certNo')).toBe('9'.repeat(41));
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );

  it(
    'when a page is opened with ?lang=en, then the form it posts (whose action has no lang) is answered in English too (issue #14)',
    async () => {
      const anonymous = new Browser(app.url);
      const csrf = await csrfFrom(anonymous, '/recover/unit/password?lang=en');
      const page = await postForm(anonymous, '/recover/unit/password', csrf, [
        ['certType', 'passport'],
        ['certNo', '9'],
      ]);
      expect(page.status).toBe(400);
      expect(errorOf(page, 'certType')).toBe(message('en', 'error.unit_cert_type_invalid'));
      // A POST with ?lang= does not change what was remembered; the next page without it is English still.
      const next = await anonymous.get('/recover/unit/password');
      expect(next.html.querySelector('html')?.getAttribute('lang')).toBe('en');
      const back = new Browser(app.url);
      await back.get('/recover/unit/password?lang=zh-CN');
      expect((await back.get('/recover/unit/password')).html.querySelector('html')?.getAttribute('lang')).toBe('zh-CN');
    },
    SLOW_MS,
  );

  it(
    'when the appeal look-up gets an over-long reference and contact, then both are refused at once, not cut (R-R3)',
    async () => {
      const anonymous = new Browser(app.url);
      const csrf = await csrfFrom(anonymous, '/recover/unit/appeal/status');
      const page = await postForm(anonymous, '/recover/unit/appeal/status', csrf, [
        ['reference', 'A'.repeat(33)],
        ['contact', `${'a'.repeat(250)}@x.cn`],
      ]);
      expect(page.status).toBe(400);
      expect([errorOf(page, 'reference'), errorOf(page, 'contact')]).toEqual([
        message('zh-CN', 'error.field_too_long', { max: 32 }),
        message('zh-CN', 'error.field_too_long', { max: 254 }),
      ]);
      expect(valueOf(page, 'reference')).toBe('A'.repeat(33));
    },
    SLOW_MS,
  );

  it.each<[Locale, string]>([
    ['zh-CN', ''],
    ['en', '&lang=en'],
  ])(
    'when a console filter is over 64 characters (%s), then the page is a readable 400 naming the limit instead of searching for a cut value',
    async (locale, lang) => {
      const counter = new Browser(app.url);
      await signInOperator(app, counter);
      const tooLong = message(locale, 'error.field_too_long', { max: 64 });
      for (const path of ['/operator?q=', '/operator/units?q=', '/operator/audit?q=', '/operator/audit?action=', '/operator/audit?from=']) {
        const refused = await counter.get(`${path}${'长'.repeat(65)}${lang}`);
        expect([path, refused.status]).toEqual([path, 400]);
        expect(refused.body).toContain(tooLong);
        expect(refused.body).not.toMatch(INTERNALS);
        // 64 characters are a search like any other; meaningless filter values are still ignored, not refused.
        const accepted = await counter.get(`${path}${'长'.repeat(64)}${lang}`);
        expect([path, accepted.status]).toEqual([path, 200]);
      }
    },
    SLOW_MS,
  );

  describe('the management API', () => {
    let token: string;
    beforeAll(async () => {
      const config = await discover(app.issuer, 'unit-admin', TEST_SECRET);
      const signingIn = new Browser(app.url);
      const authorization = await authorizationUrl(config, { scope: 'openid manage', redirect_uri: RP_REDIRECT });
      const login = await signingIn.get(authorization.url.toString());
      const done = await signingIn.submit(login, 'form#unit-login', { account: unit.loginName, password: unit.password });
      token = (await redeem(config, authorization, callbackOf(done))).access_token;
    }, SLOW_MS);

    const call = (path: string, method: string, body: unknown, lang = 'zh-CN') =>
      fetch(`${app.url}/api/v1${path}?lang=${lang}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

    it(
      'when a binding has three bad fields, then 400 lists every field with its code and message in the language asked for',
      async () => {
        const before = await fingerprint(app.db);
        for (const locale of ['zh-CN', 'en'] as const) {
          const answer = await call('/unit/bindings', 'POST', { account: 'x'.repeat(65), scopes: 'biz:continuing_education', validFrom: 'tomorrow' }, locale);
          expect(answer.status).toBe(400);
          const body = (await answer.json()) as { code: string; error: string; field: string; fields: { field: string; code: string; message: string }[]; requestId: string };
          // The one error body outside the OAuth endpoints: code, message, field, fields, requestId (issue #13).
          expect(body).toMatchObject({ code: 'validation', error: 'validation', message: message(locale, 'error.validation'), field: 'account', requestId: expect.any(String) });
          expect(body.fields).toEqual([
            { field: 'account', code: 'field_too_long', message: message(locale, 'error.field_too_long', { max: 64 }) },
            { field: 'scopes', code: 'field_invalid', message: message(locale, 'error.field_invalid') },
            { field: 'validFrom', code: 'binding_validity_invalid', message: message(locale, 'error.binding_validity_invalid') },
          ]);
        }
        expect(await fingerprint(app.db)).toEqual(before);
      },
      SLOW_MS,
    );

    it('when the token is missing, then the challenge answers with the same error body (code, message, requestId)', async () => {
      const answer = await fetch(`${app.url}/api/v1/unit`);
      expect(answer.status).toBe(401);
      expect(await answer.json()).toEqual({ code: 'invalid_token', error: 'invalid_token', message: expect.any(String), requestId: answer.headers.get('x-request-id') });
    });

    it(
      'when a unit name is over the limit of the form, then the API refuses it with the same code as the form (2–100, R-U4)',
      async () => {
        const answer = await call('/unit', 'PATCH', { name: '长'.repeat(101) });
        expect(answer.status).toBe(400);
        expect(await answer.json()).toMatchObject({
          error: 'validation',
          field: 'name',
          fields: [{ field: 'name', code: 'unit_name_invalid', message: message('zh-CN', 'error.unit_name_invalid') }],
        });
        const accepted = await call('/unit', 'PATCH', { name: '长'.repeat(100) });
        expect(accepted.status).toBe(200);
      },
      SLOW_MS,
    );
  });
});
