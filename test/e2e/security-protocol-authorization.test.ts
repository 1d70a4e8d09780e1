import fs from 'node:fs';
import * as jose from 'jose';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { RP_REDIRECT, TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import {
  codeOf,
  codeRequest,
  fetchMetadata,
  locationOf,
  redeemCode,
  redirectTo,
  signInFor,
  silentFor,
  sleep,
  storedArtefact,
  stringField,
  TEST_RP,
  type ClientAuth,
  type CodeRequest,
  type JsonResponse,
  type ProviderMetadata,
} from '../support/oauth.js';
import { authorizationError, errorShownOnPage } from '../support/oidc-errors.js';

/**
 * SECURITY-CHECKLIST.md, protocol items of the authorization endpoint: S-1 (redirect_uri), S-3 (code lifetime,
 * PKCE), S-4 (response_type), S-6 (prompt, max_age, hints) and S-11 (discovery, extra parameters, POST).
 */

const QUERY_REDIRECT = 'http://rp.test/q?tenant=a';
const PORT_REDIRECT = 'http://rp.test:8080/port';

const POST_RP: ClientAuth = { clientId: 'post-rp', secret: `${TEST_SECRET}-post`, method: 'client_secret_post' };
const PUBLIC_RP: ClientAuth = { clientId: 'public-rp', method: 'none' };

function clients() {
  return testClientsFile([
    testClient({ redirect_uris: [RP_REDIRECT, QUERY_REDIRECT, PORT_REDIRECT] }),
    testClient({ client_id: POST_RP.clientId, client_secret: POST_RP.secret, token_endpoint_auth_method: 'client_secret_post' }),
    testClient({ client_id: PUBLIC_RP.clientId, client_secret: undefined, token_endpoint_auth_method: 'none' }),
  ]);
}

/** A plain GET without cookies or redirect following (what an attacker's link does in a fresh browser). */
async function rawGet(url: string): Promise<Page> {
  return new Browser(new URL(url).origin).request(url);
}

function idTokenClaims(response: JsonResponse): jose.JWTPayload {
  return jose.decodeJwt(stringField(response, 'id_token'));
}

describe('S-1, S-3, S-4, S-6, S-11: the authorization endpoint', () => {
  let app: TestApp;
  let metadata: ProviderMetadata;
  let person: TestPerson;
  let other: TestPerson;
  /** A browser with a session of `person`, so that any request the provider wrongly accepted would yield a code. */
  let signedIn: Browser;

  beforeAll(async () => {
    app = await startTestApp({ clients: clients() });
    metadata = await fetchMetadata(app.url);
    [person, other] = await Promise.all([createPerson(app.app.services), createPerson(app.app.services)]);
    signedIn = new Browser(app.url);
    const request = codeRequest(metadata);
    const callback = await signInFor(signedIn, request, person.loginName, person.password);
    expect(callback.searchParams.get('code')).toBeTruthy();
  });
  afterAll(() => app?.close());

  async function signedInCode(request: CodeRequest): Promise<string> {
    return codeOf(await silentFor(signedIn, request));
  }

  describe('S-1 exact redirect_uri matching', () => {
    const tampered: [string, string][] = [
      ['an unregistered URI', 'http://evil.test/cb'],
      ['an added query', `${RP_REDIRECT}?next=http://evil.test/`],
      ['a changed query', 'http://rp.test/q?tenant=b'],
      ['an extra query parameter', `${QUERY_REDIRECT}&x=1`],
      ['a dropped query', 'http://rp.test/q'],
      ['a changed path', 'http://rp.test/cb/evil'],
      ['a trailing slash', `${RP_REDIRECT}/`],
      ['a changed case of the path', 'http://rp.test/CB'],
      ['a changed port', 'http://rp.test:8081/cb'],
      ['a dropped port', 'http://rp.test/port'],
      ['a changed scheme', 'https://rp.test/cb'],
      ['a changed host with the registered one as user info', 'http://rp.test@evil.test/cb'],
      ['a subdomain', 'http://evil.rp.test/cb'],
      ['a fragment', `${RP_REDIRECT}#x`],
    ];

    it.each(tampered)('S-1 when the redirect_uri has %s, then the error page is shown and nothing redirects (%s)', async (_what, redirectUri) => {
      for (const extra of [{}, { prompt: 'none' }]) {
        const request = codeRequest(metadata, { redirect_uri: redirectUri, ...extra });
        for (const page of [await rawGet(request.url), await signedIn.request(request.url)]) {
          expect(page.status).toBe(400);
          expect(page.headers.get('location')).toBeNull();
          expect(page.headers.get('content-type')).toMatch(/^text\/html/);
          expect(page.headers.get('refresh')).toBeNull();
          expect(errorShownOnPage(page)).toBe('invalid_redirect_uri');
          expect(page.body).not.toContain('evil.test');
          expect(page.body).not.toMatch(/http-equiv=["']?refresh/i);
        }
      }
    });

    it('S-1 when the redirect_uri is exactly a registered one (with its query and port), then the code goes there', async () => {
      for (const redirectUri of [RP_REDIRECT, QUERY_REDIRECT, PORT_REDIRECT]) {
        const request = codeRequest(metadata, { redirect_uri: redirectUri });
        const callback = await silentFor(signedIn, request);
        expect(`${callback.origin}${callback.pathname}`).toBe(redirectUri.replace(/\?.*$/, ''));
        if (redirectUri === QUERY_REDIRECT) expect(callback.searchParams.get('tenant')).toBe('a');
        expect(callback.searchParams.get('code')).toBeTruthy();
      }
    });
  });

  describe('S-3 code lifetime and PKCE', () => {
    it('S-3 when a code is issued, then it expires within 60 s and an expired code is refused', async () => {
      const request = codeRequest(metadata);
      const issuedAt = Date.now();
      const code = await signedInCode(request);
      const row = await storedArtefact(app.db, 'AuthorizationCode', code);
      expect(row).toBeDefined();
      const lifetimeMs = row!.expires_at!.getTime() - issuedAt;
      expect(lifetimeMs).toBeGreaterThan(0);
      expect(lifetimeMs).toBeLessThanOrEqual(60_000 + 1000);
      const payload = row!.payload as { iat: number; exp: number };
      expect(payload.exp - payload.iat).toBeLessThanOrEqual(60);
      expect(payload.exp - payload.iat).toBeGreaterThan(0);

      // 61 seconds later, as far as the stored code is concerned.
      await app.db.query(
        `UPDATE oidc_model SET expires_at = now() - interval '1 second',
           payload = payload || jsonb_build_object('iat', $2::bigint - 61, 'exp', $2::bigint - 1)
         WHERE model = 'AuthorizationCode' AND id = $1`,
        [code, Math.floor(Date.now() / 1000)],
      );
      const late = await redeemCode(metadata, TEST_RP, request, code);
      expect(late.status).toBe(400);
      expect(late.body.error).toBe('invalid_grant');
      expect(late.body.access_token).toBeUndefined();
    });

    it.each([
      ['test-rp (client_secret_basic)', 'test-rp'],
      ['post-rp (client_secret_post)', POST_RP.clientId],
      ['public-rp (none)', PUBLIC_RP.clientId],
    ])('S-3 when %s sends no code_challenge, plain, or no method, then no code is issued', async (_label, clientId) => {
      const control = codeRequest(metadata, { client_id: clientId });
      expect((await silentFor(signedIn, control)).searchParams.get('code')).toBeTruthy();
      const variants: Record<string, string | undefined>[] = [
        { code_challenge: undefined, code_challenge_method: undefined },
        { code_challenge: undefined },
        { code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) },
        { code_challenge_method: undefined },
        { code_challenge_method: 's256' },
      ];
      for (const variant of variants) {
        const request = codeRequest(metadata, { client_id: clientId, ...variant });
        const outcome = authorizationError(await signedIn.get(request.url), RP_REDIRECT);
        expect({ variant, error: outcome.error }).toEqual({ variant, error: 'invalid_request' });
        expect(outcome.params.get('code')).toBeNull();
      }
    });

    it('S-3 when the token request has a wrong, missing or plain verifier, then invalid_grant; the right one works', async () => {
      const request = codeRequest(metadata);
      const code = await signedInCode(request);
      const challenge = request.params.code_challenge!;
      for (const verifier of [undefined, 'x'.repeat(43), challenge, `${request.verifier}x`]) {
        const response = await redeemCode(metadata, TEST_RP, request, code, { code_verifier: verifier });
        expect({ verifier, status: response.status, error: response.body.error }).toEqual({ verifier, status: 400, error: 'invalid_grant' });
        expect(response.body.access_token).toBeUndefined();
      }
      const good = await redeemCode(metadata, TEST_RP, request, code);
      expect(good.status).toBe(200);
      expect(good.body.access_token).toBeTruthy();
    });

    it('S-3 when a code was stored without a challenge (downgrade), then a token request with a verifier gets invalid_grant', async () => {
      // The endpoint never issues such a code (previous test); a copy of a real code without its challenge stands
      // for one, and an exact copy is the control that the copy itself is redeemable.
      const request = codeRequest(metadata);
      const code = await signedInCode(request);
      const copy = async (id: string, strip: boolean) =>
        app.db.query(
          `INSERT INTO oidc_model (model, id, payload, grant_id, uid, account_id, expires_at)
         SELECT model, $2, (CASE WHEN $3 THEN payload - 'codeChallenge' - 'codeChallengeMethod' ELSE payload END)
                || jsonb_build_object('jti', $2::text), grant_id, uid, account_id, expires_at
         FROM oidc_model WHERE model = 'AuthorizationCode' AND id = $1`,
          [code, id, strip],
        );
      const stripped = `${code}-nochallenge`;
      const exact = `${code}-exact`;
      await copy(stripped, true);
      await copy(exact, false);
      const downgraded = await redeemCode(metadata, TEST_RP, request, stripped);
      expect(downgraded.status).toBe(400);
      expect(downgraded.body.error).toBe('invalid_grant');
      expect(downgraded.body.access_token).toBeUndefined();
      const control = await redeemCode(metadata, TEST_RP, request, exact);
      expect(control.status).toBe(200);
    });
  });

  describe('S-4 only response_type=code', () => {
    it.each([
      ['missing', 'invalid_request', undefined],
      ['id_token', 'unsupported_response_type', 'id_token'],
      ['code id_token', 'unsupported_response_type', 'code id_token'],
      ['token', 'unsupported_response_type', 'token'],
      ['code token', 'unsupported_response_type', 'code token'],
      ['id_token token', 'unsupported_response_type', 'id_token token'],
      ['none', 'unsupported_response_type', 'none'],
    ])('S-4 when response_type is %s, then the error is %s and nothing is issued', async (_label, expected, responseType) => {
      const request = codeRequest(metadata, { response_type: responseType });
      for (const page of [await signedIn.get(request.url), await rawGet(request.url)]) {
        const outcome = authorizationError(page, RP_REDIRECT);
        expect(outcome.error).toBe(expected);
        for (const artefact of ['code', 'id_token', 'access_token']) expect(outcome.params.get(artefact)).toBeNull();
        if (outcome.via === 'page') expect(page.status).toBe(400);
      }
    });

    it('S-4 when discovery is read, then code is the only response type', async () => {
      expect(metadata.response_types_supported).toEqual(['code']);
    });
  });

  describe('S-6 prompt, max_age and hints', () => {
    it('S-6 when prompt=none is sent without a session, then login_required goes back to the RP', async () => {
      const request = codeRequest(metadata, { prompt: 'none' });
      const outcome = authorizationError(await new Browser(app.url).get(request.url), RP_REDIRECT);
      expect(outcome.via).toBe('redirect');
      expect(outcome.error).toBe('login_required');
      expect(outcome.params.get('state')).toBe(request.state);
      expect(outcome.params.get('code')).toBeNull();
    });

    it('S-6 when prompt=none is sent with a session, then a code comes back without any page and the sub is the same', async () => {
      const browser = new Browser(app.url);
      const first = codeRequest(metadata);
      const firstTokens = await redeemCode(metadata, TEST_RP, first, codeOf(await signInFor(browser, first, person.loginName, person.password)));
      const request = codeRequest(metadata, { prompt: 'none' });
      let page = await browser.request(request.url);
      const visited: string[] = [];
      while (page.status >= 300 && page.status < 400 && browser.ownsUrl(locationOf(page)!.toString())) {
        visited.push(locationOf(page)!.pathname);
        page = await browser.request(locationOf(page)!.toString());
      }
      expect(visited.filter((path) => path.startsWith('/interaction/'))).toEqual([]);
      const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(redirectTo(page, RP_REDIRECT)));
      expect(tokens.status).toBe(200);
      expect(idTokenClaims(tokens).sub).toBe(person.id);
      expect(idTokenClaims(tokens).sub).toBe(idTokenClaims(firstTokens).sub);
    });

    it('S-6 when prompt=login or max_age=1 (after more than a second) is sent, then the person signs in again and auth_time is later', async () => {
      const byPrompt = new Browser(app.url);
      const byMaxAge = new Browser(app.url);
      const authTimes: number[] = [];
      for (const browser of [byPrompt, byMaxAge]) {
        const request = codeRequest(metadata, { max_age: '3600' });
        const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(await signInFor(browser, request, person.loginName, person.password)));
        authTimes.push(idTokenClaims(tokens).auth_time as number);
      }
      // Without prompt=login or a short max_age, the session is reused silently.
      const quiet = codeRequest(metadata, { max_age: '3600' });
      expect(codeOf(await silentFor(byPrompt, quiet))).toBeTruthy();

      await sleep(2100);
      const cases: [Browser, Record<string, string>, number][] = [
        [byPrompt, { prompt: 'login', max_age: '3600' }, authTimes[0]!],
        [byMaxAge, { max_age: '1' }, authTimes[1]!],
      ];
      for (const [browser, params, before] of cases) {
        const request = codeRequest(metadata, params);
        const login = await browser.get(request.url);
        expect(login.html.querySelector('form#person-login')).not.toBeNull();
        const after = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
        const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(redirectTo(after, RP_REDIRECT)));
        const claims = idTokenClaims(tokens);
        expect(claims.sub).toBe(person.id);
        expect(typeof claims.auth_time).toBe('number');
        expect(claims.auth_time as number).toBeGreaterThan(before);
      }
    });

    it('S-6 when id_token_hint names another subject, then prompt=none gets login_required and without it the sign-in page is shown', async () => {
      const otherBrowser = new Browser(app.url);
      const otherRequest = codeRequest(metadata);
      const otherTokens = await redeemCode(metadata, TEST_RP, otherRequest, codeOf(await signInFor(otherBrowser, otherRequest, other.loginName, other.password)));
      const foreignHint = stringField(otherTokens, 'id_token');
      const ownRequest = codeRequest(metadata);
      const ownHint = stringField(await redeemCode(metadata, TEST_RP, ownRequest, await signedInCode(ownRequest)), 'id_token');

      const silent = codeRequest(metadata, { prompt: 'none', id_token_hint: foreignHint });
      const outcome = authorizationError(await signedIn.get(silent.url), RP_REDIRECT);
      expect(outcome.error).toBe('login_required');
      expect(outcome.params.get('code')).toBeNull();

      const interactive = codeRequest(metadata, { id_token_hint: foreignHint });
      const page = await signedIn.get(interactive.url);
      expect(page.headers.get('location')).toBeNull();
      expect(page.html.querySelector('form#person-login')).not.toBeNull();

      // The hint of the signed-in subject is honoured silently.
      const matching = codeRequest(metadata, { prompt: 'none', id_token_hint: ownHint });
      const tokens = await redeemCode(metadata, TEST_RP, matching, codeOf(await silentFor(signedIn, matching)));
      expect(idTokenClaims(tokens).sub).toBe(person.id);
    });

    it('S-6 when login_hint is sent, then the account field of the sign-in page is pre-filled with it', async () => {
      const request = codeRequest(metadata, { login_hint: other.loginName });
      const page = await new Browser(app.url).get(request.url);
      expect(page.html.querySelector('form#person-login input[name="account"]')?.getAttribute('value')).toBe(other.loginName);
    });
  });

  describe('S-11 discovery and the authorization endpoint', () => {
    it('S-11 when discovery is read, then the issuer is exact and code_challenge_methods_supported is ["S256"]', async () => {
      const response = await fetch(`${app.issuer}/.well-known/openid-configuration`);
      expect(response.status).toBe(200);
      const document = (await response.json()) as Record<string, unknown>;
      expect(document.issuer).toBe(app.issuer);
      expect(document.issuer).toBe(app.config.issuer);
      expect(document.issuer).not.toMatch(/\/$/);
      expect(document.code_challenge_methods_supported).toEqual(['S256']);
      expect(document.authorization_endpoint).toBe(`${app.issuer}/auth`);
    });

    it('S-11 when the authorization request carries unknown parameters, then they are ignored and the flow succeeds', async () => {
      const browser = new Browser(app.url);
      const request = codeRequest(metadata, { foo: 'bar', x_tracking: '1', unit_id: 'forged', 'claims[sub]': 'x', acr: 'urn:uop:mfa', id_token: 'nope', registration_hint: 'x' });
      const callback = await signInFor(browser, request, person.loginName, person.password);
      expect(callback.searchParams.get('state')).toBe(request.state);
      const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(callback));
      expect(tokens.status).toBe(200);
      const claims = idTokenClaims(tokens);
      expect(claims.sub).toBe(person.id);
      expect(claims).not.toHaveProperty('foo');
      expect(claims).not.toHaveProperty('unit_id');
    });

    it('S-11 when a valid authorization request is POSTed with the default configuration, then it is refused', async () => {
      const request = codeRequest(metadata);
      for (const browser of [new Browser(app.url), signedIn]) {
        const page = await browser.request(metadata.authorization_endpoint, {
          method: 'POST',
          body: new URLSearchParams(request.params).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect([404, 405]).toContain(page.status);
        expect(page.headers.get('location')).toBeNull();
        expect(page.headers.getSetCookie().filter((cookie) => cookie.startsWith('_interaction'))).toEqual([]);
      }
      expect(app.config.authorizationPost).toBe(false);
    });

    it('S-11 when AUTHORIZATION_POST is enabled, then POST is accepted with SameSite=None cookies, as the README documents', async () => {
      const readme = fs.readFileSync('README.md', 'utf8');
      expect(readme).toMatch(/AUTHORIZATION_POST[^\n]*SameSite=None/);
      const postApp = await startTestApp({ clients: clients(), env: { AUTHORIZATION_POST: 'true' } });
      try {
        const postMetadata = await fetchMetadata(postApp.url);
        const request = codeRequest(postMetadata);
        const browser = new Browser(postApp.url);
        const page = await browser.request(postMetadata.authorization_endpoint, {
          method: 'POST',
          body: new URLSearchParams(request.params).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        expect(page.status).toBe(303);
        expect(locationOf(page)?.pathname).toMatch(/^\/interaction\//);
        const cookies = page.headers.getSetCookie().filter((cookie) => cookie.startsWith('_interaction'));
        expect(cookies.length).toBeGreaterThan(0);
        for (const cookie of cookies) expect(cookie.toLowerCase()).toContain('samesite=none');
      } finally {
        await postApp.close();
      }
    });
  });
});
