import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { Router } from '@koa/router';
import * as client from 'openid-client';
import * as jose from 'jose';
import { createVerifier, identityOf, protect, requireSession, requireToken, requireUnit, sessionOf, type FetchLike, type RpError, type Verifier } from '@unit-oidc/rp-kit';
import { rotateKeys } from '../../src/oidc/keys.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { nodeListener } from '../../src/shared/http/listener.js';

/** S-9, C-T4, C-T7: the RP kit against real tokens of the provider, and against forged ones. */

const RESOURCE = 'https://ce.rp.test/api';
const SCOPE = 'openid profile unit biz:continuing_education';

interface Tokens {
  access: string;
  id: string;
  refresh: string | undefined;
}

/** Signs in through the real pages (as a unit when `unitId` is given) and redeems the code for the resource. */
async function signIn(app: TestApp, config: client.Configuration, person: TestPerson, unitId?: string): Promise<Tokens> {
  const browser = new Browser(app.config.issuer);
  const authorization = await authorizationUrl(config, { scope: SCOPE, resource: RESOURCE });
  const login = await browser.get(authorization.url.toString());
  let page = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password, ...(unitId ? { unitMode: '1' } : {}) });
  if (unitId) page = await browser.submit(page, 'form#select-unit', { unitId });
  const tokens = await client.authorizationCodeGrant(
    config,
    callbackOf(page),
    { pkceCodeVerifier: authorization.verifier, expectedState: authorization.state, expectedNonce: authorization.nonce },
    { resource: RESOURCE },
  );
  return { access: tokens.access_token, id: tokens.id_token!, refresh: tokens.refresh_token };
}

/** fetch that counts the JWKS requests of a verifier. */
function countingFetch(): { fetch: FetchLike; jwks: () => number } {
  const urls: string[] = [];
  return {
    fetch: (url, init) => {
      urls.push(url);
      return fetch(url, init);
    },
    jwks: () => urls.filter((url) => new URL(url).pathname === '/jwks').length,
  };
}

async function refusal(promise: Promise<unknown>): Promise<RpError> {
  try {
    await promise;
  } catch (error) {
    return error as RpError;
  }
  throw new Error('expected the token to be refused');
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

interface Answer {
  status: number;
  challenge: string | null;
  body: Record<string, unknown>;
}

async function call(url: string, token?: string): Promise<Answer> {
  const response = await fetch(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: (await response.json()) as Record<string, unknown> };
}

async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('RP kit against the provider (S-9, C-T4)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let handler: TestPerson;
  let withoutPermission: TestPerson;
  let unit: TestUnit;
  let unitTokens: Tokens;
  let personalTokens: Tokens;
  let verifier: Verifier;
  let jwksFetches: () => number;
  let signingKey: jose.CryptoKey;
  let signingJwk: jose.JWK & { kid: string };
  let koaServer: { url: string; close(): Promise<void> };
  let httpServer: { url: string; close(): Promise<void> };

  /** A token exactly like the provider's, signed with the provider's own RS256 key, with one thing changed. */
  async function forge(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: jose.CryptoKey | Uint8Array = signingKey): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new jose.SignJWT({
      iss: app.issuer,
      aud: RESOURCE,
      sub: handler.id,
      client_id: 'test-rp',
      jti: crypto.randomUUID(),
      iat: now,
      exp: now + 300,
      scope: 'biz:continuing_education',
      unit_id: unit.id,
      unit_role: 'handler',
      unit_verified: true,
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: signingJwk.kid, ...header } as jose.JWTHeaderParameters)
      .sign(key);
  }

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
    const contact = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    handler = await createPerson(app.app.services, { verified: true, legalName: '李四' });
    withoutPermission = await createPerson(app.app.services, { verified: true, legalName: '王五' });
    unit = await createUnit(app.app.services, contact, { name: '示例科技有限公司', verified: true });
    await bindHandler(app.app.services, unit, handler, ['biz:continuing_education']);
    await bindHandler(app.app.services, unit, withoutPermission, ['biz:civil_service_exam']);
    unitTokens = await signIn(app, config, handler, unit.id);
    personalTokens = await signIn(app, config, handler);

    const privateJwks = JSON.parse(fs.readFileSync(path.join(app.config.certsDir, 'jwks.json'), 'utf8')) as { keys: (jose.JWK & { kid: string })[] };
    signingJwk = privateJwks.keys.find((key) => key.alg === 'RS256')!;
    signingKey = (await jose.importJWK(signingJwk, 'RS256')) as jose.CryptoKey;

    const counting = countingFetch();
    jwksFetches = counting.jwks;
    verifier = createVerifier({ issuer: app.issuer, audience: RESOURCE, clientId: 'test-rp', fetch: counting.fetch });

    const koa = new Koa();
    const router = new Router();
    router.get('/unit', requireUnit(verifier, { scopes: ['biz:continuing_education'], realm: 'ce' }), (ctx) => {
      const identity = identityOf(ctx);
      ctx.body = { subject: identity.subject, unit: identity.unit ?? null };
    });
    router.get('/any', requireToken(verifier, { realm: 'ce' }), (ctx) => {
      ctx.body = { subject: identityOf(ctx).subject, unit: identityOf(ctx).unit ?? null };
    });
    // A web page behind the ID-token session guard; the test's "session store" is a cookie holding the ID token.
    router.get(
      '/page',
      requireSession(verifier, { idToken: (ctx) => ctx.cookies.get('id_token'), loginUrl: '/login', unit: true, scopes: ['biz:continuing_education'] }),
      (ctx) => {
        const session = sessionOf(ctx);
        ctx.body = { subject: session.subject, unit: session.unit?.id ?? null, role: session.role ?? null, scopes: session.scopes };
      },
    );
    koa.use(router.routes());
    koaServer = await serve(nodeListener(koa.callback()));
    httpServer = await serve(
      protect(verifier, { unit: true, scopes: ['biz:continuing_education'], realm: 'ce' }, (_req, res, identity) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ subject: identity.subject, unit: identity.unit ?? null }));
      }),
    );
  });
  afterAll(async () => {
    await koaServer?.close();
    await httpServer?.close();
    await app?.close();
  });

  it('when the provider issues a unit token for the resource, then the kit returns the person, the unit and the business scope', async () => {
    const identity = await verifier.verifyAccessToken(unitTokens.access);
    expect(identity).toMatchObject({
      subject: handler.id,
      clientId: 'test-rp',
      unit: { id: unit.id, role: 'handler', verified: true },
      scopes: ['biz:continuing_education'],
      businessScopes: ['biz:continuing_education'],
    });
    expect(identity.expiresAt.getTime()).toBeGreaterThan(Date.now());
    expect(identity.expiresAt.getTime() - identity.issuedAt.getTime()).toBeLessThanOrEqual(600_000);
    expect(identity.claims).toMatchObject({ iss: app.issuer, aud: RESOURCE, unit_id: unit.id });
    for (const url of [`${koaServer.url}/unit`, httpServer.url]) {
      const answer = await call(url, unitTokens.access);
      expect([url, answer.status, answer.body]).toEqual([url, 200, { subject: handler.id, unit: { id: unit.id, role: 'handler', verified: true, mfaRequired: false } }]);
    }
  });

  it('when the ID token of the same sign-in is verified, then it carries the unit claims (C-T2)', async () => {
    const identity = await verifier.verifyIdToken(unitTokens.id);
    expect(identity.unit).toEqual({
      id: unit.id,
      name: '示例科技有限公司',
      certType: 'uscc',
      certNo: unit.certNo,
      verified: true,
      role: 'handler',
      scopes: ['biz:continuing_education'],
      mfaRequired: false,
    });
    // Issue #18: a password-only sign-in, as the kit reads acr and amr.
    expect(identity).toMatchObject({ acr: 'urn:unit-oidc:acr:pwd', amr: ['pwd'], multiFactor: false });
    expect((await refusal(verifier.verifyIdToken(unitTokens.access))).code).toBe('wrong_audience');
  });

  it("when a Koa page is behind the ID-token session guard, then the unit sign-in's ID token shows unit, role and scopes; a personal one is 403; none or an access token go to the login", async () => {
    const page = (idToken?: string) => fetch(`${koaServer.url}/page?tab=1`, { redirect: 'manual', headers: idToken ? { cookie: `id_token=${idToken}` } : {} });
    const signedIn = await page(unitTokens.id);
    expect([signedIn.status, await signedIn.json()]).toEqual([200, { subject: handler.id, unit: unit.id, role: 'handler', scopes: ['biz:continuing_education'] }]);
    const personal = await page(personalTokens.id);
    expect([personal.status, ((await personal.json()) as { reason: string }).reason]).toEqual([403, 'unit_required']);
    for (const token of [undefined, unitTokens.access]) {
      const refused = await page(token);
      expect([refused.status, refused.headers.get('location')]).toEqual([303, '/login?return_to=%2Fpage%3Ftab%3D1']);
    }
  });

  it('control: a token forged with the provider key and nothing changed verifies (so each case below fails for its one defect)', async () => {
    await expect(verifier.verifyAccessToken(await forge())).resolves.toMatchObject({ subject: handler.id });
  });

  const badTokens: [string, () => Promise<string>, string][] = [
    ['a token from another issuer', () => forge({ iss: 'https://id.evil.example' }), 'wrong_issuer'],
    ['a token for another audience', () => forge({ aud: 'https://cse.rp.test/api' }), 'wrong_audience'],
    ['a token typed JWT instead of at+jwt', () => forge({}, { typ: 'JWT' }), 'wrong_type'],
    ['a token without typ', () => forge({}, { typ: undefined }), 'wrong_type'],
    ['the real ID token as an access token', async () => unitTokens.id, 'wrong_type'],
    ['a token expired 2 minutes ago', () => forge({ exp: Math.floor(Date.now() / 1000) - 120 }), 'token_expired'],
    ['a token with alg none', async () => `${b64({ alg: 'none', typ: 'at+jwt', kid: signingJwk.kid })}.${(await forge()).split('.')[1]}.`, 'algorithm_not_allowed'],
    [
      'a token HS256-signed with the public key (key confusion)',
      async () => {
        const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = signingJwk;
        const pem = crypto.createPublicKey({ key: publicJwk as crypto.JsonWebKey, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
        return forge({}, { alg: 'HS256' }, new Uint8Array(Buffer.from(pem)));
      },
      'algorithm_not_allowed',
    ],
    [
      'a real token with a changed unit_id (signature mismatch)',
      async () => {
        const [header, , signature] = unitTokens.access.split('.');
        const payload = jose.decodeJwt(unitTokens.access);
        return `${header}.${b64({ ...payload, unit_id: crypto.randomUUID() })}.${signature}`;
      },
      'bad_signature',
    ],
    ['a token without client_id (RFC 9068 required claim)', () => forge({ client_id: undefined }), 'invalid_claims'],
    ['a token with half a unit (unit_id only)', () => forge({ unit_role: undefined, unit_verified: undefined }), 'invalid_claims'],
    ['something that is not a JWT', async () => 'abc.def', 'malformed_token'],
  ];

  it.each(badTokens)('when %s is presented, then it is refused with 401 invalid_token', async (_name, make, code) => {
    const token = await make();
    const error = await refusal(verifier.verifyAccessToken(token));
    expect(error.code).toBe(code);
    expect(error.status).toBe(401);
    for (const url of [`${koaServer.url}/unit`, `${koaServer.url}/any`, httpServer.url]) {
      const answer = await call(url, token);
      expect([url, answer.status, answer.body.error, answer.body.reason]).toEqual([url, 401, 'invalid_token', code]);
      expect(answer.challenge).toMatch(/^Bearer realm="ce", error="invalid_token", error_description="[^"]+"$/);
    }
  });

  it('when a token expired less than the clock tolerance ago, then it is accepted; the tolerance is bounded', async () => {
    const now = Math.floor(Date.now() / 1000);
    const lenient = createVerifier({ issuer: app.issuer, audience: RESOURCE, clockToleranceSeconds: 60 });
    await expect(lenient.verifyAccessToken(await forge({ exp: now - 30 }))).resolves.toBeDefined();
    expect((await refusal(lenient.verifyAccessToken(await forge({ exp: now - 90 })))).code).toBe('token_expired');
    expect((await refusal(verifier.verifyAccessToken(await forge({ exp: now - 30 })))).code).toBe('token_expired');
    expect((await refusal(verifier.verifyAccessToken(await forge({ nbf: now + 120 })))).code).toBe('token_not_yet_valid');
  });

  it('when the signed-in person acted personally, then requireUnit answers 403 insufficient_scope naming unit; requireToken lets it in', async () => {
    const identity = await verifier.verifyAccessToken(personalTokens.access);
    expect(identity.unit).toBeUndefined();
    expect(identity.scopes).toEqual([]);
    for (const url of [`${koaServer.url}/unit`, httpServer.url]) {
      const answer = await call(url, personalTokens.access);
      expect([url, answer.status, answer.body.error, answer.body.reason]).toEqual([url, 403, 'insufficient_scope', 'unit_required']);
      expect(answer.challenge).toMatch(/^Bearer realm="ce", error="insufficient_scope", error_description="[^"]+", scope="unit biz:continuing_education"$/);
    }
    expect(await call(`${koaServer.url}/any`, personalTokens.access)).toMatchObject({ status: 200, body: { subject: handler.id, unit: null } });
  });

  it('when the handler lacks the business permission, then 403 insufficient_scope with scope="biz:continuing_education"', async () => {
    const tokens = await signIn(app, config, withoutPermission, unit.id);
    const identity = await verifier.verifyAccessToken(tokens.access);
    expect(identity.unit?.id).toBe(unit.id);
    expect(identity.businessScopes).toEqual([]);
    for (const url of [`${koaServer.url}/unit`, httpServer.url]) {
      const answer = await call(url, tokens.access);
      expect([url, answer.status, answer.body.reason]).toEqual([url, 403, 'insufficient_scope']);
      expect(answer.challenge).toMatch(/error="insufficient_scope", error_description="[^"]+", scope="biz:continuing_education"$/);
    }
  });

  it('when no token or another scheme is sent, then 401 with a bare Bearer challenge; a malformed header is 400 invalid_request', async () => {
    for (const url of [`${koaServer.url}/unit`, httpServer.url]) {
      const none = await call(url);
      expect([none.status, none.challenge]).toEqual([401, 'Bearer realm="ce"']);
      const basic = await fetch(url, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      expect([basic.status, basic.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="ce"']);
      const malformed = await fetch(url, { headers: { authorization: 'Bearer two tokens' } });
      expect(malformed.status).toBe(400);
      expect(malformed.headers.get('www-authenticate')).toMatch(/^Bearer realm="ce", error="invalid_request"/);
    }
  });

  it('when a token names a kid the provider does not publish, then the kit refetches the JWKS once and refuses it (unknown_key)', async () => {
    const { privateKey } = await jose.generateKeyPair('RS256');
    const counting = countingFetch();
    const eager = createVerifier({ issuer: app.issuer, audience: RESOURCE, fetch: counting.fetch, keys: { cooldownSeconds: 0 } });
    await eager.verifyAccessToken(unitTokens.access);
    expect(counting.jwks()).toBe(1);
    const foreign = await forge({}, { kid: 'attacker-key' }, privateKey);
    const error = await refusal(eager.verifyAccessToken(foreign));
    expect([error.code, error.status]).toEqual(['unknown_key', 401]);
    expect(counting.jwks()).toBe(2);
    // A foreign token reusing the provider's kid fails on the signature, without any fetch.
    expect((await refusal(eager.verifyAccessToken(await forge({}, {}, privateKey)))).code).toBe('bad_signature');
    expect(counting.jwks()).toBe(2);
  });

  it('when unknown kids keep coming within the cooldown, then the provider is not asked again (default 30 s)', async () => {
    const before = jwksFetches();
    await verifier.verifyAccessToken(unitTokens.access);
    const { privateKey } = await jose.generateKeyPair('RS256');
    for (let index = 0; index < 5; index += 1) {
      expect((await refusal(verifier.verifyAccessToken(await forge({}, { kid: `random-${index}` }, privateKey)))).code).toBe('unknown_key');
    }
    expect(jwksFetches()).toBe(Math.max(before, 1));
  });

  it("when the provider JWKS cannot be fetched, then 503 keys_unavailable (not the caller's fault)", async () => {
    const unreachable = createVerifier({ issuer: app.issuer, audience: RESOURCE, jwksUri: 'http://127.0.0.1:9/jwks', keys: { timeoutMs: 2000 } });
    const error = await refusal(unreachable.verifyAccessToken(unitTokens.access));
    expect([error.code, error.status]).toEqual(['keys_unavailable', 503]);
    const wrongIssuer = createVerifier({ issuer: `${app.issuer}/other`, audience: RESOURCE });
    expect((await refusal(wrongIssuer.verifyAccessToken(unitTokens.access))).code).toBe('keys_unavailable');
  });
});

describe('RP kit across a signing-key rotation (S-12, C-T7)', () => {
  let database: TestDatabase;
  let dir: string;
  let proxy: TcpProxy;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-rp-rotation-'));
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 1 });
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await proxy?.close();
    await database?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('when keys rotate and a new instance signs with the new key, then the kit verifies its token after one refetch; older tokens still verify', async () => {
    const issuer = proxy.url;
    const first = await startTestApp({ database, dir, env: { ISSUER: issuer } });
    apps.push(first);
    await proxy.switchTo(Number(new URL(first.url).port));
    const contact = await createPerson(first.app.services, { verified: true });
    const handler = await createPerson(first.app.services, { verified: true });
    const unit = await createUnit(first.app.services, contact, { verified: true });
    await bindHandler(first.app.services, unit, handler, ['biz:continuing_education']);
    const config = await discover(issuer);
    const before = await signIn(first, config, handler, unit.id);

    const counting = countingFetch();
    const verifier = createVerifier({ issuer, audience: RESOURCE, fetch: counting.fetch, keys: { cooldownSeconds: 1 } });
    await expect(verifier.verifyAccessToken(before.access)).resolves.toMatchObject({ unit: { id: unit.id } });
    expect(counting.jwks()).toBe(1);
    const fetchedAt = Date.now();

    const rotation = await rotateKeys(first.config.certsDir, first.config.keyRetentionSeconds);
    const second = await startTestApp({ database, dir, env: { ISSUER: issuer } });
    apps.push(second);
    await proxy.switchTo(Number(new URL(second.url).port));

    const refreshed = await client.refreshTokenGrant(config, before.refresh!, { resource: RESOURCE });
    const { kid } = jose.decodeProtectedHeader(refreshed.access_token);
    expect(rotation.added).toContain(kid);
    expect(rotation.retired).toContain(jose.decodeProtectedHeader(before.access).kid);

    // Within the cooldown jose does not refetch (protection against kid flooding); once it has passed, one refetch.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, fetchedAt + 1100 - Date.now())));
    await expect(verifier.verifyAccessToken(refreshed.access_token)).resolves.toMatchObject({ subject: handler.id, unit: { id: unit.id } });
    expect(counting.jwks()).toBe(2);
    await expect(verifier.verifyAccessToken(before.access)).resolves.toMatchObject({ subject: handler.id });
    await expect(verifier.verifyAccessToken(refreshed.access_token)).resolves.toBeDefined();
    expect(counting.jwks()).toBe(2);
  });
});
