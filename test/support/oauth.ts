import crypto from 'node:crypto';
import { Browser, type Page } from './browser.js';
import { RP_REDIRECT, TEST_SECRET } from './fixtures.js';
import type { Queryable } from '../../src/shared/db/database.js';

/**
 * Raw OAuth 2.0 / OIDC requests for protocol tests: unlike openid-client (which refuses to send many of the
 * malformed or hostile requests these tests need), these helpers send exactly what they are given.
 */

export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  userinfo_endpoint: string;
  jwks_uri: string;
  introspection_endpoint: string;
  revocation_endpoint: string;
  end_session_endpoint: string;
  [name: string]: unknown;
}

export async function fetchMetadata(url: string): Promise<ProviderMetadata> {
  const response = await fetch(new URL('/.well-known/openid-configuration', url));
  if (!response.ok) throw new Error(`discovery answered ${response.status}`);
  return (await response.json()) as ProviderMetadata;
}

export type AuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface ClientAuth {
  clientId: string;
  secret?: string | undefined;
  method: AuthMethod;
}

export const TEST_RP: ClientAuth = { clientId: 'test-rp', secret: TEST_SECRET, method: 'client_secret_basic' };

export interface JsonResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined for HTTP Basic. */
export function basicAuthorization(clientId: string, secret: string): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(secret)}`).toString('base64')}`;
}

/** POSTs a form to an endpoint of the provider, authenticating as `auth` (or not at all when undefined). */
export async function postForm(url: string, params: Record<string, string>, auth?: ClientAuth, extraHeaders: Record<string, string> = {}): Promise<JsonResponse> {
  const form = new URLSearchParams(params);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...extraHeaders };
  if (auth?.method === 'client_secret_basic') headers.authorization = basicAuthorization(auth.clientId, auth.secret ?? '');
  if (auth?.method === 'client_secret_post') {
    form.set('client_id', auth.clientId);
    form.set('client_secret', auth.secret ?? '');
  }
  if (auth?.method === 'none') form.set('client_id', auth.clientId);
  const response = await fetch(url, { method: 'POST', headers, body: form.toString() });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { raw: text };
  }
  return { status: response.status, headers: response.headers, body };
}

export interface Pkce {
  verifier: string;
  challenge: string;
}

export function pkcePair(): Pkce {
  const verifier = crypto.randomBytes(32).toString('base64url');
  return { verifier, challenge: crypto.createHash('sha256').update(verifier).digest('base64url') };
}

/** An authorization request as the test sends it; `undefined` values are left out of the URL. */
export interface CodeRequest {
  url: string;
  clientId: string;
  redirectUri: string;
  state: string;
  nonce: string;
  verifier: string;
  params: Record<string, string>;
}

export function codeRequest(metadata: ProviderMetadata, overrides: Record<string, string | undefined> = {}): CodeRequest {
  const pkce = pkcePair();
  const merged: Record<string, string | undefined> = {
    client_id: 'test-rp',
    response_type: 'code',
    redirect_uri: RP_REDIRECT,
    scope: 'openid profile',
    state: crypto.randomBytes(12).toString('base64url'),
    nonce: crypto.randomBytes(12).toString('base64url'),
    code_challenge: pkce.challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
  const params = Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const url = new URL(metadata.authorization_endpoint);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return {
    url: url.toString(),
    clientId: params.client_id ?? '',
    redirectUri: params.redirect_uri ?? '',
    state: params.state ?? '',
    nonce: params.nonce ?? '',
    verifier: pkce.verifier,
    params,
  };
}

/** The Location header of a page, resolved, or undefined when the provider did not redirect. */
export function locationOf(page: Page): URL | undefined {
  const location = page.headers.get('location');
  return location ? new URL(location, page.url) : undefined;
}

/** The redirect back to `redirectUri` that ends a flow; throws with the page text otherwise. */
export function redirectTo(page: Page, redirectUri: string): URL {
  const location = locationOf(page);
  if (!location || !location.toString().startsWith(redirectUri)) {
    throw new Error(`expected a redirect to ${redirectUri}, got ${page.status} at ${page.url} (location ${String(location)}):\n${Browser.text(page).slice(0, 800)}`);
  }
  return location;
}

/** Opens the request, signs in on the personal tab and returns the redirect back to the RP. */
export async function signInFor(browser: Browser, request: CodeRequest, account: string, password: string): Promise<URL> {
  const login = await browser.get(request.url);
  if (!login.html.querySelector('form#person-login')) {
    throw new Error(`expected the sign-in page, got ${login.status} at ${login.url}:\n${Browser.text(login).slice(0, 800)}`);
  }
  const after = await browser.submit(login, 'form#person-login', { account, password });
  return redirectTo(after, request.redirectUri);
}

/** Opens the request with an existing session and returns the redirect back to the RP (no sign-in page). */
export async function silentFor(browser: Browser, request: CodeRequest): Promise<URL> {
  return redirectTo(await browser.get(request.url), request.redirectUri);
}

export function codeOf(callback: URL): string {
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code in ${callback.toString()}`);
  return code;
}

export async function redeemCode(
  metadata: ProviderMetadata,
  auth: ClientAuth,
  request: CodeRequest,
  code: string,
  overrides: Record<string, string | undefined> = {},
): Promise<JsonResponse> {
  const merged: Record<string, string | undefined> = { grant_type: 'authorization_code', code, redirect_uri: request.redirectUri, code_verifier: request.verifier, ...overrides };
  const params = Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined));
  return postForm(metadata.token_endpoint, params, auth);
}

export async function refresh(metadata: ProviderMetadata, auth: ClientAuth, refreshToken: string, extra: Record<string, string> = {}): Promise<JsonResponse> {
  return postForm(metadata.token_endpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra }, auth);
}

export async function introspect(metadata: ProviderMetadata, auth: ClientAuth, token: string): Promise<JsonResponse> {
  return postForm(metadata.introspection_endpoint, { token }, auth);
}

/** Status of a userinfo request with the access token (200 when the token is usable). */
export async function userinfoStatus(metadata: ProviderMetadata, accessToken: string): Promise<number> {
  const response = await fetch(metadata.userinfo_endpoint, { headers: { authorization: `Bearer ${accessToken}` } });
  await response.arrayBuffer();
  return response.status;
}

export function stringField(response: JsonResponse, name: string): string {
  const value = response.body[name];
  if (typeof value !== 'string') throw new Error(`no ${name} in ${response.status} ${JSON.stringify(response.body)}`);
  return value;
}

export interface StoredArtefact {
  payload: Record<string, unknown>;
  expires_at: Date | null;
  consumed_at: Date | null;
  grant_id: string | null;
}

/** A row of the provider's storage (oidc_model) as the adapter wrote it, expired or not. */
export async function storedArtefact(db: Queryable, model: string, id: string): Promise<StoredArtefact | undefined> {
  const { rows } = await db.query<StoredArtefact>('SELECT payload, expires_at, consumed_at, grant_id FROM oidc_model WHERE model = $1 AND id = $2', [model, id]);
  return rows[0];
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
