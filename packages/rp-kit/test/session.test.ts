import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as jose from 'jose';
import {
  authenticateSession,
  createVerifier,
  expressGuard,
  expressSession,
  logoutEndpoint,
  requestIdentity,
  requestSession,
  SessionRevocations,
  BACKCHANNEL_LOGOUT_EVENT,
  type FetchLike,
  type LogoutNotice,
  type NextFunction,
  type RpError,
} from '../src/index.js';

/** The ID-token session guard of a web app, Express-style middleware and the back-channel logout endpoint. */

const issuer = 'https://id.example.gov.cn';
const clientId = 'ce-portal';
const audience = 'https://ce.example.gov.cn/api';
const unitClaims = {
  unit_id: 'u-1',
  unit_name: '示例科技有限公司',
  unit_cert_type: 'uscc',
  unit_cert_no: '91110108MA01ABCD1X',
  unit_verified: true,
  unit_role: 'handler',
  unit_scopes: ['biz:continuing_education'],
};

let privateKey: jose.CryptoKey;
let fetchJwks: FetchLike;

beforeAll(async () => {
  const pair = await jose.generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await jose.exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  fetchJwks = async () => new Response(JSON.stringify({ keys: [jwk] }), { status: 200, headers: { 'content-type': 'application/json' } });
});

const verifierFor = () => createVerifier({ issuer, audience, clientId, jwksUri: `${issuer}/jwks`, fetch: fetchJwks });

function idToken(claims: Record<string, unknown> = {}, options: { typ?: string; aud?: string; exp?: string } = {}): Promise<string> {
  return new jose.SignJWT({ sid: 'sid-1', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...(options.typ ? { typ: options.typ } : {}) })
    .setIssuer(issuer)
    .setAudience(options.aud ?? clientId)
    .setSubject('person-1')
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '1h')
    .sign(privateKey);
}

function logoutToken(claims: Record<string, unknown> = {}): Promise<string> {
  return new jose.SignJWT({ events: { [BACKCHANNEL_LOGOUT_EVENT]: {} }, sid: 'sid-1', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'logout+jwt' })
    .setIssuer(issuer)
    .setAudience(clientId)
    .setSubject('person-1')
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(privateKey);
}

async function refusal(promise: Promise<unknown>): Promise<RpError> {
  try {
    await promise;
  } catch (error) {
    return error as RpError;
  }
  throw new Error('expected a refusal');
}

describe('RP kit: ID-token session guard', () => {
  it('when the session holds a unit sign-in, then the identity exposes unit, role and scopes (C-T2)', async () => {
    const identity = await authenticateSession(verifierFor(), await idToken(unitClaims), { unit: true, scopes: ['biz:continuing_education'], roles: ['handler'] });
    expect(identity).toMatchObject({ subject: 'person-1', sessionId: 'sid-1', role: 'handler', scopes: ['biz:continuing_education'], unit: { id: 'u-1', verified: true } });
  });

  it.each([
    ['no ID token in the session', async () => undefined, {}, 'session_required', 401],
    ['an expired ID token', () => idToken(unitClaims, { exp: '-10m' }), {}, 'token_expired', 401],
    ['an ID token of another client', () => idToken(unitClaims, { aud: 'other-client' }), {}, 'wrong_audience', 401],
    ['an access token stored as the ID token', () => idToken(unitClaims, { typ: 'at+jwt' }), {}, 'wrong_type', 401],
    ['a personal sign-in where a unit is required', () => idToken(), { unit: true }, 'unit_required', 403],
    ['a business scope the unit does not grant', () => idToken(unitClaims), { scopes: ['biz:social_insurance'] }, 'insufficient_scope', 403],
    ['a role that is not accepted', () => idToken(unitClaims), { roles: ['contact' as const] }, 'unit_role_forbidden', 403],
    ['an unverified unit where verification is required', () => idToken({ ...unitClaims, unit_verified: false }), { verifiedUnit: true }, 'unit_not_verified', 403],
  ])('when the request has %s, then it is refused', async (_name, token, requirements, code, status) => {
    const error = await refusal(authenticateSession(verifierFor(), await token(), requirements));
    expect([error.code, error.status]).toEqual([code, status]);
  });

  it('when the provider logs the session out (sid), then that session is refused and others of the person stay', async () => {
    const verifier = verifierFor();
    const revocations = new SessionRevocations();
    const token = await idToken(unitClaims);
    await authenticateSession(verifier, token, { revocations });
    revocations.revoke(await verifier.verifyLogoutToken(await logoutToken()));
    expect((await refusal(authenticateSession(verifier, token, { revocations }))).code).toBe('session_ended');
    await expect(authenticateSession(verifier, await idToken({ ...unitClaims, sid: 'sid-2' }), { revocations })).resolves.toMatchObject({ sessionId: 'sid-2' });
  });

  it('when the provider logs the person out without a sid, then every session issued before is refused, later sign-ins pass', async () => {
    const verifier = verifierFor();
    const revocations = new SessionRevocations();
    const before = await idToken({ sid: 'sid-9' });
    revocations.revoke(await verifier.verifyLogoutToken(await logoutToken({ sid: undefined })));
    expect((await refusal(authenticateSession(verifier, before, { revocations }))).code).toBe('session_ended');
    const later = await new jose.SignJWT({ sid: 'sid-10' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(issuer)
      .setAudience(clientId)
      .setSubject('person-1')
      .setIssuedAt(Math.floor(Date.now() / 1000) + 2)
      .setExpirationTime('1h')
      .sign(privateKey);
    await expect(authenticateSession(verifier, later, { revocations })).resolves.toMatchObject({ sessionId: 'sid-10' });
  });
});

/** A node:http server running Express-style middleware `(req, res, next)` in order, as Express does. */
async function chain(...handlers: ((req: http.IncomingMessage, res: http.ServerResponse, next: NextFunction) => void)[]) {
  const server = http.createServer((req, res) => {
    const run = (index: number) => (error?: unknown) => {
      if (error) {
        res.writeHead(500).end('error');
        return;
      }
      handlers[index]?.(req, res, run(index + 1));
    };
    run(0)();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('RP kit: Express-compatible middleware and the logout endpoint', () => {
  it('when a page needs a unit session, then no session redirects to the login with return_to, a valid one reaches the handler', async () => {
    const verifier = verifierFor();
    const sessionToken = (req: http.IncomingMessage) => /(?:^|; )demo=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
    const server = await chain(expressSession(verifier, { idToken: sessionToken, loginUrl: '/login', unit: true }), (req, res) => {
      const identity = requestSession(req);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ unit: identity.unit?.id, role: identity.role, scopes: identity.scopes }));
    });
    try {
      const anonymous = await fetch(`${server.url}/records?page=2`, { redirect: 'manual' });
      expect([anonymous.status, anonymous.headers.get('location')]).toEqual([303, '/login?return_to=%2Frecords%3Fpage%3D2']);
      const personal = await fetch(`${server.url}/records`, { headers: { cookie: `demo=${await idToken()}` } });
      expect([personal.status, ((await personal.json()) as { reason: string }).reason]).toEqual([403, 'unit_required']);
      const signedIn = await fetch(`${server.url}/records`, { headers: { cookie: `demo=${await idToken(unitClaims)}` } });
      expect(await signedIn.json()).toEqual({ unit: 'u-1', role: 'handler', scopes: ['biz:continuing_education'] });
    } finally {
      await server.close();
    }
  });

  it('when an API route is guarded with expressGuard, then a missing token gets the RFC 6750 challenge and a valid token reaches the handler', async () => {
    const verifier = verifierFor();
    const server = await chain(expressGuard(verifier, { unit: true, realm: 'ce' }), (req, res) => {
      res.writeHead(200).end(requestIdentity(req).unit?.id);
    });
    try {
      const missing = await fetch(server.url);
      expect([missing.status, missing.headers.get('www-authenticate')]).toEqual([401, 'Bearer realm="ce"']);
      const token = await new jose.SignJWT({ client_id: 'c', scope: 'biz:continuing_education', unit_id: 'u-1', unit_role: 'contact', unit_verified: true })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('person-1')
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
      const ok = await fetch(server.url, { headers: { authorization: `Bearer ${token}` } });
      expect([ok.status, await ok.text()]).toEqual([200, 'u-1']);
    } finally {
      await server.close();
    }
  });

  it('when the provider posts a logout token, then 200 no-store and the handler gets the notice once; a replay, junk or GET is refused', async () => {
    const notices: LogoutNotice[] = [];
    const server = await chain(
      logoutEndpoint(verifierFor(), (notice) => {
        notices.push(notice);
      }),
    );
    const post = (body: string) => fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    try {
      const token = await logoutToken();
      const first = await post(new URLSearchParams({ logout_token: token }).toString());
      expect([first.status, first.headers.get('cache-control')]).toEqual([200, 'no-store']);
      expect(notices.map((notice) => [notice.subject, notice.sessionId])).toEqual([['person-1', 'sid-1']]);
      const replay = await post(new URLSearchParams({ logout_token: token }).toString());
      expect(replay.status).toBe(400);
      expect((await post('logout_token=not.a.jwt')).status).toBe(400);
      expect((await post('')).status).toBe(400);
      expect((await fetch(server.url)).status).toBe(405);
      expect(notices).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});
