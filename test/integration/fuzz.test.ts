import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson } from '../support/people.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { INTERNALS, csrfOf, signInOperator, signInToAccount } from '../support/security.js';
import { signInUnit } from '../support/unit-console.js';
import { bindHandler, createUnit } from '../support/units.js';

/** mulberry32: a small deterministic PRNG, so a failing case can be replayed from the seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 20261127;
const ROUNDS = 12;

type Random = () => number;
const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;

const FRAGMENTS = [
  "' OR '1'='1",
  '"; DROP TABLE person; --',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '{{7*7}}',
  '${7*7}',
  '../../etc/passwd',
  '%00',
  '\u0000',
  '\uFFFF',
  '\uD800',
  '😀🙃',
  '測試單位',
  '　',
  '\r\n\r\nX-Injected: 1',
  'null',
  'undefined',
  '-1',
  '99999999999999999999',
  '0x41',
  'ABCDE-FGHJK',
  '00000000-0000-0000-0000-000000000000',
  'biz:continuing_education',
  '2099-13-45',
];

function randomText(random: Random): string {
  const kind = random();
  if (kind < 0.3) return pick(random, FRAGMENTS);
  if (kind < 0.45) return pick(random, FRAGMENTS).repeat(1 + Math.floor(random() * 3000));
  let out = '';
  const length = Math.floor(random() * 80);
  for (let i = 0; i < length; i += 1) out += String.fromCodePoint(Math.floor(random() * (random() < 0.7 ? 0x80 : 0x2ffff)));
  return out;
}

interface Body {
  type: string;
  body: Buffer;
}

/** A random body for a form: urlencoded with odd values and arrays, JSON of the wrong shape, or another type. */
function randomBody(random: Random, fields: string[], csrf: string): Body {
  const kind = random();
  const pairs: [string, string][] = [['_csrf', random() < 0.85 ? csrf : randomText(random)]];
  for (const field of fields) {
    if (random() < 0.15) continue;
    const repeat = random() < 0.15 ? 2 : 1;
    for (let i = 0; i < repeat; i += 1) pairs.push([random() < 0.1 ? `${field}[]` : field, randomText(random)]);
  }
  if (kind < 0.6) return { type: 'application/x-www-form-urlencoded', body: Buffer.from(new URLSearchParams(pairs).toString()) };
  if (kind < 0.7) {
    const bytes = Buffer.from(new URLSearchParams(pairs).toString());
    bytes[Math.floor(random() * bytes.length)] = 0xff; // invalid UTF-8
    return { type: 'application/x-www-form-urlencoded', body: bytes };
  }
  if (kind < 0.82) {
    const json = random() < 0.5 ? Object.fromEntries(pairs) : [pairs, { nested: { deep: [1, { x: randomText(random) }] } }];
    return { type: 'application/json', body: Buffer.from(JSON.stringify(json)) };
  }
  if (kind < 0.88) return { type: 'application/json', body: Buffer.from('{"broken": ') };
  return { type: pick(random, ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'image/png', '']), body: Buffer.from(randomText(random)) };
}

interface Target {
  name: string;
  browser: Browser;
  path: string;
  fields: string[];
  csrf: string;
}

describe('S-53 fuzz test with a fixed seed', () => {
  let app: TestApp;
  let targets: Target[];
  let anonymous: Browser;

  beforeAll(async () => {
    app = await startTestApp();
    const { services } = app.app;
    const person = await createPerson(services, { verified: true });
    const handler = await createPerson(services, { verified: true });
    const unit = await createUnit(services, person);
    const bindingId = await bindHandler(services, unit, handler, ['biz:continuing_education']);

    anonymous = new Browser(app.url);
    const register = await anonymous.get('/register');
    const signIn = new Browser(app.url);
    const login = await signIn.get((await authorizationUrl(await discover(app.issuer), { scope: 'openid unit' })).url.toString());
    const uid = new URL(login.url).pathname.split('/')[2]!;

    const account = new Browser(app.url);
    await signInToAccount(account, person.loginName, person.password);
    const accountCsrf = csrfOf(await account.get('/account/password'));

    const unitBrowser = new Browser(app.url);
    const unitPage = await signInUnit(unitBrowser, unit);
    const unitCsrf = csrfOf(await unitBrowser.get('/unit/bindings'));
    void unitPage;

    const operatorBrowser = new Browser(app.url);
    const { page: operatorPage } = await signInOperator(app, operatorBrowser);
    const operatorCsrf = csrfOf(await operatorBrowser.get(`/operator/persons/${person.id}`));
    void operatorPage;

    const anon = csrfOf(register);
    targets = [
      { name: 'sign-in', browser: signIn, path: `/interaction/${uid}/login`, fields: ['account', 'password', 'unitMode'], csrf: csrfOf(login) },
      { name: 'unit sign-in', browser: signIn, path: `/interaction/${uid}/unit-login`, fields: ['account', 'password'], csrf: csrfOf(login) },
      { name: 'picker', browser: signIn, path: `/interaction/${uid}/select-unit`, fields: ['unitId', 'personal', 'confirm'], csrf: csrfOf(login) },
      { name: 'registration code', browser: anonymous, path: '/register/code', fields: ['mobile', 'returnTo'], csrf: anon },
      { name: 'registration', browser: anonymous, path: '/register', fields: ['mobile', 'challenge', 'code', 'loginName', 'password', 'passwordConfirm'], csrf: anon },
      { name: 'person recovery', browser: anonymous, path: '/recover/person/code', fields: ['account'], csrf: anon },
      { name: 'unit recovery', browser: anonymous, path: '/recover/unit/account', fields: ['certType', 'certNo', 'challenge', 'code'], csrf: anon },
      { name: 'password', browser: account, path: '/account/password', fields: ['currentPassword', 'password', 'passwordConfirm'], csrf: accountCsrf },
      { name: 'real name', browser: account, path: '/account/realname', fields: ['legalName', 'idNumber'], csrf: accountCsrf },
      {
        name: 'unit registration',
        browser: account,
        path: '/account/units/register',
        fields: ['name', 'certType', 'certNo', 'loginName', 'password', 'passwordConfirm'],
        csrf: accountCsrf,
      },
      { name: 'accept binding', browser: account, path: `/account/bindings/${bindingId}/accept`, fields: [], csrf: accountCsrf },
      { name: 'unit info', browser: unitBrowser, path: '/unit/info', fields: ['name'], csrf: unitCsrf },
      { name: 'bind', browser: unitBrowser, path: '/unit/bindings', fields: ['account', 'scopes', 'validFrom', 'validUntil'], csrf: unitCsrf },
      { name: 'scopes', browser: unitBrowser, path: `/unit/bindings/${bindingId}/scopes`, fields: ['scopes', 'validFrom', 'validUntil'], csrf: unitCsrf },
      { name: 'unit code', browser: unitBrowser, path: '/unit/verify', fields: ['code'], csrf: unitCsrf },
      { name: 'operator verify', browser: operatorBrowser, path: `/operator/persons/${person.id}/verify`, fields: ['idNumber'], csrf: operatorCsrf },
      {
        name: 'token',
        browser: anonymous,
        path: '/token',
        fields: ['grant_type', 'code', 'refresh_token', 'client_id', 'client_secret', 'redirect_uri', 'code_verifier', 'resource', 'scope'],
        csrf: '',
      },
      { name: 'introspection', browser: anonymous, path: '/token/introspection', fields: ['token', 'client_id', 'client_secret'], csrf: '' },
      { name: 'revocation', browser: anonymous, path: '/token/revocation', fields: ['token', 'client_id', 'client_secret'], csrf: '' },
      { name: 'management API', browser: anonymous, path: '/api/v1/unit/bindings', fields: ['account', 'scopes'], csrf: '' },
      { name: 'appeal look-up API', browser: anonymous, path: '/api/v1/appeals/status', fields: ['reference', 'contact'], csrf: '' },
    ];
  }, 180_000);
  afterAll(() => app.close());

  it('when every form and endpoint gets seeded random, malformed and hostile input, then none answers 5xx or shows internals', async () => {
    const random = prng(SEED);
    const problems: string[] = [];
    for (const target of targets) {
      for (let round = 0; round < ROUNDS; round += 1) {
        const { type, body } = randomBody(random, target.fields, target.csrf);
        const page = await target.browser.request(target.path, { method: 'POST', headers: type ? { 'content-type': type } : {}, body }).catch((error: Error) => {
          problems.push(`${target.name} round ${round} (seed ${SEED}): ${String((error.cause as Error | undefined)?.message ?? error.message)}`);
          return undefined;
        });
        if (!page) continue;
        if (page.status >= 500 || page.status < 200) problems.push(`${target.name} round ${round} (seed ${SEED}): ${page.status}`);
        if (INTERNALS.test(page.body)) problems.push(`${target.name} round ${round} (seed ${SEED}): internals in the answer`);
      }
    }
    // Hostile query strings on the GET pages and the authorization endpoint.
    const pages = [
      '/',
      '/account',
      '/unit',
      '/operator',
      '/operator/audit',
      '/operator/units',
      '/register',
      '/recover/person',
      '/auth',
      '/session/end',
      '/lang',
      '/api/v1/openapi.json',
    ];
    for (const path of pages) {
      for (let round = 0; round < ROUNDS; round += 1) {
        const query = new URLSearchParams([
          ['q', randomText(random)],
          ['client_id', randomText(random)],
          ['return', randomText(random)],
          ['ui_locales', randomText(random)],
          ['to', randomText(random)],
        ]);
        const page = await anonymous.request(`${path}?${query.toString()}`).catch((error: Error) => {
          problems.push(`GET ${path} round ${round} (seed ${SEED}): ${String((error.cause as Error | undefined)?.message ?? error.message)}`);
          return undefined;
        });
        if (!page) continue;
        if (page.status >= 500) problems.push(`GET ${path} round ${round} (seed ${SEED}): ${page.status}`);
        if (INTERNALS.test(page.body)) problems.push(`GET ${path} round ${round} (seed ${SEED}): internals in the answer`);
      }
    }
    expect(problems).toEqual([]);
  }, 300_000);
});
