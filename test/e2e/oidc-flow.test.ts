import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem, signIn } from '../support/rp.js';

describe('the OIDC flow with openid-client as the relying party', () => {
  let app: TestApp;
  let config: client.Configuration;
  let person: TestPerson;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
    person = await createPerson(app.app.services, { verified: true, legalName: '张三' });
  });
  afterAll(() => app.close());

  it('when a person signs in, then code → tokens → userinfo → refresh → revocation → logout all pass openid-client checks', async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config);
    const callback = await signIn(browser, authorization, person.loginName, person.password);
    expect(callback.searchParams.get('iss')).toBe(app.issuer);

    const tokens = await redeem(config, authorization, callback);
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      iss: app.issuer,
      aud: 'test-rp',
      sub: person.id,
      nonce: authorization.nonce,
      preferred_username: person.loginName,
      name: '张三',
      realname_verified: true,
      phone_number: `+86${person.mobile}`,
      phone_number_verified: true,
    });
    expect(claims).not.toHaveProperty('unit_id');
    // offline_access needs prompt=consent (OIDC Core §11); the refresh token then lives with the SSO session.
    expect(tokens.refresh_token).toBeDefined();
    expect(tokens.scope?.split(' ').sort()).toEqual(['openid', 'phone', 'profile']);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, person.id);
    expect(userinfo).toMatchObject({ sub: person.id, preferred_username: person.loginName, realname_verified: true });

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(refreshed.claims()?.sub).toBe(person.id);

    await client.tokenRevocation(config, refreshed.access_token);
    await expect(client.fetchUserInfo(config, refreshed.access_token, person.id)).rejects.toThrow();

    const logout = client.buildEndSessionUrl(config, { id_token_hint: refreshed.id_token!, post_logout_redirect_uri: 'http://rp.test/logged-out', state: 'bye' });
    const confirm = await browser.get(logout.toString());
    expect(Browser.text(confirm)).toContain('确定要退出统一身份认证平台吗');
    const done = await browser.submit(confirm, 'form[id="op.logoutForm"]', {}, { name: 'logout', value: 'yes' });
    expect(done.headers.get('location')).toBe('http://rp.test/logged-out?state=bye');

    const silent = await authorizationUrl(config, { prompt: 'none' });
    const after = await browser.get(silent.url.toString());
    expect(callbackOf(after).searchParams.get('error')).toBe('login_required');
  });

  it('when the password is wrong, then the sign-in page says so in Chinese and no code is issued', async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config);
    const login = await browser.get(authorization.url.toString());
    const failed = await browser.submit(login, 'form#person-login', { account: person.loginName, password: 'not the password' });
    expect(failed.status).toBe(401);
    expect(Browser.text(failed)).toContain('账号或密码错误。');
    expect(failed.html.querySelector('input[name="account"]')?.getAttribute('value')).toBe(person.loginName);
  });
});
