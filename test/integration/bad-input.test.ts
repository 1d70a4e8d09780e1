import crypto from 'node:crypto';
import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { TEST_SECRET } from '../support/fixtures.js';
import { createPerson, lastCode, mobile, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover, signIn } from '../support/rp.js';
import {
  clearThrottle,
  csrfOf,
  errorMessageOn,
  INTERNALS,
  rawRequest,
  signInToAccount,
  snapshot,
  WATCHED_TABLES,
  type RawResponse,
  type WatchedTable,
} from '../support/security.js';

/**
 * Bad input on every personal form and endpoint (issue #3, S-53): missing fields, malformed values, oversized
 * bodies, hostile content and wrong content types get a 4xx with a readable message in the page's language,
 * never a 500 or a stack trace, and a rejected request writes nothing.
 */

type Locale = 'zh-CN' | 'en';

interface Target {
  name: string;
  browser: Browser;
  /** Path (and query) to POST to. */
  url: string;
  fields: string[];
  csrf: string;
  /** Tables a request that reached the service may legitimately write (audit of a failed sign-in, counters). */
  mayWrite: WatchedTable[];
  /** The answer for a well-formed but unknown value is the generic success page (S-22), not an error. */
  genericOk?: string;
}

interface Body {
  contentType?: string;
  body?: Buffer | string;
  headers?: Record<string, string | number>;
  chunks?: { size: number; count: number };
}

interface Payload {
  name: string;
  /** Refused before any service runs: nothing at all may be written, counters included. */
  early: boolean;
  build(fields: string[], csrf: string): Body;
}

const FORM = 'application/x-www-form-urlencoded';
const TEN_MB = 10 * 1024 * 1024;
const SQL = "' OR 1=1 --";
const HTML = '<script>alert(1)</script>';

const form = (pairs: [string, string][], csrf: string): Body => {
  const params = new URLSearchParams([['_csrf', csrf], ...pairs]);
  return { contentType: FORM, body: params.toString() };
};
const each = (fields: string[], value: string): [string, string][] => fields.map((field) => [field, value]);

const MALFORMED: Record<string, string> = {
  account: '',
  password: 'x',
  mobile: '12345',
  code: 'abcdef',
  challenge: 'not-a-challenge',
  loginName: '1',
  passwordConfirm: 'y',
  currentPassword: '',
  legalName: '1',
  idNumber: '123456789012345678',
};

const PAYLOADS: Payload[] = [
  { name: 'missing fields', early: false, build: (_fields, csrf) => form([], csrf) },
  {
    name: 'malformed values',
    early: false,
    build: (fields, csrf) =>
      form(
        fields.map((field) => [field, MALFORMED[field] ?? '%%%']),
        csrf,
      ),
  },
  { name: 'SQL fragments', early: false, build: (fields, csrf) => form(each(fields, SQL), csrf) },
  { name: 'SQL statement', early: false, build: (fields, csrf) => form(each(fields, "1'; DROP TABLE person; --"), csrf) },
  { name: 'HTML script', early: false, build: (fields, csrf) => form(each(fields, HTML), csrf) },
  { name: 'NUL bytes', early: true, build: (fields, csrf) => form(each(fields, 'ab\u0000cd'), csrf) },
  { name: 'arrays instead of strings', early: false, build: (fields, csrf) => ({ contentType: FORM, body: `_csrf=${csrf}&${fields.map((f) => `${f}[]=a&${f}[]=b`).join('&')}` }) },
  {
    name: 'objects instead of strings',
    early: false,
    build: (fields, csrf) => ({ contentType: FORM, body: `_csrf=${csrf}&${fields.map((f) => `${f}[x][y]=a`).join('&')}&__proto__[polluted]=1&constructor[prototype][polluted]=1` }),
  },
  { name: 'a field far too long', early: true, build: (fields, csrf) => form(each(fields, 'a'.repeat(600)), csrf) },
  {
    name: 'invalid UTF-8 (percent-encoded)',
    early: false,
    build: (fields, csrf) => ({ contentType: FORM, body: `_csrf=${csrf}&${fields.map((f) => `${f}=%FF%FE%C3%28`).join('&')}` }),
  },
  {
    name: 'invalid UTF-8 (raw bytes)',
    early: false,
    build: (fields, csrf) => ({
      contentType: FORM,
      body: Buffer.concat([Buffer.from(`_csrf=${csrf}`), ...fields.map((f) => Buffer.concat([Buffer.from(`&${f}=`), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80])]))]),
    }),
  },
  {
    name: 'JSON with objects',
    early: false,
    build: (fields, csrf) => ({ contentType: 'application/json', body: JSON.stringify({ _csrf: csrf, ...Object.fromEntries(fields.map((f) => [f, { $ne: null }])) }) }),
  },
  { name: 'malformed JSON', early: true, build: (_fields, csrf) => ({ contentType: 'application/json', body: `{"_csrf": "${csrf}", "account": ` }) },
  { name: 'text/plain', early: true, build: (fields, csrf) => ({ contentType: 'text/plain', body: `_csrf=${csrf}&${fields.map((f) => `${f}=a`).join('&')}` }) },
  {
    name: 'multipart',
    early: true,
    build: (fields, csrf) => ({
      contentType: 'multipart/form-data; boundary=XyZ',
      body: [['_csrf', csrf], ...fields.map((f) => [f, 'a'])].map(([k, v]) => `--XyZ\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + '--XyZ--\r\n',
    }),
  },
  { name: 'no content type', early: true, build: (fields, csrf) => ({ body: `_csrf=${csrf}&${fields.map((f) => `${f}=a`).join('&')}` }) },
  { name: '10 MB body (announced)', early: true, build: () => ({ contentType: FORM, body: Buffer.alloc(TEN_MB, 'a') }) },
  { name: '10 MB body (chunked)', early: true, build: () => ({ contentType: FORM, chunks: { size: 64 * 1024, count: 160 }, headers: { 'transfer-encoding': 'chunked' } }) },
];

describe('bad input on the personal pages and endpoints (issue #3, S-53)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let person: TestPerson;
  let signedIn: Browser;
  let grantCount: number;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
    person = await createPerson(app.app.services);
    signedIn = new Browser(app.url);
    await signIn(signedIn, await authorizationUrl(config), person.loginName, person.password);
    await signInToAccount(signedIn, person.loginName, person.password);
    grantCount = (await app.app.services.sessions.listGrants(person.id)).length;
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  /** Every personal form, prepared as a person would reach it (with the page's CSRF token). */
  async function targets(query = ''): Promise<Target[]> {
    const out: Target[] = [];
    const signingIn = new Browser(app.url);
    const login = await signingIn.get((await authorizationUrl(config)).url.toString());
    const uid = new URL(login.url).pathname.split('/')[2]!;
    out.push({
      name: 'sign-in',
      browser: signingIn,
      url: `/interaction/${uid}/login${query}`,
      fields: ['account', 'password'],
      csrf: csrfOf(login),
      mayWrite: ['audit_event', 'rate_limit'],
    });

    const anonymous = new Browser(app.url);
    const register = await anonymous.get('/register');
    out.push({ name: 'registration code', browser: anonymous, url: `/register/code${query}`, fields: ['mobile'], csrf: csrfOf(register), mayWrite: [] });

    const registering = new Browser(app.url);
    const phone = mobile();
    const step = await registering.submit(await registering.get('/register'), 'form[action="/register/code"]', { mobile: phone });
    out.push({
      name: 'registration',
      browser: registering,
      url: `/register${query}`,
      fields: ['mobile', 'challenge', 'code', 'loginName', 'password', 'passwordConfirm'],
      csrf: csrfOf(step),
      mayWrite: [],
    });

    out.push({
      name: 'recovery code',
      browser: anonymous,
      url: `/recover/person/code${query}`,
      fields: ['account'],
      csrf: csrfOf(register),
      mayWrite: ['rate_limit'],
      genericOk: 'challenge',
    });

    const recovering = new Browser(app.url);
    const recovery = await recovering.submit(await recovering.get('/recover/person'), 'form[action="/recover/person/code"]', { account: person.loginName });
    out.push({
      name: 'recovery',
      browser: recovering,
      url: `/recover/person${query}`,
      fields: ['challenge', 'code', 'password', 'passwordConfirm'],
      csrf: csrfOf(recovery),
      mayWrite: [],
    });

    const csrf = csrfOf(await signedIn.get('/account/password'));
    out.push({
      name: 'password change',
      browser: signedIn,
      url: `/account/password${query}`,
      fields: ['currentPassword', 'password', 'passwordConfirm'],
      csrf,
      mayWrite: ['audit_event', 'rate_limit'],
    });
    out.push({
      name: 'mobile change code',
      browser: signedIn,
      url: `/account/mobile/code${query}`,
      fields: ['currentPassword', 'mobile'],
      csrf,
      mayWrite: ['audit_event', 'rate_limit'],
    });
    out.push({ name: 'mobile change', browser: signedIn, url: `/account/mobile${query}`, fields: ['mobile', 'challenge', 'code'], csrf, mayWrite: [] });
    out.push({ name: 'real name', browser: signedIn, url: `/account/realname${query}`, fields: ['legalName', 'idNumber'], csrf, mayWrite: [] });
    out.push({ name: 'grant revoke (hostile id)', browser: signedIn, url: `/account/grants/${encodeURIComponent(SQL)}/revoke${query}`, fields: ['grantId'], csrf, mayWrite: [] });

    for (const action of ['login', 'confirm', 'abort', 'totp', 'operator-login']) {
      out.push({
        name: `interaction ${action} (bogus uid)`,
        browser: anonymous,
        url: `/interaction/${crypto.randomBytes(16).toString('base64url')}/${action}${query}`,
        fields: ['account', 'password', 'totp'],
        csrf: csrfOf(register),
        mayWrite: [],
      });
    }
    return out;
  }

  async function send(target: Target, payload: Payload): Promise<RawResponse> {
    const built = payload.build(target.fields, target.csrf);
    const url = new URL(target.url, app.url).toString();
    const headers: Record<string, string | number> = { cookie: await target.browser.jar.getCookieString(url), accept: 'text/html', ...built.headers };
    if (built.contentType) headers['content-type'] = built.contentType;
    if (built.body !== undefined) headers['content-length'] = Buffer.byteLength(built.body);
    return rawRequest(url, { method: 'POST', headers, ...(built.body !== undefined ? { body: built.body } : {}), ...(built.chunks ? { chunks: built.chunks } : {}) });
  }

  /** Problems with one answer; an empty list when it is what a person should get. */
  async function check(target: Target, payload: Payload, locale: Locale): Promise<string[]> {
    const watched = WATCHED_TABLES.filter((table) => payload.early || !target.mayWrite.includes(table));
    const before = await snapshot(app.db, watched);
    const response = await send(target, payload);
    const after = await snapshot(app.db, watched);
    const problems: string[] = [];
    const generic = !!target.genericOk && response.status === 200 && response.body.includes(`name="${target.genericOk}"`);
    if (!(response.status >= 400 && response.status < 500) && !generic) problems.push(`status ${response.status}`);
    if (!/text\/html/.test(String(response.headers['content-type']))) problems.push(`content-type ${response.headers['content-type']}`);
    if (!generic && !errorMessageOn(response.body, locale)) problems.push(`no ${locale} message: ${textOf(response.body).slice(0, 160)}`);
    if (INTERNALS.test(response.body)) problems.push(`internals: ${response.body.match(INTERNALS)?.[0]}`);
    if (response.body.includes(HTML)) problems.push('unescaped HTML echoed');
    if (!/no-store/.test(String(response.headers['cache-control']))) problems.push(`cache-control ${response.headers['cache-control']}`);
    for (const table of watched) if (before[table] !== after[table]) problems.push(`wrote to ${table}`);
    return problems.map((problem) => `${target.name} × ${payload.name} (${locale}): ${problem}`);
  }

  it('every personal form answers bad input with a 4xx and a readable Chinese page, never a 500, and writes nothing', async () => {
    const problems: string[] = [];
    for (const target of await targets()) {
      for (const payload of PAYLOADS) {
        await clearThrottle(app.db);
        problems.push(...(await check(target, payload, 'zh-CN')));
      }
    }
    expect(problems).toEqual([]);
    // Nothing changed for the signed-in person either.
    expect((await app.app.services.sessions.listGrants(person.id)).length).toBe(grantCount);
    expect(
      await app.app.services.hasher.verify(
        (await app.db.query<{ password_hash: string }>('SELECT password_hash FROM person WHERE id = $1', [person.id])).rows[0]!.password_hash,
        person.password,
      ),
    ).toBe(true);
  });

  it('with ?lang=en the same bad input is answered in English', async () => {
    const problems: string[] = [];
    const english = PAYLOADS.filter((payload) =>
      ['missing fields', 'SQL fragments', 'NUL bytes', 'arrays instead of strings', 'malformed JSON', 'text/plain', '10 MB body (announced)'].includes(payload.name),
    );
    for (const target of await targets('?lang=en')) {
      for (const payload of english) {
        await clearThrottle(app.db);
        problems.push(...(await check(target, payload, 'en')));
      }
    }
    expect(problems).toEqual([]);
  });

  it('a sign-in started with ui_locales=en answers bad input on its page in English', async () => {
    const browser = new Browser(app.url);
    const login = await browser.get((await authorizationUrl(config, { ui_locales: 'en' })).url.toString());
    expect(Browser.text(login)).toContain('Sign in');
    const uid = new URL(login.url).pathname.split('/')[2]!;
    const target: Target = {
      name: 'sign-in (ui_locales=en)',
      browser,
      url: `/interaction/${uid}/login`,
      fields: ['account', 'password'],
      csrf: csrfOf(login),
      mayWrite: ['audit_event', 'rate_limit'],
    };
    const problems: string[] = [];
    for (const payload of PAYLOADS) {
      await clearThrottle(app.db);
      problems.push(...(await check(target, payload, 'en')));
    }
    // A missing or wrong CSRF token as well.
    problems.push(...(await check({ ...target, csrf: 'wrong' }, PAYLOADS[0]!, 'en')));
    expect(problems).toEqual([]);
  });

  it('a tampered hidden field (the mobile number of a code step) is refused with a visible message', async () => {
    const problems: string[] = [];
    const registering = new Browser(app.url);
    const phone = mobile();
    const step = await registering.submit(await registering.get('/register'), 'form[action="/register/code"]', { mobile: phone });
    const password = `Pw-${crypto.randomBytes(9).toString('base64url')}`;
    const register = await registering.submit(step, 'form[action="/register"]', {
      mobile: '12345',
      code: await lastCode(app.db, phone),
      loginName: `bad${crypto.randomBytes(4).toString('hex')}`,
      password,
      passwordConfirm: password,
      agree: 'yes',
    });
    if (register.status !== 400 || !errorMessageOn(register.body, 'zh-CN')) problems.push(`registration: ${register.status} ${Browser.text(register).slice(0, 200)}`);

    const code = await signedIn.submit(await signedIn.get('/account/mobile'), 'form[action="/account/mobile/code"]', { currentPassword: person.password, mobile: mobile() });
    expect(code.html.querySelector('form[action="/account/mobile"]')).not.toBeNull();
    const change = await signedIn.submit(code, 'form[action="/account/mobile"]', { mobile: '12345', code: '123456' });
    if (change.status !== 400 || !errorMessageOn(change.body, 'zh-CN')) problems.push(`mobile change: ${change.status} ${Browser.text(change).slice(0, 200)}`);
    expect(problems).toEqual([]);
  });

  it('a forged CSRF token of the right length with non-ASCII characters is a 403, not a 500', async () => {
    const problems: string[] = [];
    for (const target of await targets()) {
      problems.push(...(await check({ ...target, csrf: 'é'.repeat(43) }, PAYLOADS[0]!, 'zh-CN')));
    }
    expect(problems).toEqual([]);
  });

  it('odd interaction addresses (bogus, huge, NUL, broken percent-encoding) get a readable 4xx page', async () => {
    const problems: string[] = [];
    const paths = [
      '/interaction/bogus',
      `/interaction/${'a'.repeat(4000)}`,
      '/interaction/%00',
      '/interaction/%FF%FE',
      '/interaction/%E0%A4%A',
      `/interaction/${encodeURIComponent(SQL)}`,
      `/interaction/${encodeURIComponent(HTML)}`,
      // The start of every sign-in, with a NUL byte in the client id.
      '/auth?client_id=ab%00cd&response_type=code&scope=openid&redirect_uri=http://rp.test/cb',
    ];
    for (const path of paths) {
      for (const query of ['', 'lang=en']) {
        const locale: Locale = query ? 'en' : 'zh-CN';
        const url = `${app.url}${path}${query ? `${path.includes('?') ? '&' : '?'}${query}` : ''}`;
        const response = await rawRequest(url, { method: 'GET', headers: { accept: 'text/html' } });
        const label = `GET ${url.slice(app.url.length, app.url.length + 60)}`;
        if (!(response.status >= 400 && response.status < 500)) problems.push(`${label}: status ${response.status}`);
        if (!errorMessageOn(response.body, locale)) problems.push(`${label}: no ${locale} message in ${response.body.slice(0, 120)}`);
        if (INTERNALS.test(response.body)) problems.push(`${label}: internals`);
        if (response.body.includes(HTML)) problems.push(`${label}: unescaped HTML`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the token endpoint answers garbage with an OAuth error (4xx JSON), never a 500 or internals', async () => {
    const basic = `Basic ${Buffer.from(`test-rp:${TEST_SECRET}`).toString('base64')}`;
    const token = `${app.url}/token`;
    const cases: [string, Parameters<typeof rawRequest>[1] & { path?: string }][] = [
      ['empty form', { headers: { authorization: basic, 'content-type': FORM }, body: '' }],
      ['no client authentication', { headers: { 'content-type': FORM }, body: 'grant_type=authorization_code&code=abc' }],
      ['garbage basic auth', { headers: { authorization: 'Basic %%%garbage', 'content-type': FORM }, body: 'grant_type=client_credentials' }],
      ['unknown grant type', { headers: { authorization: basic, 'content-type': FORM }, body: `grant_type=${encodeURIComponent(SQL)}` }],
      [
        'SQL code',
        {
          headers: { authorization: basic, 'content-type': FORM },
          body: `grant_type=authorization_code&code=${encodeURIComponent(SQL)}&redirect_uri=http://rp.test/cb&code_verifier=${'a'.repeat(43)}`,
        },
      ],
      ['SQL refresh token', { headers: { authorization: basic, 'content-type': FORM }, body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(SQL)}` }],
      ['NUL bytes in a refresh token', { headers: { authorization: basic, 'content-type': FORM }, body: 'grant_type=refresh_token&refresh_token=ab%00cd' }],
      [
        'NUL bytes in a code',
        {
          headers: { authorization: basic, 'content-type': FORM },
          body: `grant_type=authorization_code&code=ab%00cd&redirect_uri=http://rp.test/cb&code_verifier=${'a'.repeat(43)}`,
        },
      ],
      ['NUL bytes in a client_id', { headers: { 'content-type': FORM }, body: 'grant_type=client_credentials&client_id=ab%00cd&client_secret=x' }],
      ['arrays', { headers: { authorization: basic, 'content-type': FORM }, body: 'grant_type[]=a&grant_type[]=b&code[]=x' }],
      ['repeated parameters', { headers: { authorization: basic, 'content-type': FORM }, body: 'grant_type=refresh_token&grant_type=authorization_code' }],
      [
        'invalid UTF-8',
        { headers: { authorization: basic, 'content-type': FORM }, body: Buffer.from([0x67, 0x72, 0x61, 0x6e, 0x74, 0x5f, 0x74, 0x79, 0x70, 0x65, 0x3d, 0xff, 0xfe]) },
      ],
      ['JSON', { headers: { authorization: basic, 'content-type': 'application/json' }, body: '{"grant_type":"client_credentials"}' }],
      ['text/plain', { headers: { authorization: basic, 'content-type': 'text/plain' }, body: 'grant_type=client_credentials' }],
      [
        'multipart',
        {
          headers: { authorization: basic, 'content-type': 'multipart/form-data; boundary=XyZ' },
          body: '--XyZ\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--XyZ--\r\n',
        },
      ],
      ['10 MB body', { headers: { authorization: basic, 'content-type': FORM }, body: Buffer.alloc(TEN_MB, 'a') }],
      ['10 MB chunked', { headers: { authorization: basic, 'content-type': FORM, 'transfer-encoding': 'chunked' }, chunks: { size: 64 * 1024, count: 160 } }],
    ];
    const problems: string[] = [];
    // Introspection and revocation take the same kind of token parameter.
    for (const endpoint of ['introspection', 'revocation']) {
      cases.push([`${endpoint}: NUL bytes in the token`, { path: `/token/${endpoint}`, headers: { authorization: basic, 'content-type': FORM }, body: 'token=ab%00cd' }]);
      cases.push([
        `${endpoint}: SQL in the token`,
        { path: `/token/${endpoint}`, headers: { authorization: basic, 'content-type': FORM }, body: `token=${encodeURIComponent(SQL)}` },
      ]);
    }
    for (const [name, { path, ...options }] of cases) {
      const before = await snapshot(app.db, ['oidc_model', 'audit_event', 'person']);
      const response = await rawRequest(path ? `${app.url}${path}` : token, { method: 'POST', ...options });
      // Revocation answers 200 for a token it does not know (RFC 7009 §2.2), introspection {"active":false} (RFC 7662).
      if ((path?.endsWith('/revocation') && response.status === 200) || (path?.endsWith('/introspection') && response.status === 200 && response.body === '{"active":false}')) {
        if (JSON.stringify(await snapshot(app.db, ['oidc_model', 'audit_event', 'person'])) !== JSON.stringify(before)) problems.push(`${name}: wrote to the database`);
        continue;
      }
      if (!(response.status >= 400 && response.status < 500)) problems.push(`${name}: status ${response.status} ${response.body.slice(0, 200)}`);
      let error: unknown;
      try {
        error = (JSON.parse(response.body) as { error?: unknown }).error;
      } catch {
        error = undefined;
      }
      if (typeof error !== 'string') problems.push(`${name}: no OAuth error in ${response.body.slice(0, 200)}`);
      if (INTERNALS.test(response.body)) problems.push(`${name}: internals`);
      if (JSON.stringify(await snapshot(app.db, ['oidc_model', 'audit_event', 'person'])) !== JSON.stringify(before)) problems.push(`${name}: wrote to the database`);
    }
    expect(problems).toEqual([]);
  });
});

function textOf(body: string): string {
  return body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
}
