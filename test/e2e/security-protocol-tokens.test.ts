import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { loadClients } from '../../src/config/clients.js';
import { ConfigError } from '../../src/config/env.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { RP_REDIRECT, TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import {
  codeOf,
  codeRequest,
  fetchMetadata,
  introspect,
  postForm,
  redeemCode,
  refresh,
  signInFor,
  silentFor,
  storedArtefact,
  stringField,
  TEST_RP,
  userinfoStatus,
  type ClientAuth,
  type CodeRequest,
  type JsonResponse,
  type ProviderMetadata,
} from '../support/oauth.js';

/**
 * SECURITY-CHECKLIST.md, protocol items of the token endpoint and its artefacts: S-2 (single-use codes),
 * S-5 (ID token), S-7 (refresh tokens) and S-8 (client authentication).
 */

const POST_RP: ClientAuth = { clientId: 'post-rp', secret: `${TEST_SECRET}-post`, method: 'client_secret_post' };
const PUBLIC_RP: ClientAuth = { clientId: 'public-rp', method: 'none' };
const OTHER_RP: ClientAuth = { clientId: 'other-rp', secret: `${TEST_SECRET}-other`, method: 'client_secret_basic' };

const DAY = 24 * 60 * 60;

function clients() {
  return testClientsFile([
    testClient(),
    testClient({ client_id: POST_RP.clientId, client_secret: POST_RP.secret, token_endpoint_auth_method: 'client_secret_post' }),
    testClient({ client_id: PUBLIC_RP.clientId, client_secret: undefined, token_endpoint_auth_method: 'none' }),
    testClient({ client_id: OTHER_RP.clientId, client_secret: OTHER_RP.secret }),
  ]);
}

describe('S-2, S-5, S-7, S-8: codes, ID tokens, refresh tokens and client authentication', () => {
  let app: TestApp;
  let metadata: ProviderMetadata;
  let person: TestPerson;
  let browser: Browser;

  beforeAll(async () => {
    app = await startTestApp({ clients: clients() });
    metadata = await fetchMetadata(app.url);
    person = await createPerson(app.app.services);
    browser = new Browser(app.url);
    const request = codeRequest(metadata);
    await signInFor(browser, request, person.loginName, person.password);
  });
  afterAll(() => app?.close());

  /** A fresh code for the signed-in person (no page shown: the session exists). */
  async function freshCode(auth: ClientAuth = TEST_RP, params: Record<string, string> = {}): Promise<{ request: CodeRequest; code: string }> {
    const request = codeRequest(metadata, { client_id: auth.clientId, ...params });
    return { request, code: codeOf(await silentFor(browser, request)) };
  }

  /** Code → tokens for the signed-in person; fails the test unless the token endpoint answers 200. */
  async function tokensFor(auth: ClientAuth = TEST_RP, params: Record<string, string> = {}): Promise<{ request: CodeRequest; tokens: JsonResponse }> {
    const { request, code } = await freshCode(auth, params);
    const tokens = await redeemCode(metadata, auth, request, code);
    expect(tokens.status).toBe(200);
    return { request, tokens };
  }

  async function jwks(): Promise<ReturnType<typeof jose.createLocalJWKSet>> {
    const response = await fetch(metadata.jwks_uri);
    return jose.createLocalJWKSet((await response.json()) as jose.JSONWebKeySet);
  }

  describe('S-2 an authorization code works once', () => {
    it('S-2 when a code is redeemed twice, then the second gets invalid_grant and tokens from it are revoked', async () => {
      const { request, code } = await freshCode();
      const first = await redeemCode(metadata, TEST_RP, request, code);
      expect(first.status).toBe(200);
      const accessToken = stringField(first, 'access_token');
      const refreshToken = stringField(first, 'refresh_token');
      expect(await userinfoStatus(metadata, accessToken)).toBe(200);
      expect((await introspect(metadata, TEST_RP, accessToken)).body.active).toBe(true);
      expect((await introspect(metadata, TEST_RP, refreshToken)).body.active).toBe(true);

      const second = await redeemCode(metadata, TEST_RP, request, code);
      expect(second.status).toBe(400);
      expect(second.body.error).toBe('invalid_grant');
      expect(second.body.access_token).toBeUndefined();

      expect(await userinfoStatus(metadata, accessToken)).toBe(401);
      expect((await introspect(metadata, TEST_RP, accessToken)).body).toEqual({ active: false });
      expect((await introspect(metadata, TEST_RP, refreshToken)).body).toEqual({ active: false });
      const refreshed = await refresh(metadata, TEST_RP, refreshToken);
      expect(refreshed.status).toBe(400);
      expect(refreshed.body.error).toBe('invalid_grant');
    });

    it('S-2 when 20 redemptions of one code run in parallel, then exactly one succeeds and the others get invalid_grant', async () => {
      const { request, code } = await freshCode();
      const responses = await Promise.all(Array.from({ length: 20 }, () => redeemCode(metadata, TEST_RP, request, code)));
      const successes = responses.filter((response) => response.status === 200);
      const failures = responses.filter((response) => response.status !== 200);
      expect(successes).toHaveLength(1);
      expect(failures).toHaveLength(19);
      for (const failure of failures) {
        expect(failure.status).toBe(400);
        expect(failure.body.error).toBe('invalid_grant');
      }
      // The losers are replays: the grant goes, and with it the tokens of the winner.
      const winner = successes[0]!;
      expect((await introspect(metadata, TEST_RP, stringField(winner, 'access_token'))).body).toEqual({ active: false });
      expect((await refresh(metadata, TEST_RP, stringField(winner, 'refresh_token'))).body.error).toBe('invalid_grant');
    });
  });

  describe('S-5 the ID token', () => {
    it('S-5 when a code is redeemed with nonce and max_age, then the ID token has exact iss, aud, exp, iat, sub, nonce, auth_time and RS256', async () => {
      const before = Math.floor(Date.now() / 1000);
      const { request, tokens } = await tokensFor(TEST_RP, { max_age: '600' });
      const idToken = stringField(tokens, 'id_token');
      const header = jose.decodeProtectedHeader(idToken);
      expect(header.alg).toBe('RS256');
      const { payload, protectedHeader } = await jose.jwtVerify(idToken, await jwks(), {
        issuer: app.issuer,
        audience: 'test-rp',
        algorithms: ['RS256'],
        requiredClaims: ['iss', 'aud', 'exp', 'iat', 'sub', 'nonce', 'auth_time'],
      });
      expect(protectedHeader.kid).toEqual(expect.any(String));
      expect(payload.iss).toBe(app.issuer);
      expect([payload.aud].flat()).toEqual(['test-rp']);
      if (payload.azp !== undefined) expect(payload.azp).toBe('test-rp');
      expect(payload.sub).toBe(person.id);
      expect(payload.nonce).toBe(request.nonce);
      expect(payload.iat).toBeGreaterThanOrEqual(before - 1);
      expect(payload.iat).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 1);
      expect(payload.exp! - payload.iat!).toBeGreaterThan(0);
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60 * 60);
      expect(typeof payload.auth_time).toBe('number');
      expect(payload.auth_time as number).toBeLessThanOrEqual(payload.iat!);

      // Refreshed ID tokens are signed the same way.
      const refreshed = await refresh(metadata, TEST_RP, stringField(tokens, 'refresh_token'));
      expect(refreshed.status).toBe(200);
      expect(jose.decodeProtectedHeader(stringField(refreshed, 'id_token')).alg).toBe('RS256');
      const again = await jose.jwtVerify(stringField(refreshed, 'id_token'), await jwks(), { issuer: app.issuer, audience: 'test-rp', algorithms: ['RS256'] });
      expect(again.payload.sub).toBe(person.id);
    });

    it('S-5 when another client redeems its code, then aud is that client', async () => {
      const { request, tokens } = await tokensFor(POST_RP);
      const { payload } = await jose.jwtVerify(stringField(tokens, 'id_token'), await jwks(), { issuer: app.issuer, algorithms: ['RS256'] });
      expect([payload.aud].flat()).toEqual([POST_RP.clientId]);
      expect(payload.nonce).toBe(request.nonce);
    });

    it('S-5 when alg none is looked for, then discovery never offers it and clients.json cannot ask for it', async () => {
      const document = (await (await fetch(`${app.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      expect(document.id_token_signing_alg_values_supported).toContain('RS256');
      const algorithmLists = Object.entries(document).filter(([name]) => name.endsWith('_alg_values_supported'));
      expect(algorithmLists.length).toBeGreaterThan(0);
      for (const [name, values] of algorithmLists) {
        expect({ name, none: (values as string[]).map((value) => value.toLowerCase()).includes('none') }).toEqual({ name, none: false });
      }
      const client = await app.app.provider.Client.find('test-rp');
      expect(client?.metadata().id_token_signed_response_alg).toBe('RS256');

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-none-'));
      try {
        for (const field of ['id_token_signed_response_alg', 'userinfo_signed_response_alg']) {
          const file = path.join(dir, 'clients.json');
          fs.writeFileSync(file, JSON.stringify(testClientsFile([testClient({ [field]: 'none' })])));
          expect(() => loadClients({ file, mode: 'test', dataDir: dir })).toThrow(ConfigError);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('S-7 refresh tokens', () => {
    it.each([
      ['test-rp (client_secret_basic)', TEST_RP],
      ['post-rp (client_secret_post)', POST_RP],
      ['public-rp (public client)', PUBLIC_RP],
    ])('S-7 when %s refreshes, then the refresh token rotates and the used one is spent', async (_label, auth) => {
      const { tokens } = await tokensFor(auth);
      const first = stringField(tokens, 'refresh_token');
      const refreshed = await refresh(metadata, auth, first);
      expect(refreshed.status).toBe(200);
      const second = stringField(refreshed, 'refresh_token');
      expect(second).not.toBe(first);
      expect((await storedArtefact(app.db, 'RefreshToken', first))?.consumed_at).toBeInstanceOf(Date);
      const third = await refresh(metadata, auth, second);
      expect(third.status).toBe(200);
      expect(stringField(third, 'refresh_token')).not.toBe(second);
    });

    it('S-7 when a used refresh token is replayed, then invalid_grant and the whole grant is revoked (the newest refresh token too)', async () => {
      const { tokens } = await tokensFor();
      const first = stringField(tokens, 'refresh_token');
      const rotated = await refresh(metadata, TEST_RP, first);
      expect(rotated.status).toBe(200);
      // The client received and used the successor: from now on the first token is a replay (no reuse leeway).
      const successorUsed = await refresh(metadata, TEST_RP, stringField(rotated, 'refresh_token'));
      expect(successorUsed.status).toBe(200);
      const newest = stringField(successorUsed, 'refresh_token');
      const newestAccess = stringField(successorUsed, 'access_token');
      expect((await introspect(metadata, TEST_RP, newestAccess)).body.active).toBe(true);

      const replay = await refresh(metadata, TEST_RP, first);
      expect(replay.status).toBe(400);
      expect(replay.body.error).toBe('invalid_grant');
      expect(replay.body.access_token).toBeUndefined();

      const afterReplay = await refresh(metadata, TEST_RP, newest);
      expect(afterReplay.status).toBe(400);
      expect(afterReplay.body.error).toBe('invalid_grant');
      expect((await introspect(metadata, TEST_RP, newestAccess)).body).toEqual({ active: false });
      expect(await userinfoStatus(metadata, newestAccess)).toBe(401);
      expect((await introspect(metadata, TEST_RP, stringField(tokens, 'access_token'))).body).toEqual({ active: false });
    });

    it('S-55 when a rotated refresh token is presented again within the reuse leeway while its successor is unused (a lost response), then it works once more, the unused successor is dead and the chain goes on', async () => {
      const { tokens } = await tokensFor();
      const first = stringField(tokens, 'refresh_token');
      const lost = await refresh(metadata, TEST_RP, first);
      expect(lost.status).toBe(200);
      const retried = await refresh(metadata, TEST_RP, first);
      expect(retried.status).toBe(200);
      const lostSuccessor = stringField(lost, 'refresh_token');
      expect(await storedArtefact(app.db, 'RefreshToken', lostSuccessor)).toBeUndefined();
      const next = await refresh(metadata, TEST_RP, stringField(retried, 'refresh_token'));
      expect(next.status).toBe(200);
      // The retry's successor has been used now: presenting the first token again is a replay and revokes.
      const replay = await refresh(metadata, TEST_RP, first);
      expect(replay.status).toBe(400);
      expect(replay.body.error).toBe('invalid_grant');
      expect((await refresh(metadata, TEST_RP, stringField(next, 'refresh_token'))).body.error).toBe('invalid_grant');
    });

    it('S-7 when the refresh token of client A is used by client B, then invalid_grant', async () => {
      const { tokens } = await tokensFor(TEST_RP);
      const refreshToken = stringField(tokens, 'refresh_token');
      for (const thief of [OTHER_RP, POST_RP, PUBLIC_RP]) {
        const stolen = await refresh(metadata, thief, refreshToken);
        expect({ thief: thief.clientId, status: stolen.status, error: stolen.body.error }).toEqual({ thief: thief.clientId, status: 400, error: 'invalid_grant' });
        expect(stolen.body.access_token).toBeUndefined();
      }
      // Client B also cannot see it by introspection.
      expect((await introspect(metadata, OTHER_RP, refreshToken)).body).toEqual({ active: false });
    });

    it('S-7 when a refresh asks for a wider scope, then invalid_scope; the same or a narrower scope works', async () => {
      const { tokens } = await tokensFor(TEST_RP, { scope: 'openid profile' });
      const refreshToken = stringField(tokens, 'refresh_token');
      for (const scope of ['openid profile phone', 'openid profile unit', 'openid profile biz:continuing_education', 'openid offline_access']) {
        const wider = await refresh(metadata, TEST_RP, refreshToken, { scope });
        expect({ scope, status: wider.status, error: wider.body.error }).toEqual({ scope, status: 400, error: 'invalid_scope' });
      }
      const narrower = await refresh(metadata, TEST_RP, refreshToken, { scope: 'openid' });
      expect(narrower.status).toBe(200);
      expect(stringField(narrower, 'scope').split(' ')).toEqual(['openid']);
      const full = await refresh(metadata, TEST_RP, stringField(narrower, 'refresh_token'));
      expect(full.status).toBe(200);
      expect(stringField(full, 'scope').split(' ').sort()).toEqual(['openid', 'profile']);
    });

    it('S-7 when refresh tokens rotate, then none outlives 30 days after the first one of the chain', async () => {
      const issuedAt = Math.floor(Date.now() / 1000);
      const { tokens } = await tokensFor();
      const first = stringField(tokens, 'refresh_token');
      const stored = await storedArtefact(app.db, 'RefreshToken', first);
      expect(stored).toBeDefined();
      const firstPayload = stored!.payload as { iat: number; iiat: number; exp: number };
      expect(firstPayload.iiat).toBe(firstPayload.iat);
      expect(stored!.expires_at!.getTime() / 1000).toBeLessThanOrEqual(issuedAt + 30 * DAY + 2);
      expect(firstPayload.exp).toBeLessThanOrEqual(firstPayload.iiat + 30 * DAY);
      const grant = await storedArtefact(app.db, 'Grant', stored!.grant_id!);
      expect(grant!.expires_at!.getTime() / 1000).toBeLessThanOrEqual(issuedAt + 30 * DAY + 2);

      // The chain began 30 days minus an hour ago: the rotated token may live one more hour at most.
      const chainStart = Math.floor(Date.now() / 1000) - 30 * DAY + 3600;
      await app.db.query("UPDATE oidc_model SET payload = payload || jsonb_build_object('iiat', $2::bigint) WHERE model = 'RefreshToken' AND id = $1", [first, chainStart]);
      const rotated = await refresh(metadata, TEST_RP, first);
      expect(rotated.status).toBe(200);
      const next = stringField(rotated, 'refresh_token');
      const nextStored = await storedArtefact(app.db, 'RefreshToken', next);
      const nextPayload = nextStored!.payload as { iat: number; iiat: number; exp: number };
      expect(nextPayload.iiat).toBe(chainStart);
      expect(nextPayload.exp).toBeLessThanOrEqual(chainStart + 30 * DAY);
      expect(nextStored!.expires_at!.getTime() / 1000).toBeLessThanOrEqual(chainStart + 30 * DAY + 2);

      // And a rotation after that keeps the bound.
      const last = await refresh(metadata, TEST_RP, next);
      expect(last.status).toBe(200);
      const lastStored = await storedArtefact(app.db, 'RefreshToken', stringField(last, 'refresh_token'));
      expect((lastStored!.payload as { iiat: number }).iiat).toBe(chainStart);
      expect(lastStored!.expires_at!.getTime() / 1000).toBeLessThanOrEqual(chainStart + 30 * DAY + 2);
    });
  });

  describe('S-8 client authentication on token, introspection and revocation', () => {
    type Endpoint = 'token' | 'introspection' | 'revocation';

    interface Material {
      url: string;
      params: Record<string, string>;
    }

    /** What a request to the endpoint needs besides client authentication: a fresh code or access token of `owner`. */
    async function material(endpoint: Endpoint, owner: ClientAuth): Promise<Material> {
      if (endpoint === 'token') {
        const { request, code } = await freshCode(owner);
        return { url: metadata.token_endpoint, params: { grant_type: 'authorization_code', code, redirect_uri: RP_REDIRECT, code_verifier: request.verifier } };
      }
      const { tokens } = await tokensFor(owner);
      const url = endpoint === 'introspection' ? metadata.introspection_endpoint : metadata.revocation_endpoint;
      return { url, params: { token: stringField(tokens, 'access_token') } };
    }

    async function call(endpoint: Endpoint, auth: ClientAuth | undefined, owner: ClientAuth, prepared?: Material): Promise<JsonResponse> {
      const { url, params } = prepared ?? (await material(endpoint, owner));
      return postForm(url, params, auth);
    }

    function expectSuccess(endpoint: Endpoint, response: JsonResponse): void {
      expect(response.status).toBe(200);
      if (endpoint === 'token') expect(response.body.access_token).toEqual(expect.any(String));
      if (endpoint === 'introspection') expect(response.body.active).toBe(true);
    }

    function expectInvalidClient(response: JsonResponse): void {
      expect({ status: response.status, error: response.body.error }).toEqual({ status: 401, error: 'invalid_client' });
      expect(response.body.access_token).toBeUndefined();
      expect(response.body.active).toBeUndefined();
    }

    const endpoints: Endpoint[] = ['token', 'introspection', 'revocation'];

    it.each(endpoints)('S-8 when the %s endpoint gets a client_id without a secret, then 401 invalid_client', async (endpoint) => {
      for (const owner of [TEST_RP, POST_RP]) {
        const prepared = await material(endpoint, owner);
        expectInvalidClient(await call(endpoint, { clientId: owner.clientId, method: 'none' }, owner, prepared));
        expectSuccess(endpoint, await call(endpoint, owner, owner, prepared)); // control: the same request, authenticated
      }
    });

    it.each(endpoints)('S-8 when the %s endpoint gets no client credentials at all, then 401 invalid_client (RFC 6749 §5.2)', async (endpoint) => {
      expectInvalidClient(await call(endpoint, undefined, TEST_RP));
    });

    it.each(endpoints)('S-8 when the %s endpoint gets a wrong secret, by Basic or by POST, then 401 invalid_client', async (endpoint) => {
      for (const owner of [TEST_RP, POST_RP]) {
        const prepared = await material(endpoint, owner);
        for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
          for (const secret of [`${owner.secret!}x`, owner.secret!.slice(0, -1), 'wrong', OTHER_RP.secret!]) {
            expectInvalidClient(await call(endpoint, { clientId: owner.clientId, secret, method }, owner, prepared));
          }
        }
        expectSuccess(endpoint, await call(endpoint, owner, owner, prepared)); // control: the same request, authenticated
      }
      // A secret in the Basic header for an unknown client.
      expectInvalidClient(await call(endpoint, { clientId: 'no-such-client', secret: TEST_SECRET, method: 'client_secret_basic' }, TEST_RP));
    });

    it.each(endpoints)('S-8 when the %s endpoint gets the right secret by client_secret_basic or client_secret_post, then it works', async (endpoint) => {
      for (const owner of [TEST_RP, POST_RP]) {
        for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
          expectSuccess(endpoint, await call(endpoint, { ...owner, method }, owner));
        }
      }
    });
  });
});
