import { startTestApp, type TestApp } from '../support/app.js';
import { assertApacheInstalled, readPrintedClaims, redirectUriFor, startApacheRp, type ApacheRp } from '../support/apache.js';
import { Browser } from '../support/browser.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { freePort } from '../support/process.js';

/**
 * Interop with a relying party nobody here wrote: Apache httpd with Debian's mod_auth_openidc protects
 * /protected; a person signs in at our provider and Apache shows the claims it received. Apache and the module
 * must be installed (CI installs them, see .ci/run): when they are missing the suite fails, it never skips.
 */

const APACHE_CLIENT_ID = 'apache-rp';
const APACHE_SECRET = 'apache-interop-secret-0123456789abcdefghijklmnop';

describe('interop with Apache httpd and mod_auth_openidc as the relying party', () => {
  let app: TestApp | undefined;
  let apache: ApacheRp | undefined;
  let person: TestPerson;

  beforeAll(async () => {
    assertApacheInstalled();
    const port = await freePort();
    app = await startTestApp({
      clients: testClientsFile([
        testClient(),
        testClient({
          client_id: APACHE_CLIENT_ID,
          client_secret: APACHE_SECRET,
          client_name: { 'zh-CN': 'Apache 互通测试', en: 'Apache interop test' },
          redirect_uris: [redirectUriFor(port)],
          post_logout_redirect_uris: [`http://127.0.0.1:${port}/`],
          scopes: ['openid', 'profile', 'phone'],
          first_party: true,
        }),
      ]),
    });
    person = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    apache = await startApacheRp({ port, issuer: app.issuer, clientId: APACHE_CLIENT_ID, clientSecret: APACHE_SECRET, scope: 'openid profile phone' });
  });

  afterAll(async () => {
    await apache?.stop();
    await app?.close();
  });

  /** Runs a step of the flow; on failure the message carries Apache's error log (mod_auth_openidc logs there). */
  async function step<T>(what: string, run: () => Promise<T> | T): Promise<T> {
    try {
      return await run();
    } catch (error) {
      const log = apache?.errorLog().split('\n').slice(-40).join('\n') ?? '';
      (error as Error).message = `${what}: ${(error as Error).message}\n--- Apache error log (tail) ---\n${log}`;
      throw error;
    }
  }

  it('when a person opens the Apache-protected page and signs in, then Apache redeems the code and shows their claims', async () => {
    const rp = apache!;
    const op = app!;
    const browser = new Browser(op.url);

    const unauthenticated = await browser.navigate(rp.protectedUrl);
    const authorization = await step('an unauthenticated request is sent to the provider', () => {
      expect(unauthenticated.status).toBe(302);
      const location = new URL(unauthenticated.headers.get('location') ?? '', rp.url);
      expect(`${location.origin}${location.pathname}`).toBe(`${op.issuer}/auth`);
      return location;
    });
    expect(authorization.searchParams.get('client_id')).toBe(APACHE_CLIENT_ID);
    expect(authorization.searchParams.get('redirect_uri')).toBe(rp.redirectUri);
    expect(authorization.searchParams.get('response_type')).toBe('code');
    expect(authorization.searchParams.get('scope')?.split(' ').sort()).toEqual(['openid', 'phone', 'profile']);
    expect(authorization.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorization.searchParams.get('state')).toBeTruthy();

    const login = await browser.follow(unauthenticated);
    await step('the provider shows its sign-in page', () => {
      expect(login.status).toBe(200);
      expect(login.html.querySelector('form#person-login')).not.toBeNull();
    });

    const signedIn = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    const callback = await step('the provider redirects back to Apache with a code', () => {
      const location = signedIn.headers.get('location') ?? '';
      expect([302, 303]).toContain(signedIn.status);
      expect(location.split('?')[0]).toBe(rp.redirectUri);
      return new URL(location);
    });
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('state')).toBe(authorization.searchParams.get('state'));
    expect(callback.searchParams.get('iss')).toBe(op.issuer);

    // Apache checks the state, redeems the code at our token endpoint, validates the ID token against our JWKS,
    // fetches userinfo and sends the browser on to the page it asked for.
    const page = await browser.navigateAll(signedIn);
    await step('Apache serves the protected page', () => {
      expect({ url: page.url, status: page.status }).toEqual({ url: rp.protectedUrl, status: 200 });
    });
    expect(readPrintedClaims(page)).toEqual({ sub: person.id, preferred_username: person.loginName, name: '张三', phone_number: `+86${person.mobile}` });

    // Apache's session now stands on its own: the page is served again without a visit to the provider.
    const again = await browser.navigate(rp.protectedUrl);
    expect(again.status).toBe(200);
    expect(readPrintedClaims(again).sub).toBe(person.id);
  });

  it('when another browser without an Apache session asks for the page, then Apache sends it to the provider instead', async () => {
    const stranger = new Browser(app!.url);
    const page = await stranger.navigate(apache!.protectedUrl);
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toMatch(new RegExp(`^${app!.issuer.replace(/\./g, '\\.')}/auth\\?`));
    expect(page.body).not.toContain(person.id);
  });
});
