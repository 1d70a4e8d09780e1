import * as client from 'openid-client';
import { Browser, type Page } from './browser.js';
import { RP_REDIRECT, TEST_SECRET } from './fixtures.js';

export interface Rp {
  config: client.Configuration;
  browser: Browser;
}

export async function discover(issuer: string, clientId = 'test-rp', secret: string | undefined = TEST_SECRET): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), clientId, secret, undefined, { execute: [client.allowInsecureRequests] });
}

/** Discovery for a client authenticating with `method` (a public client sends only its id, PKCE does the rest). */
export async function discoverWith(
  issuer: string,
  clientId: string,
  method: 'client_secret_basic' | 'client_secret_post' | 'none',
  secret: string = TEST_SECRET,
): Promise<client.Configuration> {
  const auth = method === 'none' ? client.None() : method === 'client_secret_post' ? client.ClientSecretPost(secret) : client.ClientSecretBasic(secret);
  return client.discovery(new URL(issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

export interface Authorization {
  url: URL;
  verifier: string;
  state: string;
  nonce: string;
}

export async function authorizationUrl(config: client.Configuration, params: Record<string, string> = {}): Promise<Authorization> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: RP_REDIRECT,
    scope: 'openid profile phone offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** The redirect to the RP that ends a page sequence (throws with the page when the flow did not get there). */
export function callbackOf(page: Page): URL {
  const location = page.headers.get('location');
  if (!location || !location.startsWith(RP_REDIRECT)) {
    throw new Error(`expected a redirect to the RP, got ${page.status} at ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  }
  return new URL(location);
}

/** Signs in through the personal tab and returns the RP callback URL. */
export async function signIn(browser: Browser, authorization: Authorization, account: string, password: string): Promise<URL> {
  const login = await browser.get(authorization.url.toString());
  const after = await browser.submit(login, 'form#person-login', { account, password });
  return callbackOf(after);
}

export async function redeem(config: client.Configuration, authorization: Authorization, callback: URL) {
  return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: authorization.verifier, expectedState: authorization.state, expectedNonce: authorization.nonce });
}

/**
 * A management-API access token (`openid manage`) for `clientId`: the authorization request opens the sign-in page,
 * `signIn` completes it in a fresh browser, and the code is redeemed.
 */
export async function manageTokenFor(issuer: string, baseUrl: string, clientId: string, signIn: (browser: Browser, login: Page) => Promise<Page>): Promise<string> {
  const config = await discover(issuer, clientId, TEST_SECRET);
  const browser = new Browser(baseUrl);
  const authorization = await authorizationUrl(config, { scope: 'openid manage', redirect_uri: RP_REDIRECT });
  const done = await signIn(browser, await browser.get(authorization.url.toString()));
  return (await redeem(config, authorization, callbackOf(done))).access_token;
}
