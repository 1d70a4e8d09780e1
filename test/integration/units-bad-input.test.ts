import { translate, type Locale, type MessageKey } from '../../src/shared/i18n/index.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { INTERNALS, signInToAccount } from '../support/security.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { csrfFrom, fingerprint, postForm, signInUnit, SLOW_MS, unitRow } from '../support/unit-console.js';

/**
 * Bad input on the unit forms (issue #4, R-U2, R-U4, R-B1, S-53): invalid certificate numbers, duplicates,
 * people who cannot be bound, validity periods in the past, unknown permissions, oversized and hostile names.
 * Each is answered with a 4xx and the form's page carrying a clear message in zh-CN (en with ?lang=en or the
 * lang cookie), never a 500 or internals, and nothing is written.
 */

// ---- Certificate numbers, computed here independently of the product's code -------------------------------------

const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** GB 32100-2015: the 18th character of a unified social credit code. */
function usccCheck(first17: string): string {
  const sum = [...first17].reduce((total, char, index) => total + USCC_ALPHABET.indexOf(char) * USCC_WEIGHTS[index]!, 0);
  return USCC_ALPHABET[(31 - (sum % 31)) % 31]!;
}

/** GB 11714-1997: the 9th character of an organisation code. */
function orgCheck(first8: string): string {
  const weights = [3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first8].reduce((total, char, index) => total + parseInt(char, 36) * weights[index]!, 0);
  const check = 11 - (sum % 11);
  return check === 10 ? 'X' : check === 11 ? '0' : String(check);
}

let serial = 0;
/** A fresh 8-digit organisation code body for this run. */
function orgBody(): string {
  serial += 1;
  return `${String(process.pid % 1000).padStart(3, '0')}${String((Date.now() + serial) % 1e5).padStart(5, '0')}`;
}

/** A unified social credit code whose embedded organisation code (characters 9–17) is valid too. */
function fullyValidUscc(): string {
  const org = orgBody();
  const first17 = `91110108${org}${orgCheck(org)}`;
  return first17 + usccCheck(first17);
}

function validOrgCode(): string {
  const body = orgBody();
  return `${body}-${orgCheck(body)}`;
}

/** Another character of the same alphabet in the last position. */
function wrongLast(value: string, alphabet: string): string {
  const last = value.at(-1)!;
  return value.slice(0, -1) + alphabet[(alphabet.indexOf(last) + 1) % alphabet.length]!;
}

describe('bad input on the unit forms (issue #4, S-53)', () => {
  let app: TestApp;
  let registrant: TestPerson;
  let registrantBrowser: Browser;
  let registrantCsrf: string;
  let unverifiedPerson: TestPerson;
  let unit: TestUnit;
  let unitBrowser: Browser;
  let unitCsrf: string;
  let verifiedUnit: TestUnit;
  let verifiedBrowser: Browser;
  let verifiedCsrf: string;
  let englishBrowser: Browser;
  let englishCsrf: string;

  beforeAll(async () => {
    app = await startTestApp({ env: { REAUTH_SECONDS: '3600' } });
    const services = app.app.services;
    registrant = await createPerson(services, { verified: true });
    unverifiedPerson = await createPerson(services, { verified: false });
    registrantBrowser = new Browser(app.url);
    await signInToAccount(registrantBrowser, registrant.loginName, registrant.password);
    registrantCsrf = await csrfFrom(registrantBrowser, '/account/units/register');
    unit = await createUnit(services, registrant, { name: '坏输入测试单位' });
    unitBrowser = new Browser(app.url);
    await signInUnit(unitBrowser, unit);
    unitCsrf = await csrfFrom(unitBrowser, '/unit/bindings');
    verifiedUnit = await createUnit(services, registrant, { name: '坏输入已认证单位', verified: true });
    verifiedBrowser = new Browser(app.url);
    await signInUnit(verifiedBrowser, verifiedUnit);
    verifiedCsrf = await csrfFrom(verifiedBrowser, '/unit/name-change');
    // A unit account that chose English with the language switch (the lang cookie).
    englishBrowser = new Browser(app.url);
    await signInUnit(englishBrowser, unit);
    await englishBrowser.get('/lang?to=en&return=/unit');
    englishCsrf = await csrfFrom(englishBrowser, '/unit/bindings');
  }, SLOW_MS);
  afterAll(() => app.close());

  const message = (locale: Locale, key: MessageKey, params?: Record<string, string>) => translate(locale, key, params);

  function expectRefusal(page: Page, status: number, expected: string): void {
    expect({ status: page.status, shows: Browser.text(page).includes(expected) }).toEqual({ status, shows: true });
    expect(page.body).not.toMatch(INTERNALS);
  }

  type Form = 'register' | 'bind' | 'info' | 'name-change';
  const target = (form: Form): { browser: () => Browser; csrf: () => string; url: string; base: () => [string, string][] } =>
    ({
      register: {
        browser: () => registrantBrowser,
        csrf: () => registrantCsrf,
        url: '/account/units/register',
        base: (): [string, string][] => [
          ['name', '新注册单位'],
          ['certType', 'uscc'],
          ['certNo', fullyValidUscc()],
          ['loginName', `bad${Date.now().toString(36)}`],
          ['password', 'unit password for tests'],
          ['passwordConfirm', 'unit password for tests'],
        ],
      },
      bind: { browser: () => unitBrowser, csrf: () => unitCsrf, url: '/unit/bindings', base: (): [string, string][] => [['scopes', 'biz:continuing_education']] },
      info: { browser: () => unitBrowser, csrf: () => unitCsrf, url: '/unit/info', base: (): [string, string][] => [] },
      'name-change': { browser: () => verifiedBrowser, csrf: () => verifiedCsrf, url: '/unit/name-change', base: (): [string, string][] => [] },
    })[form];

  /** Replaces or adds fields of a form's base values. */
  function fill(base: [string, string][], values: [string, string][]): [string, string][] {
    const names = new Set(values.map(([name]) => name));
    return [...base.filter(([name]) => !names.has(name)), ...values];
  }

  interface Case {
    title: string;
    form: Form;
    values: () => [string, string][];
    status: number;
    key: MessageKey;
    params?: Record<string, string>;
  }

  const longName = '长'.repeat(101);
  const tenKb = 'x'.repeat(10 * 1024);
  const future = `${new Date().getUTCFullYear() + 1}`;

  const CASES: Case[] = [
    // Certificates (R-U2).
    {
      title: 'a USCC with a wrong GB 32100 check character',
      form: 'register',
      values: () => [['certNo', wrongLast(fullyValidUscc(), USCC_ALPHABET)]],
      status: 400,
      key: 'error.unit_uscc_invalid',
    },
    { title: 'a USCC of 17 characters', form: 'register', values: () => [['certNo', fullyValidUscc().slice(0, 17)]], status: 400, key: 'error.unit_uscc_invalid' },
    { title: 'a USCC of 19 characters', form: 'register', values: () => [['certNo', `${fullyValidUscc()}0`]], status: 400, key: 'error.unit_uscc_invalid' },
    {
      title: 'a USCC with letters outside the GB 32100 alphabet (I, O, S, V, Z)',
      form: 'register',
      values: () => [['certNo', fullyValidUscc().slice(0, 10) + 'IOSVZ' + fullyValidUscc().slice(15)]],
      status: 400,
      key: 'error.unit_uscc_invalid',
    },
    {
      title: 'a USCC whose embedded organisation code has a wrong check character',
      form: 'register',
      values: () => {
        const org = orgBody();
        const first17 = `91110108${org}${wrongLast(orgCheck(org), '0123456789X')}`;
        return [['certNo', first17 + usccCheck(first17)]];
      },
      status: 400,
      key: 'error.unit_uscc_invalid',
    },
    {
      title: 'an organisation code with a wrong check character',
      form: 'register',
      values: () => [
        ['certType', 'org_code'],
        ['certNo', wrongLast(validOrgCode(), '0123456789X')],
      ],
      status: 400,
      key: 'error.unit_cert_no_invalid',
    },
    {
      title: 'an organisation code of 8 characters',
      form: 'register',
      values: () => [
        ['certType', 'org_code'],
        ['certNo', orgBody()],
      ],
      status: 400,
      key: 'error.unit_cert_no_invalid',
    },
    {
      title: 'a business licence number of 14 digits',
      form: 'register',
      values: () => [
        ['certType', 'business_license'],
        ['certNo', '11010800000001'],
      ],
      status: 400,
      key: 'error.unit_cert_no_invalid',
    },
    {
      title: 'a public institution number with letters',
      form: 'register',
      values: () => [
        ['certType', 'public_institution'],
        ['certNo', '12345678901A'],
      ],
      status: 400,
      key: 'error.unit_cert_no_invalid',
    },
    {
      title: 'an “other” certificate with HTML',
      form: 'register',
      values: () => [
        ['certType', 'other'],
        ['certNo', '<script>alert(1)</script>'],
      ],
      status: 400,
      key: 'error.unit_cert_no_invalid',
    },
    { title: 'an unknown certificate type', form: 'register', values: () => [['certType', 'passport']], status: 400, key: 'error.unit_cert_type_invalid' },
    { title: 'an empty certificate number', form: 'register', values: () => [['certNo', '']], status: 400, key: 'error.unit_uscc_invalid' },
    { title: 'the certificate of a registered unit', form: 'register', values: () => [['certNo', unit.certNo.toLowerCase()]], status: 409, key: 'error.unit_registered' },
    {
      title: 'the login name of a registered unit in other case',
      form: 'register',
      values: () => [['loginName', unit.loginName.toUpperCase()]],
      status: 409,
      key: 'error.login_name_taken',
    },
    { title: 'a login name with spaces and HTML', form: 'register', values: () => [['loginName', '<b>unit name</b>']], status: 400, key: 'error.login_name_invalid' },
    { title: 'a unit name of 101 characters', form: 'register', values: () => [['name', longName]], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a unit name of one character', form: 'register', values: () => [['name', '甲']], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a unit name with HTML', form: 'register', values: () => [['name', '<script>alert(1)</script>公司']], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a unit name of 10 KB', form: 'register', values: () => [['name', tenKb]], status: 400, key: 'error.unit_name_invalid' },
    { title: 'passwords that differ', form: 'register', values: () => [['passwordConfirm', 'another unit password']], status: 400, key: 'error.password_mismatch' },
    // Bindings (R-B1).
    { title: 'binding an unknown person', form: 'bind', values: () => [['account', 'nobody-like-this']], status: 404, key: 'error.binding_person_not_found' },
    { title: 'binding an SQL fragment as account', form: 'bind', values: () => [['account', "' OR 1=1 --"]], status: 404, key: 'error.binding_person_not_found' },
    { title: 'binding an HTML fragment as account', form: 'bind', values: () => [['account', '<img src=x onerror=alert(1)>']], status: 404, key: 'error.binding_person_not_found' },
    { title: 'binding an unverified person', form: 'bind', values: () => [['account', unverifiedPerson.loginName]], status: 409, key: 'error.binding_person_not_verified' },
    {
      title: 'binding with a validity period that ended yesterday',
      form: 'bind',
      values: () => [['validUntil', new Date(Date.now() - 2 * 86400_000).toISOString().slice(0, 10)]],
      status: 400,
      key: 'error.binding_validity_past',
    },
    { title: 'binding with an impossible date', form: 'bind', values: () => [['validFrom', `${future}-02-30`]], status: 400, key: 'error.binding_validity_invalid' },
    { title: 'binding with a date that is not a date', form: 'bind', values: () => [['validUntil', 'tomorrow']], status: 400, key: 'error.binding_validity_invalid' },
    {
      title: 'binding with an end before the start',
      form: 'bind',
      values: () => [
        ['validFrom', `${future}-06-01`],
        ['validUntil', `${future}-05-01`],
      ],
      status: 400,
      key: 'error.binding_validity_order',
    },
    {
      title: 'binding with an unknown business permission',
      form: 'bind',
      values: () => [
        ['scopes', 'biz:continuing_education'],
        ['scopes', 'biz:unknown'],
      ],
      status: 400,
      key: 'error.binding_scope_unknown',
      params: { scope: 'biz:unknown' },
    },
    {
      title: 'binding with a scope that is not a business (openid)',
      form: 'bind',
      values: () => [['scopes', 'openid']],
      status: 400,
      key: 'error.binding_scope_unknown',
      params: { scope: 'openid' },
    },
    { title: 'binding with an account of 10 KB', form: 'bind', values: () => [['account', tenKb]], status: 400, key: 'error.field_too_long', params: { max: '64' } },
    // Names (R-U4).
    { title: 'a general-form name of 101 characters', form: 'info', values: () => [['name', longName]], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a general-form name of 10 KB', form: 'info', values: () => [['name', tenKb]], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a general-form name with HTML', form: 'info', values: () => [['name', '<b>粗体</b>单位']], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a general-form name with a control character', form: 'info', values: () => [['name', '响铃\u0007单位']], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a general-form name of spaces only', form: 'info', values: () => [['name', '   ']], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a dedicated name change of 101 characters', form: 'name-change', values: () => [['name', longName]], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a dedicated name change of 10 KB', form: 'name-change', values: () => [['name', tenKb]], status: 400, key: 'error.unit_name_invalid' },
    { title: 'a dedicated name change with HTML', form: 'name-change', values: () => [['name', '<iframe src=//evil>']], status: 400, key: 'error.unit_name_invalid' },
  ];

  // The bind cases need a person to bind unless they name one: a verified person nobody bound yet.
  let spare: TestPerson;
  beforeAll(async () => {
    spare = await createPerson(app.app.services, { verified: true });
  }, SLOW_MS);
  const withAccount = (testCase: Case): [string, string][] => {
    const values = testCase.values();
    return testCase.form === 'bind' && !values.some(([name]) => name === 'account') ? [['account', spare.loginName], ...values] : values;
  };

  for (const testCase of CASES) {
    it(
      `when ${testCase.title} is submitted, then ${testCase.status} with a clear message in zh-CN and en, and nothing is written`,
      async () => {
        const form = target(testCase.form);
        const values = fill(form.base(), withAccount(testCase));
        const before = await fingerprint(app.db);
        const chinese = await postForm(form.browser(), form.url, form.csrf(), values);
        expectRefusal(chinese, testCase.status, message('zh-CN', testCase.key, testCase.params));
        const english = await postForm(form.browser(), `${form.url}?lang=en`, form.csrf(), fill(form.base(), withAccount(testCase)));
        expectRefusal(english, testCase.status, message('en', testCase.key, testCase.params));
        expect(await fingerprint(app.db)).toEqual(before);
      },
      SLOW_MS,
    );
  }

  it(
    'when a unit account that chose English (lang cookie) submits bad input, then the message is in English',
    async () => {
      const before = await fingerprint(app.db);
      const page = await postForm(englishBrowser, '/unit/bindings', englishCsrf, [
        ['account', spare.loginName],
        ['scopes', 'biz:nope'],
      ]);
      expectRefusal(page, 400, message('en', 'error.binding_scope_unknown', { scope: 'biz:nope' }));
      expect(Browser.text(page)).toContain('Sub-account');
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );

  it(
    'when a scope or account carries HTML, then the message shows it as text, never as markup',
    async () => {
      const page = await postForm(unitBrowser, '/unit/bindings', unitCsrf, [
        ['account', spare.loginName],
        ['scopes', 'biz:<script>alert(1)</script>'],
      ]);
      expect(page.status).toBe(400);
      expect(page.body).not.toContain('<script>alert(1)</script>');
      expect(page.html.querySelectorAll('script')).toHaveLength(0);
    },
    SLOW_MS,
  );

  it(
    'when the registration form gets a lower-case USCC with spaces, or an organisation code with or without its hyphen, then it is accepted in canonical form',
    async () => {
      const uscc = fullyValidUscc();
      const spaced = ` ${uscc.slice(0, 9).toLowerCase()} ${uscc.slice(9).toLowerCase()} `;
      const registered = await postForm(
        registrantBrowser,
        '/account/units/register',
        registrantCsrf,
        fill(target('register').base(), [
          ['certNo', spaced],
          ['loginName', `low${Date.now().toString(36)}`],
        ]),
      );
      expect(registered.status).toBe(200);
      const { rows } = await app.db.query<{ cert_no: string }>("SELECT cert_no FROM unit WHERE cert_type = 'uscc' AND cert_no = $1", [uscc]);
      expect(rows).toEqual([{ cert_no: uscc }]);

      const org = validOrgCode();
      const plain = org.replace('-', '');
      const first = await postForm(
        registrantBrowser,
        '/account/units/register',
        registrantCsrf,
        fill(target('register').base(), [
          ['certType', 'org_code'],
          ['certNo', plain.toLowerCase()],
          ['loginName', `org${Date.now().toString(36)}`],
        ]),
      );
      expect(first.status).toBe(200);
      const { rows: orgRows } = await app.db.query<{ cert_no: string }>("SELECT cert_no FROM unit WHERE cert_type = 'org_code' AND cert_no = $1", [org]);
      expect(orgRows).toEqual([{ cert_no: org }]);
      // The same organisation code with its hyphen is the same unit: “单位已注册”.
      const before = await fingerprint(app.db);
      const again = await postForm(
        registrantBrowser,
        '/account/units/register',
        registrantCsrf,
        fill(target('register').base(), [
          ['certType', 'org_code'],
          ['certNo', org],
          ['loginName', `org2${Date.now().toString(36)}`],
        ]),
      );
      expectRefusal(again, 409, '单位已注册');
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );

  it(
    'when a name carries an SQL fragment or quotes, then it is plain text: stored verbatim, shown escaped, nothing else touched',
    async () => {
      const name = `O'Brien"; DROP TABLE unit; -- 公司`;
      const counts = await app.db.query<{ n: string }>('SELECT count(*) AS n FROM unit');
      const saved = await unitBrowser.follow(await postForm(unitBrowser, '/unit/info', unitCsrf, [['name', name]]));
      expect(saved.status).toBe(200);
      expect((await unitRow(app.db, unit.id))?.name).toBe(name);
      expect((await app.db.query<{ n: string }>('SELECT count(*) AS n FROM unit')).rows[0]!.n).toBe(counts.rows[0]!.n);
      expect(saved.body).not.toContain(`O'Brien"; DROP`);
      expect(Browser.text(saved)).toContain(name);
      const input = saved.html.querySelector('form#unit-info input[name="name"]');
      expect(input?.getAttribute('value')).toBe(name);
    },
    SLOW_MS,
  );

  it(
    'when an unverified person posts a registration, then 403 with the reason in zh-CN and en, and nothing is written',
    async () => {
      const browser = new Browser(app.url);
      await signInToAccount(browser, unverifiedPerson.loginName, unverifiedPerson.password);
      const csrf = await csrfFrom(browser, '/account/password');
      const before = await fingerprint(app.db);
      const values = target('register').base();
      expectRefusal(await postForm(browser, '/account/units/register', csrf, values), 403, message('zh-CN', 'error.unit_registrant_not_verified'));
      expectRefusal(await postForm(browser, '/account/units/register?lang=en', csrf, values), 403, message('en', 'error.unit_registrant_not_verified'));
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );

  it(
    'when a body over 64 KB is posted to a unit form, then 413 with a readable page and nothing is written',
    async () => {
      const before = await fingerprint(app.db);
      const page = await postForm(unitBrowser, '/unit/info', unitCsrf, [['name', 'x'.repeat(70 * 1024)]]);
      expect(page.status).toBe(413);
      expect(Browser.text(page)).toContain(message('zh-CN', 'error.payload_too_large'));
      expect(await fingerprint(app.db)).toEqual(before);
    },
    SLOW_MS,
  );
});
