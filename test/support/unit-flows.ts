import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import * as jose from 'jose';
import type { Services } from '../../src/services.js';
import type { Queryable } from '../../src/shared/db/database.js';
import { Browser, type Page } from './browser.js';
import { TEST_BUSINESSES, testClient, testClientsFile } from './fixtures.js';
import type { TestPerson } from './people.js';
import { authorizationUrl, callbackOf, redeem, type Authorization } from './rp.js';

/**
 * Helpers for the unit sign-in tests (issue 5): a relying party that signs a person in for a unit through the
 * real pages, the token endpoint outcomes an RP sees (refresh, introspection, userinfo), and a back-channel
 * logout receiver that checks the logout token against the provider's JWKS.
 */

export type Tokens = Awaited<ReturnType<typeof redeem>>;

/** Every business scope of the test catalogue. */
export const ALL_BUSINESS_SCOPES = TEST_BUSINESSES.map((business) => `biz:${business.code}`);

/** test-rp allowed every scope of the catalogue, optionally with a back-channel logout URI (and more clients). */
export function unitClientsFile(options: { backchannelLogoutUri?: string; redirectUris?: string[]; more?: Record<string, unknown>[] } = {}): Record<string, unknown> {
  return testClientsFile([
    testClient({
      scopes: ['openid', 'profile', 'phone', 'offline_access', 'unit', ...ALL_BUSINESS_SCOPES],
      ...(options.backchannelLogoutUri ? { backchannel_logout_uri: options.backchannelLogoutUri } : {}),
      ...(options.redirectUris ? { redirect_uris: options.redirectUris } : {}),
    }),
    ...(options.more ?? []),
  ]);
}

/** The unit_* claims of a claim set (ID token or userinfo). */
export function unitClaimsOf(claims: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(claims ?? {}).filter(([name]) => name.startsWith('unit_')));
}

export function scopesOf(tokens: { scope?: string | undefined }): string[] {
  return (tokens.scope ?? '').split(' ').filter(Boolean).sort();
}

/** Fields of a form as a browser would send them (hidden fields, checked boxes), before the person's changes. */
export function formDefaults(page: Page, selector: string): [string, string][] {
  const form = page.html.querySelector(selector);
  if (!form) throw new Error(`no form ${selector} on ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  const fields: [string, string][] = [];
  for (const input of form.querySelectorAll('input')) {
    const name = input.getAttribute('name');
    const type = input.getAttribute('type') ?? 'text';
    if (!name) continue;
    if ((type === 'checkbox' || type === 'radio') && !input.hasAttribute('checked')) continue;
    fields.push([name, input.getAttribute('value') ?? '']);
  }
  return fields;
}

/**
 * Posts exactly these fields to the form's action (repeated names, omitted fields: what a hostile or buggy
 * client sends) with the browser's cookies, and follows redirects while they stay at the provider.
 */
export async function postFields(browser: Browser, page: Page, selector: string, fields: [string, string][]): Promise<Page> {
  const form = page.html.querySelector(selector);
  if (!form) throw new Error(`no form ${selector} on ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  const action = new URL(form.getAttribute('action') ?? page.url, page.url).toString();
  const body = new URLSearchParams(fields).toString();
  return browser.follow(await browser.request(action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
}

/** Posts exactly these fields to a path of the provider with the browser's cookies, and follows at the provider. */
export async function postTo(browser: Browser, path: string, fields: [string, string][]): Promise<Page> {
  const body = new URLSearchParams(fields).toString();
  return browser.follow(await browser.request(path, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
}

/** The interaction uid of an interaction page (`/interaction/<uid>`). */
export function interactionUidOf(page: Page): string {
  const match = /^\/interaction\/([^/]+)/.exec(new URL(page.url).pathname);
  if (!match) throw new Error(`not an interaction page: ${page.url}`);
  return match[1]!;
}

/** The `_csrf` value of a form on the page. */
export function csrfOf(page: Page, selector: string): string {
  const value = page.html.querySelector(`${selector} input[name=_csrf]`)?.getAttribute('value');
  if (!value) throw new Error(`no CSRF field in ${selector} on ${page.url}`);
  return value;
}

/** The unit ids offered by the picker, and which one is preselected. */
export function pickerChoices(page: Page): { unitIds: string[]; checked: string[] } {
  const radios = page.html.querySelectorAll('form#select-unit input[type=radio][name=unitId]');
  return {
    unitIds: radios.map((radio) => radio.getAttribute('value') ?? ''),
    checked: radios.filter((radio) => radio.hasAttribute('checked')).map((radio) => radio.getAttribute('value') ?? ''),
  };
}

/** Opens the authorization URL and signs in through the personal tab (ticking 以单位身份登录 when `unitMode`). */
export async function openAndLogIn(browser: Browser, authorization: Authorization, person: TestPerson, unitMode: boolean): Promise<Page> {
  const login = await browser.get(authorization.url.toString());
  if (!login.html.querySelector('form#person-login')) {
    throw new Error(`expected the sign-in page, got ${login.status} at ${login.url}:\n${Browser.text(login).slice(0, 800)}`);
  }
  const fields = formDefaults(login, 'form#person-login').filter(([name]) => name !== 'unitMode' && name !== 'account' && name !== 'password');
  fields.push(['account', person.loginName], ['password', person.password]);
  if (unitMode) fields.push(['unitMode', '1']);
  return postFields(browser, login, 'form#person-login', fields);
}

/** Allows on the consent page when it is shown (offline_access needs prompt=consent, OIDC Core §11). */
export async function consentIfAsked(browser: Browser, page: Page): Promise<Page> {
  return page.html.querySelector('form[action$="/confirm"]') ? browser.submit(page, 'form[action$="/confirm"]') : page;
}

export interface UnitSignIn {
  browser: Browser;
  authorization: Authorization;
  tokens: Tokens;
}

/**
 * The whole flow of an RP: authorization request, password with 以单位身份登录, the picker (and, for an
 * unverified unit asked for a business that needs verification, “continue without”), code redemption.
 */
export async function signInAsUnit(
  config: client.Configuration,
  issuerUrl: string,
  person: TestPerson,
  unitId: string,
  params: Record<string, string>,
  browser: Browser = new Browser(issuerUrl),
): Promise<UnitSignIn> {
  const authorization = await authorizationUrl(config, params);
  let page = await openAndLogIn(browser, authorization, person, true);
  if (!page.html.querySelector('form#select-unit')) {
    throw new Error(`expected the unit picker, got ${page.status} at ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  }
  page = await browser.submit(page, 'form#select-unit', { unitId });
  if (page.html.querySelector('form#continue-unverified')) page = await browser.submit(page, 'form#continue-unverified');
  page = await consentIfAsked(browser, page);
  const tokens = await redeem(config, authorization, callbackOf(page));
  return { browser, authorization, tokens };
}

export type RefreshedTokens = Awaited<ReturnType<typeof client.refreshTokenGrant>>;

export type RefreshOutcome = { ok: true; tokens: RefreshedTokens; claims: Record<string, unknown> | undefined } | { ok: false; error: string; status: number | undefined };

/** A refresh as an RP does it; the OAuth error code instead of an exception when the provider refuses. */
export async function tryRefresh(config: client.Configuration, refreshToken: string, parameters: Record<string, string> = {}): Promise<RefreshOutcome> {
  try {
    const tokens = await client.refreshTokenGrant(config, refreshToken, parameters);
    return { ok: true, tokens, claims: tokens.claims() as Record<string, unknown> | undefined };
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return { ok: false, error: error.error, status: error.status };
    throw error;
  }
}

/** Refreshes and fails the test with the provider's answer when it refuses. */
export async function refresh(config: client.Configuration, refreshToken: string, parameters: Record<string, string> = {}) {
  const outcome = await tryRefresh(config, refreshToken, parameters);
  if (!outcome.ok) throw new Error(`refresh refused: ${outcome.status} ${outcome.error}`);
  return outcome;
}

export async function introspect(config: client.Configuration, token: string): Promise<client.IntrospectionResponse> {
  return client.tokenIntrospection(config, token);
}

/** GET userinfo with the access token; the HTTP status and the JSON body (if any). */
export async function userinfo(config: client.Configuration, accessToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const endpoint = config.serverMetadata().userinfo_endpoint;
  if (!endpoint) throw new Error('no userinfo_endpoint in discovery');
  const response = await fetch(endpoint, { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { raw: text };
  }
  return { status: response.status, body };
}

/** The grant a refresh token belongs to, read from the provider's storage. */
export async function grantOfRefreshToken(db: Queryable, refreshToken: string): Promise<string | undefined> {
  const { rows } = await db.query<{ grant_id: string | null }>("SELECT grant_id FROM oidc_model WHERE model = 'RefreshToken' AND id = $1", [refreshToken]);
  return rows[0]?.grant_id ?? undefined;
}

/** How many authorization codes the provider has stored (to prove that a refused step issued none). */
export async function codeCount(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ count: string }>("SELECT count(*)::text AS count FROM oidc_model WHERE model = 'AuthorizationCode'");
  return Number(rows[0]?.count ?? 0);
}

/** An operator to issue counter authorisation codes (R-U5). */
export async function createOperator(services: Services): Promise<string> {
  const { operator } = await services.operators.create(`op${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`, '窗口人员');
  return operator.id;
}

export async function issueCode(services: Services, operatorId: string, unitId: string): Promise<string> {
  const { code } = await services.verification.issue(unitId, { actor: { type: 'operator', id: operatorId } });
  return code;
}

export interface LogoutRequest {
  contentType: string;
  body: string;
}

export interface LogoutReceiver {
  /** The RP's back-channel logout URI on 127.0.0.1. */
  uri: string;
  received: LogoutRequest[];
  /** Resolves with the next request not yet taken; rejects after `timeoutMs`. */
  next(timeoutMs?: number): Promise<LogoutRequest>;
  /** Waits `ms` and returns how many requests arrived that were not taken. */
  quiet(ms: number): Promise<number>;
  close(): Promise<void>;
}

/** A relying party's back-channel logout endpoint (answers 200 to every POST and records it), on `port` or a free one. */
export async function startLogoutReceiver(port = 0): Promise<LogoutReceiver> {
  const received: LogoutRequest[] = [];
  let taken = 0;
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'POST') received.push({ contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(req.method === 'POST' ? 200 : 405, { 'cache-control': 'no-store' }).end();
      for (const wake of [...waiters]) wake();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const listening = (server.address() as AddressInfo).port;
  return {
    uri: `http://127.0.0.1:${listening}/backchannel-logout`,
    received,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length <= taken) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`the RP's back-channel logout endpoint received nothing within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            waiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, left);
          waiters.add(wake);
        });
      }
      taken += 1;
      return received[taken - 1]!;
    },
    async quiet(ms: number) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      const extra = received.length - taken;
      taken = received.length;
      return extra;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Checks a back-channel logout request as an RP must (OpenID Back-Channel Logout 1.0 §2.6): form-encoded
 * `logout_token`, signature against the provider's JWKS, `typ` logout+jwt, `iss`, `aud`, `iat`, `jti`, the logout
 * event, and no `nonce`. Returns the verified claims.
 */
export async function verifyLogoutToken(request: LogoutRequest, issuer: string, clientId: string): Promise<jose.JWTPayload> {
  expect(request.contentType).toMatch(/^application\/x-www-form-urlencoded/);
  const token = new URLSearchParams(request.body).get('logout_token');
  expect(token).toBeTruthy();
  const jwks = jose.createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const { payload, protectedHeader } = await jose.jwtVerify(token!, jwks, { issuer, audience: clientId });
  expect(protectedHeader.typ).toBe('logout+jwt');
  expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
  expect(payload).not.toHaveProperty('nonce');
  expect(typeof payload.iat).toBe('number');
  expect(typeof payload.jti).toBe('string');
  return payload;
}
