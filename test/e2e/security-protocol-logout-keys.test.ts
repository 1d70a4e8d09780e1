import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { rotateKeys } from '../../src/oidc/keys.js';
import { TTL } from '../../src/oidc/provider.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { codeOf, codeRequest, fetchMetadata, redeemCode, signInFor, silentFor, stringField, TEST_RP, type ClientAuth, type ProviderMetadata } from '../support/oauth.js';
import { authorizationError, errorShownOnPage } from '../support/oidc-errors.js';
import { startRpServer, type RpServer } from '../support/rp-server.js';

/** SECURITY-CHECKLIST.md S-10 (RP-initiated and back-channel logout) and S-12 (signing-key rotation). */

const LOGGED_OUT = 'http://rp.test/logged-out';
const HANG_RP: ClientAuth = { clientId: 'hang-rp', secret: `${TEST_SECRET}-hang`, method: 'client_secret_basic' };
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** What a browser asks for when it follows a link (the provider answers errors as JSON otherwise). */
const BROWSER_ACCEPT = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

async function publicJwks(metadata: ProviderMetadata): Promise<jose.JSONWebKeySet> {
  const response = await fetch(metadata.jwks_uri);
  expect(response.status).toBe(200);
  return (await response.json()) as jose.JSONWebKeySet;
}

describe('S-10 RP-initiated and back-channel logout', () => {
  let receiver: RpServer;
  let hanging: RpServer;
  let app: TestApp;
  let metadata: ProviderMetadata;
  let person: TestPerson;

  beforeAll(async () => {
    [receiver, hanging] = await Promise.all([startRpServer(), startRpServer({ hang: true })]);
    app = await startTestApp({
      clients: testClientsFile([
        testClient({ backchannel_logout_uri: `${receiver.url}/backchannel-logout` }),
        testClient({ client_id: HANG_RP.clientId, client_secret: HANG_RP.secret, backchannel_logout_uri: `${hanging.url}/backchannel-logout` }),
      ]),
    });
    metadata = await fetchMetadata(app.url);
    person = await createPerson(app.app.services);
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([receiver?.close(), hanging?.close()]);
  });

  /** Signs a new browser in at `auth` and returns it with the ID token. */
  async function signedIn(auth: ClientAuth = TEST_RP, browser = new Browser(app.url)): Promise<{ browser: Browser; idToken: string }> {
    const request = codeRequest(metadata, { client_id: auth.clientId });
    const callback = browser.jar.getCookiesSync(app.url).length ? await silentFor(browser, request) : await signInFor(browser, request, person.loginName, person.password);
    const tokens = await redeemCode(metadata, auth, request, codeOf(callback));
    expect(tokens.status).toBe(200);
    return { browser, idToken: stringField(tokens, 'id_token') };
  }

  function endSessionUrl(params: Record<string, string>): string {
    const url = new URL(metadata.end_session_endpoint);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url.toString();
  }

  function expectErrorPageWithoutRedirect(page: Page): void {
    expect(page.status).toBe(400);
    expect(page.headers.get('location')).toBeNull();
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(errorShownOnPage(page)).toBeDefined();
    expect(page.body).not.toContain('evil.test');
    expect(page.html.querySelector('form[id="op.logoutForm"]')).toBeNull();
  }

  async function stillSignedIn(browser: Browser): Promise<boolean> {
    const request = codeRequest(metadata, { prompt: 'none' });
    return authorizationError(await browser.get(request.url), request.redirectUri).params.get('code') !== null;
  }

  async function confirmLogout(browser: Browser, params: Record<string, string>): Promise<{ page: Page; elapsedMs: number }> {
    const confirm = await browser.get(endSessionUrl(params));
    expect(confirm.html.querySelector('form[id="op.logoutForm"]')).not.toBeNull();
    const started = Date.now();
    const page = await browser.submit(confirm, 'form[id="op.logoutForm"]', {}, { name: 'logout', value: 'yes' });
    return { page, elapsedMs: Date.now() - started };
  }

  it.each([
    ['an unregistered URI', 'http://evil.test/logged-out'],
    ['an added query', `${LOGGED_OUT}?next=http://evil.test/`],
    ['a changed path', `${LOGGED_OUT}/x`],
    ['a changed port', 'http://rp.test:8080/logged-out'],
    ['the login redirect_uri (not registered for logout)', 'http://rp.test/cb'],
  ])('S-10 when post_logout_redirect_uri is %s, then logout never redirects there', async (_label, postLogoutRedirectUri) => {
    const { browser, idToken } = await signedIn();
    const variants: Record<string, string>[] = [
      { id_token_hint: idToken, post_logout_redirect_uri: postLogoutRedirectUri, state: 's' },
      { client_id: 'test-rp', post_logout_redirect_uri: postLogoutRedirectUri, state: 's' },
    ];
    for (const params of variants) {
      expectErrorPageWithoutRedirect(await browser.request(endSessionUrl(params), { headers: BROWSER_ACCEPT }));
    }
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it('S-10 when the id_token_hint is signed by another key or issuer, then logout shows an error and never redirects', async () => {
    const { browser, idToken } = await signedIn();
    const genuine = jose.decodeJwt(idToken);
    const genuineHeader = jose.decodeProtectedHeader(idToken);
    const { privateKey } = await jose.generateKeyPair('RS256');
    const claims = { ...genuine, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600 };
    const forged = async (payload: jose.JWTPayload, header: jose.JWTHeaderParameters, key: jose.CryptoKey | Uint8Array) =>
      new jose.SignJWT(payload).setProtectedHeader(header).sign(key);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const hints: [string, string][] = [
      ['another key, our issuer, our kid', await forged(claims, { alg: 'RS256', kid: genuineHeader.kid! }, privateKey)],
      ['another key and issuer', await forged({ ...claims, iss: 'http://evil.test' }, { alg: 'RS256', kid: 'evil' }, privateKey)],
      ['HS256 with the client secret', await forged(claims, { alg: 'HS256' }, new TextEncoder().encode(TEST_SECRET))],
      ['alg none', unsigned],
    ];
    for (const [label, hint] of hints) {
      const page = await browser.request(endSessionUrl({ id_token_hint: hint, post_logout_redirect_uri: LOGGED_OUT, state: 's' }), { headers: BROWSER_ACCEPT });
      expect({ label, status: page.status }).toEqual({ label, status: 400 });
      expectErrorPageWithoutRedirect(page);
    }
    expect(await stillSignedIn(browser)).toBe(true);
  });

  it('S-10 when a person logs out, then the RP receives a back-channel logout token with events, sid, sub, aud, iss and no nonce', async () => {
    const { browser, idToken } = await signedIn();
    const idClaims = jose.decodeJwt(idToken);
    expect(idClaims.sid).toEqual(expect.any(String));
    const already = receiver.received.length;

    const { page } = await confirmLogout(browser, { id_token_hint: idToken, post_logout_redirect_uri: LOGGED_OUT, state: 'bye' });
    expect(page.headers.get('location')).toBe(`${LOGGED_OUT}?state=bye`);

    const delivered = await receiver.next(5000);
    expect(receiver.received.length).toBe(already + 1);
    expect(delivered.method).toBe('POST');
    expect(delivered.path).toBe('/backchannel-logout');
    expect(delivered.contentType).toMatch(/^application\/x-www-form-urlencoded/);
    const logoutToken = new URLSearchParams(delivered.body).get('logout_token');
    expect(logoutToken).toEqual(expect.any(String));

    const { payload, protectedHeader } = await jose.jwtVerify(logoutToken!, jose.createLocalJWKSet(await publicJwks(metadata)), {
      issuer: app.issuer,
      audience: 'test-rp',
      algorithms: ['RS256'],
      requiredClaims: ['iat', 'jti', 'events'],
    });
    expect(protectedHeader.alg).toBe('RS256');
    if (protectedHeader.typ !== undefined) expect(protectedHeader.typ).toBe('logout+jwt');
    expect(payload.iss).toBe(app.issuer);
    expect([payload.aud].flat()).toEqual(['test-rp']);
    expect(payload.events).toEqual({ [BACKCHANNEL_EVENT]: {} });
    expect(payload.sid).toBe(idClaims.sid);
    expect(payload.sub).toBe(person.id);
    expect(payload).not.toHaveProperty('nonce');

    expect(await stillSignedIn(browser)).toBe(false);
  });

  it('S-10 when an RP back-channel endpoint hangs, then logout completes within about 3 s and the other RP is still notified', async () => {
    const { browser } = await signedIn(HANG_RP);
    const { idToken } = await signedIn(TEST_RP, browser); // the same session now also holds test-rp
    const hangingBefore = hanging.received.length;
    const receiverBefore = receiver.received.length;

    const { page, elapsedMs } = await confirmLogout(browser, { id_token_hint: idToken, post_logout_redirect_uri: LOGGED_OUT });
    expect(page.headers.get('location')).toBe(LOGGED_OUT);
    expect(elapsedMs).toBeLessThan(3500);
    expect(hanging.received.length).toBeGreaterThanOrEqual(hangingBefore + 1); // it was called and did not answer
    // S-56: the failed notification is queued and retried by the job worker.
    const queued = await app.db.query("SELECT 1 FROM job WHERE kind = 'backchannel_logout' AND payload->>'clientId' = $1", [HANG_RP.clientId]);
    expect(queued.rows.length).toBeGreaterThan(0);
    expect(receiver.received.length).toBe(receiverBefore + 1);
    const logoutToken = new URLSearchParams(receiver.received.at(-1)!.body).get('logout_token')!;
    expect(jose.decodeJwt(logoutToken).aud).toBe('test-rp');
    expect(await stillSignedIn(browser)).toBe(false);
  });
});

describe('S-12 signing-key rotation', () => {
  let database: TestDatabase;
  let dir: string;
  let first: TestApp | undefined;
  let second: TestApp | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-rotation-'));
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function idTokenFrom(app: TestApp, person: TestPerson): Promise<string> {
    const metadata = await fetchMetadata(app.url);
    const request = codeRequest(metadata);
    const callback = await signInFor(new Browser(app.url), request, person.loginName, person.password);
    const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(callback));
    expect(tokens.status).toBe(200);
    return stringField(tokens, 'id_token');
  }

  it('S-12 when the keys are rotated and a second instance starts, then old and new keys are published, new ID tokens use the new RS256 key and old ones still verify', async () => {
    first = await startTestApp({ database, dir });
    const person = await createPerson(first.app.services);
    const firstMetadata = await fetchMetadata(first.url);
    const before = await publicJwks(firstMetadata);
    const oldIdToken = await idTokenFrom(first, person);
    const oldKid = jose.decodeProtectedHeader(oldIdToken).kid!;
    expect(before.keys.find((key) => key.kid === oldKid)?.alg).toBe('RS256');

    const rotation = await rotateKeys(first.config.certsDir, first.config.keyRetentionSeconds);
    expect(rotation.added).toHaveLength(before.keys.length);
    expect(rotation.retired.sort()).toEqual(before.keys.map((key) => key.kid!).sort());
    expect(rotation.removed).toEqual([]);

    // Another instance, same database, same certs/, same issuer (as after a rolling restart).
    second = await startTestApp({ database, dir, env: { ISSUER: first.issuer } });
    const secondMetadata = await fetchMetadata(second.url);
    expect(secondMetadata.issuer).toBe(first.issuer);
    const after = await publicJwks(secondMetadata);
    const kidsAfter = after.keys.map((key) => key.kid!);
    expect(kidsAfter).toEqual(expect.arrayContaining([...before.keys.map((key) => key.kid!), ...rotation.added]));
    expect(kidsAfter).toHaveLength(before.keys.length + rotation.added.length);
    for (const key of after.keys) expect(key).not.toHaveProperty('d');
    const newRsaKid = after.keys.find((key) => rotation.added.includes(key.kid!) && key.alg === 'RS256')?.kid;
    expect(newRsaKid).toBeDefined();

    const newIdToken = await idTokenFrom(second, person);
    expect(jose.decodeProtectedHeader(newIdToken)).toMatchObject({ alg: 'RS256', kid: newRsaKid });
    expect(newRsaKid).not.toBe(oldKid);

    const keySet = jose.createLocalJWKSet(after);
    const options = { issuer: first.issuer, audience: 'test-rp', algorithms: ['RS256'] };
    const verifiedOld = await jose.jwtVerify(oldIdToken, keySet, options);
    expect(verifiedOld.payload.sub).toBe(person.id);
    expect(verifiedOld.protectedHeader.kid).toBe(oldKid);
    const verifiedNew = await jose.jwtVerify(newIdToken, keySet, options);
    expect(verifiedNew.payload.sub).toBe(person.id);
  });

  it('S-12 when the retention has not passed, then a later rotation keeps the retired key; after it (longer than an ID token lives) the key goes', async () => {
    expect(first).toBeDefined();
    const retention = first!.config.keyRetentionSeconds;
    expect(retention).toBeGreaterThan(TTL.IdToken);
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-rotation-copy-'));
    try {
      fs.cpSync(first!.config.certsDir, copy, { recursive: true });
      const state = JSON.parse(fs.readFileSync(path.join(copy, 'jwks-state.json'), 'utf8')) as Record<string, { retiredAt?: string }>;
      const retired = Object.entries(state).filter(([, entry]) => entry.retiredAt);
      expect(retired.length).toBeGreaterThan(0);
      const retiredAt = Math.max(...retired.map(([, entry]) => Date.parse(entry.retiredAt!)));

      const soon = await rotateKeys(copy, retention, new Date(retiredAt + (retention - 60) * 1000));
      expect(soon.removed).toEqual([]);
      const later = await rotateKeys(copy, retention, new Date(retiredAt + (retention + 60) * 1000));
      expect(later.removed.sort()).toEqual(retired.map(([kid]) => kid).sort());
      const published = (JSON.parse(fs.readFileSync(path.join(copy, 'jwks.json'), 'utf8')) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
      for (const [kid] of retired) expect(published).not.toContain(kid);
      for (const kid of soon.added) expect(published).toContain(kid);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });
});
