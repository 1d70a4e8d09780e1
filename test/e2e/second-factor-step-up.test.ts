import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { clearThrottle, countRows, signInToAccount } from '../support/security.js';
import { enrolTotp, type TestAuthenticator } from '../support/second-factor.js';

const MFA = 'urn:unit-oidc:acr:mfa';
const PWD = 'urn:unit-oidc:acr:pwd';

/**
 * Issue #18, item 2: acr and amr in ID tokens, acr_values_supported in discovery, and acr_values, an essential acr
 * claim and max_age honoured by the provider — a password-only SSO session is stepped up with the second factor
 * alone, without signing out.
 */
describe('amr/acr, acr_values and max_age with step-up in the SSO session (issue #18)', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  /** A browser signed in with the password alone (in the account centre), then enrolled: a password-only SSO session. */
  async function passwordOnlySession(): Promise<{ person: TestPerson; browser: Browser; authenticator: TestAuthenticator }> {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    const { authenticator } = await enrolTotp(browser);
    return { person, browser, authenticator };
  }

  it('discovery lists both acr values and acr/amr among the claims', () => {
    const metadata = config.serverMetadata();
    expect(metadata.acr_values_supported).toEqual([PWD, MFA]);
    expect(metadata.claims_supported).toEqual(expect.arrayContaining(['acr', 'amr']));
  });

  it('when a password-only session meets acr_values=mfa, then only the second factor is asked (no password), the ID token says acr mfa with amr pwd+otp in the same session, and the step-up is audited', async () => {
    const { person, browser, authenticator } = await passwordOnlySession();
    const plain = await authorizationUrl(config);
    const before = await redeem(config, plain, callbackOf(await browser.get(plain.url.toString())));
    expect(before.claims()).toMatchObject({ sub: person.id, acr: PWD, amr: ['pwd'] });

    const strong = await authorizationUrl(config, { acr_values: MFA });
    const page = await browser.get(strong.url.toString());
    expect(page.status).toBe(200);
    expect(page.html.querySelector('form#person-login')).toBeNull();
    expect(page.html.querySelector('input[name="password"]')).toBeNull();
    expect(Browser.text(page)).toContain('要求二次验证');
    const done = await browser.submit(page, 'form#second-factor', { code: await authenticator.code() });
    const after = await redeem(config, strong, callbackOf(done));
    expect(after.claims()).toMatchObject({ sub: person.id, acr: MFA, amr: ['pwd', 'otp'] });
    expect((after.claims() as { sid?: string }).sid).toBe((before.claims() as { sid?: string }).sid);
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_step_up' AND target_id = $1", [person.id])).toBe(1);

    // The session is multi-factor now: the next request for mfa needs nothing.
    const again = await authorizationUrl(config, { acr_values: MFA });
    const silent = await redeem(config, again, callbackOf(await browser.get(again.url.toString())));
    expect(silent.claims()).toMatchObject({ acr: MFA, amr: ['pwd', 'otp'] });
  });

  it('when the RP asks for the acr claim as essential (claims parameter), then the password-only session is stepped up the same way', async () => {
    const { browser, authenticator } = await passwordOnlySession();
    const essential = await authorizationUrl(config, { claims: JSON.stringify({ id_token: { acr: { essential: true, value: MFA } } }) });
    const page = await browser.get(essential.url.toString());
    const done = await browser.submit(page, 'form#second-factor', { code: await authenticator.code() });
    expect((await redeem(config, essential, callbackOf(done))).claims()).toMatchObject({ acr: MFA, amr: ['pwd', 'otp'] });
  });

  it('C-T8 when the claims parameter asks for anything but the acr, then the request is refused (invalid_request) and no claim is widened', async () => {
    const browser = new Browser(app.url);
    for (const claims of [{ id_token: { unit_id: null } }, { userinfo: { phone_number: null } }, { id_token: { acr: { essential: true }, phone_number: null } }]) {
      const asked = await authorizationUrl(config, { scope: 'openid', claims: JSON.stringify(claims) });
      const page = await browser.get(asked.url.toString());
      expect(callbackOf(page).searchParams.get('error')).toBe('invalid_request');
    }
  });

  it('when acr_values accepts either value, then the password-only session is enough', async () => {
    const { browser } = await passwordOnlySession();
    const either = await authorizationUrl(config, { acr_values: `${PWD} ${MFA}` });
    expect((await redeem(config, either, callbackOf(await browser.get(either.url.toString())))).claims()).toMatchObject({ acr: PWD });
  });

  it('when a person without a second factor meets acr_values=mfa, then the page says the system needs one and where to enrol it, and cancelling returns access_denied', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    const strong = await authorizationUrl(config, { acr_values: MFA });
    const login = await browser.get(strong.url.toString());
    const page = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    expect(page.status).toBe(200);
    expect(Browser.text(page)).toContain('要求二次验证，但您尚未绑定身份验证器');
    expect(page.html.querySelector('a[href="/account/security"]')).not.toBeNull();
    const cancelled = await browser.submit(page, 'form[action$="/abort"]');
    expect(callbackOf(cancelled).searchParams.get('error')).toBe('access_denied');
  });

  it('when max_age has passed, then the provider asks for the password again within the session and auth_time moves on', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    const browser = new Browser(app.url);
    const first = await authorizationUrl(config);
    const login = await browser.get(first.url.toString());
    const tokens = await redeem(config, first, callbackOf(await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password })));
    const firstAuth = (tokens.claims() as { auth_time?: number }).auth_time ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const aged = await authorizationUrl(config, { max_age: '1' });
    const page = await browser.get(aged.url.toString());
    expect(page.html.querySelector('form#person-login')).not.toBeNull();
    const done = await browser.submit(page, 'form#person-login', { account: person.loginName, password: person.password });
    const claims = (await redeem(config, aged, callbackOf(done))).claims() as { auth_time?: number };
    expect(claims.auth_time).toBeGreaterThan(firstAuth);
    // Within max_age nothing is asked.
    const recent = await authorizationUrl(config, { max_age: '600' });
    expect(callbackOf(await browser.get(recent.url.toString())).searchParams.get('code')).toBeTruthy();
  });
});
