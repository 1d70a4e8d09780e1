import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { loadClients } from '../../src/config/clients.js';
import { ConfigError } from '../../src/config/env.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { TEST_BUSINESSES, TEST_SECRET, testClient } from '../support/fixtures.js';
import { createPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { clearThrottle, signInToAccount } from '../support/security.js';
import { enrolTotp } from '../support/second-factor.js';
import { consentIfAsked } from '../support/unit-flows.js';

const MFA = 'urn:unit-oidc:acr:mfa';
const PWD = 'urn:unit-oidc:acr:pwd';
const businesses = TEST_BUSINESSES.map((business) => (business.code === 'civil_service_exam' ? { ...business, requiresMfa: true } : business));

/**
 * Issue #18, item 3: a business in clients.json may require multi-factor (`requiresMfa`, checked by the clients
 * schema); a sign-in for that business without a second factor asks for it (or to enrol one), in the same session.
 */
describe('per-business requiresMfa (issue #18)', () => {
  let app: TestApp;
  let plain: client.Configuration;
  let strict: client.Configuration;
  let strictThirdParty: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp({
      clients: {
        businesses,
        clients: [
          testClient(),
          testClient({
            client_id: 'exam-rp',
            client_name: { 'zh-CN': '公务员考录', en: 'Civil-servant recruitment' },
            business: 'civil_service_exam',
            scopes: ['openid', 'profile', 'unit', 'biz:civil_service_exam'],
          }),
          // The same business through a system that is not first-party: the consent page comes after the step-up.
          testClient({
            client_id: 'exam-consent-rp',
            first_party: false,
            client_name: { 'zh-CN': '公务员考录（第三方）', en: 'Civil-servant recruitment (third party)' },
            business: 'civil_service_exam',
            scopes: ['openid', 'profile', 'unit', 'biz:civil_service_exam'],
          }),
        ],
      },
    });
    plain = await discover(app.issuer);
    strict = await discover(app.issuer, 'exam-rp', TEST_SECRET);
    strictThirdParty = await discover(app.issuer, 'exam-consent-rp', TEST_SECRET);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  it('when a password-only session opens a business that requires multi-factor, then only the second factor is asked and the token says mfa; another business keeps the password-only session', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    const { authenticator } = await enrolTotp(browser);

    const ordinary = await authorizationUrl(plain);
    expect((await redeem(plain, ordinary, callbackOf(await browser.get(ordinary.url.toString())))).claims()).toMatchObject({ acr: PWD, amr: ['pwd'] });

    const exam = await authorizationUrl(strict, { scope: 'openid profile' });
    const page = await browser.get(exam.url.toString());
    expect(page.html.querySelector('input[name="password"]')).toBeNull();
    expect(Browser.text(page)).toContain('“公务员考录”要求二次验证');
    const done = await browser.submit(page, 'form#second-factor', { code: await authenticator.code() });
    expect((await redeem(strict, exam, callbackOf(done))).claims()).toMatchObject({ sub: person.id, acr: MFA, amr: ['pwd', 'otp'] });
  });

  it('when a business system that is not first-party requires multi-factor, then the second factor comes before its consent page and the token says mfa', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    const { authenticator } = await enrolTotp(browser);
    const exam = await authorizationUrl(strictThirdParty, { scope: 'openid profile' });
    const page = await browser.get(exam.url.toString());
    expect(page.html.querySelector('input[name="password"]')).toBeNull();
    expect(page.html.querySelector('form#second-factor')).not.toBeNull();
    const stepped = await browser.submit(page, 'form#second-factor', { code: await authenticator.code() });
    expect(stepped.html.querySelector('form[action$="/confirm"]')).not.toBeNull();
    const tokens = await redeem(strictThirdParty, exam, callbackOf(await consentIfAsked(browser, stepped)));
    expect(tokens.claims()).toMatchObject({ sub: person.id, acr: MFA, amr: ['pwd', 'otp'] });
  });

  it('when a person without a second factor signs in to that business, then after the password the page asks to enrol one and no code is issued', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    const exam = await authorizationUrl(strict, { scope: 'openid profile' });
    const login = await browser.get(exam.url.toString());
    const page = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    expect(Browser.text(page)).toContain('“公务员考录”要求二次验证，但您尚未绑定身份验证器');
  });

  it('when requiresMfa is not a boolean, then loading clients.json fails naming the business field', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-mfa-clients-'));
    const file = path.join(dir, 'clients.json');
    fs.writeFileSync(file, JSON.stringify({ businesses: businesses.map((business) => ({ ...business, requiresMfa: 'yes' })), clients: [testClient()] }));
    const load = () => loadClients({ file, mode: 'development', dataDir: path.join(dir, 'data'), env: {} });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow('requiresMfa must be true or false');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
