import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import {
  bearerToken,
  challengeFor,
  checkRequirements,
  createVerifier,
  parseAccessTokenClaims,
  parseIdTokenClaims,
  ACR_MFA,
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  KeysUnavailableError,
  MissingTokenError,
  RpConfigError,
  type AccessTokenIdentity,
  type FetchLike,
  type RpError,
} from '../src/index.js';

const identity = (overrides: Partial<AccessTokenIdentity> = {}): AccessTokenIdentity => ({
  subject: 'person-1',
  clientId: 'ce-demo',
  scopes: ['biz:continuing_education'],
  businessScopes: ['biz:continuing_education'],
  expiresAt: new Date(),
  issuedAt: new Date(),
  tokenId: 'jti',
  unit: { id: 'unit-1', role: 'handler', verified: true, mfaRequired: false },
  claims: {} as AccessTokenIdentity['claims'],
  ...overrides,
});

function refusal(run: () => Promise<unknown>): Promise<RpError>;
function refusal(run: () => unknown): RpError;
function refusal(run: () => unknown): RpError | Promise<RpError> {
  let result: unknown;
  try {
    result = run();
  } catch (error) {
    return error as RpError;
  }
  if (result instanceof Promise) {
    return result.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: unknown) => error as RpError,
    );
  }
  throw new Error('expected a refusal');
}

const KIT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

describe('RP kit: the package boundary', () => {
  it("when the kit's sources are read, then they import nothing but jose, node: built-ins and their own modules (never the provider, Koa or Express)", () => {
    const dir = path.join(KIT, 'src');
    const seen = new Set<string>();
    for (const file of fs.readdirSync(dir)) {
      const source = fs
        .readFileSync(path.join(dir, file), 'utf8')
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/^\s*\/\/.*$/gm, '');
      const specifiers = [...source.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)].map((match) => match[1] ?? match[2]);
      for (const specifier of specifiers) {
        seen.add(specifier ?? '');
        expect([specifier, file]).toEqual([expect.stringMatching(/^(jose|node:[a-z_]+|\.\/[a-z-]+\.js)$/), file]);
      }
    }
    expect([...seen]).toEqual(expect.arrayContaining(['jose', 'node:http', 'node:crypto', './verifier.js']));
  });

  it('when its package.json is read, then it depends on jose only and exports the compiled entry point with its types', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(KIT, 'package.json'), 'utf8')) as {
      name: string;
      private?: boolean;
      dependencies: Record<string, string>;
      peerDependencies?: unknown;
      exports: Record<string, unknown>;
      files: string[];
    };
    expect(pkg.name).toBe('@unit-oidc/rp-kit');
    expect(pkg.private).toBeUndefined();
    expect(Object.keys(pkg.dependencies)).toEqual(['jose']);
    expect(pkg.peerDependencies).toBeUndefined();
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'README.md']));
    const root = JSON.parse(fs.readFileSync(path.join(KIT, '..', '..', 'package.json'), 'utf8')) as { workspaces: string[]; exports?: unknown };
    expect(root.workspaces).toContain('packages/rp-kit');
    expect(root.exports).toBeUndefined(); // the provider's private package no longer ships the kit
  });
});

describe('RP kit: configuration that would weaken verification is refused', () => {
  const base = { issuer: 'https://id.example.gov.cn', audience: 'https://ce.example.gov.cn/api' };

  it.each([
    ['alg none', { algorithms: ['none'] }],
    ['HS256', { algorithms: ['HS256'] }],
    ['an empty allow-list', { algorithms: [] }],
    ['clock tolerance above 60 s', { clockToleranceSeconds: 61 }],
    ['a negative clock tolerance', { clockToleranceSeconds: -1 }],
    ['a relative issuer', { issuer: 'id.example.gov.cn' }],
    ['no audience and no client id', { audience: undefined }],
  ])('%s', (_name, overrides) => {
    const error = refusal(() => createVerifier({ ...base, ...overrides } as Parameters<typeof createVerifier>[0]));
    expect(error).toBeInstanceOf(RpConfigError);
    expect(error.code).toBe('invalid_configuration');
  });

  it('accepts a tolerance of exactly 60 s and a subset of the algorithms', () => {
    expect(() => createVerifier({ ...base, clockToleranceSeconds: 60, algorithms: ['ES256'] })).not.toThrow();
  });
});

describe('RP kit: bearer parsing and RFC 6750 challenges', () => {
  it('takes the token of "Bearer <token>", case-insensitive scheme', () => {
    expect(bearerToken('Bearer abc.def-ghi_jkl~')).toBe('abc.def-ghi_jkl~');
    expect(bearerToken('bearer abc')).toBe('abc');
  });

  it.each([
    [undefined, MissingTokenError],
    ['', MissingTokenError],
    ['Basic dXNlcjpwYXNz', MissingTokenError],
    ['Bearer', InvalidRequestError],
    ['Bearer a b', InvalidRequestError],
    ['Bearer "quoted"', InvalidRequestError],
  ])('%j is refused as %p', (header, type) => {
    expect(refusal(() => bearerToken(header))).toBeInstanceOf(type);
  });

  it('a missing token gets a challenge without an error code (RFC 6750 §3.1)', () => {
    const challenge = challengeFor(new MissingTokenError(), 'ce');
    expect(challenge.status).toBe(401);
    expect(challenge.headers['www-authenticate']).toBe('Bearer realm="ce"');
  });

  it('an invalid token gets invalid_token with a description; quotes and non-ASCII cannot break the header', () => {
    const challenge = challengeFor(new InvalidTokenError('token_expired', 'the "token" 已 expired\\'), 'ce');
    expect(challenge.status).toBe(401);
    expect(challenge.headers['www-authenticate']).toBe('Bearer realm="ce", error="invalid_token", error_description="the ?token? ? expired?"');
    expect(challenge.body).toEqual({ error: 'invalid_token', error_description: 'the "token" 已 expired\\', reason: 'token_expired' });
  });

  it('the keys being unavailable is a 503 with Retry-After and no bearer challenge', () => {
    const challenge = challengeFor(new KeysUnavailableError('down'));
    expect(challenge.status).toBe(503);
    expect(challenge.headers['retry-after']).toBe('5');
    expect(challenge.headers['www-authenticate']).toBeUndefined();
  });
});

describe('RP kit: requirements', () => {
  it('a personal token where a unit is needed: 403 insufficient_scope naming unit and the business scope', () => {
    const error = refusal(() => checkRequirements(identity({ unit: undefined, scopes: [], businessScopes: [] }), { unit: true, scopes: ['biz:continuing_education'] }));
    expect(error).toBeInstanceOf(InsufficientScopeError);
    expect(error.code).toBe('unit_required');
    expect(challengeFor(error).headers['www-authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="this resource requires a sign-in as a unit (login_as=unit)", scope="unit biz:continuing_education"',
    );
  });

  it('a missing business scope: insufficient_scope with scope="biz:…"', () => {
    const error = refusal(() => checkRequirements(identity({ scopes: [] }), { scopes: ['biz:continuing_education'] }));
    expect(error.code).toBe('insufficient_scope');
    expect(error.status).toBe(403);
    expect(challengeFor(error).headers['www-authenticate']).toContain('scope="biz:continuing_education"');
  });

  it('unit role and verification requirements', () => {
    expect(refusal(() => checkRequirements(identity(), { roles: ['contact'] })).code).toBe('unit_role_forbidden');
    expect(refusal(() => checkRequirements(identity({ unit: { id: 'u', role: 'contact', verified: false, mfaRequired: false } }), { verifiedUnit: true })).code).toBe(
      'unit_not_verified',
    );
    expect(() => checkRequirements(identity(), { unit: true, roles: ['handler'], verifiedUnit: true, scopes: ['biz:continuing_education'] })).not.toThrow();
  });
});

describe('RP kit: claims', () => {
  const access = { iss: 'i', sub: 's', aud: 'a', exp: 2, iat: 1, jti: 'j', client_id: 'c' };

  it('maps an access token to a typed identity', () => {
    const mapped = parseAccessTokenClaims({ ...access, scope: 'biz:a other', unit_id: 'u', unit_role: 'contact', unit_verified: false });
    expect(mapped).toMatchObject({
      subject: 's',
      clientId: 'c',
      scopes: ['biz:a', 'other'],
      businessScopes: ['biz:a'],
      unit: { id: 'u', role: 'contact', verified: false },
      expiresAt: new Date(2000),
      issuedAt: new Date(1000),
      tokenId: 'j',
    });
    expect(parseAccessTokenClaims(access)).not.toHaveProperty('unit');
  });

  it('maps unit_mfa_required of an access token (issue #18): true when sent, false when absent', () => {
    const unit = { unit_id: 'u', unit_role: 'handler', unit_verified: true };
    expect(parseAccessTokenClaims({ ...access, ...unit, unit_mfa_required: true }).unit).toEqual({ id: 'u', role: 'handler', verified: true, mfaRequired: true });
    expect(parseAccessTokenClaims({ ...access, ...unit }).unit).toEqual({ id: 'u', role: 'handler', verified: true, mfaRequired: false });
  });

  it.each([
    ['a partial unit', { unit_id: 'u' }],
    ['an unknown role', { unit_id: 'u', unit_role: 'admin', unit_verified: true }],
    ['a string unit_verified', { unit_id: 'u', unit_role: 'handler', unit_verified: 'true' }],
    ['a scope array', { scope: ['biz:a'] }],
    ['unit_mfa_required false', { unit_id: 'u', unit_role: 'handler', unit_verified: true, unit_mfa_required: false }],
    ['a string unit_mfa_required', { unit_id: 'u', unit_role: 'handler', unit_verified: true, unit_mfa_required: 'true' }],
  ])('refuses %s as invalid_claims', (_name, extra) => {
    const error = refusal(() => parseAccessTokenClaims({ ...access, ...extra }));
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect(error.code).toBe('invalid_claims');
  });

  it('maps the unit of ID token claims (C-T2) and refuses a partial set', () => {
    const claims = {
      sub: 's',
      exp: 2,
      sid: 'sid-1',
      name: '李四',
      unit_id: 'u',
      unit_name: '示例科技有限公司',
      unit_cert_type: 'uscc',
      unit_cert_no: '91110108MA01ABCD1X',
      unit_verified: true,
      unit_role: 'handler',
      unit_scopes: ['biz:continuing_education'],
    };
    expect(parseIdTokenClaims(claims)).toMatchObject({
      subject: 's',
      sessionId: 'sid-1',
      name: '李四',
      unit: { id: 'u', name: '示例科技有限公司', certType: 'uscc', certNo: '91110108MA01ABCD1X', verified: true, role: 'handler', scopes: ['biz:continuing_education'] },
    });
    const { unit_scopes: _scopes, ...partial } = claims;
    expect(refusal(() => parseIdTokenClaims(partial)).code).toBe('invalid_claims');
  });

  it('maps acr, amr and unit_mfa_required of ID token claims (issue #18) and refuses them ill-typed', () => {
    const claims = {
      sub: 's',
      exp: 2,
      unit_id: 'u',
      unit_name: '示例科技有限公司',
      unit_cert_type: 'uscc',
      unit_cert_no: '91110108MA01ABCD1X',
      unit_verified: true,
      unit_role: 'handler',
      unit_scopes: [],
      unit_mfa_required: true,
      acr: ACR_MFA,
      amr: ['pwd', 'otp'],
    };
    expect(parseIdTokenClaims(claims)).toMatchObject({ acr: ACR_MFA, amr: ['pwd', 'otp'], multiFactor: true, unit: { id: 'u', mfaRequired: true } });
    const passwordOnly = parseIdTokenClaims({ sub: 's', exp: 2, acr: 'urn:unit-oidc:acr:pwd', amr: ['pwd'] });
    expect(passwordOnly).toMatchObject({ acr: 'urn:unit-oidc:acr:pwd', amr: ['pwd'], multiFactor: false });
    expect(parseIdTokenClaims({ sub: 's', exp: 2 })).toMatchObject({ amr: [], multiFactor: false });
    expect(parseIdTokenClaims({ sub: 's', exp: 2 })).not.toHaveProperty('acr');
    expect(refusal(() => parseIdTokenClaims({ sub: 's', exp: 2, amr: 'pwd' })).code).toBe('invalid_claims');
    expect(refusal(() => parseIdTokenClaims({ sub: 's', exp: 2, acr: 3 })).code).toBe('invalid_claims');
    expect(refusal(() => parseIdTokenClaims({ ...claims, unit_mfa_required: 'yes' })).code).toBe('invalid_claims');
  });
});

describe('RP kit: the key cache follows the JWKS', () => {
  const issuer = 'https://id.example.gov.cn';
  const audience = 'https://ce.example.gov.cn/api';

  async function signer(kid: string) {
    const { privateKey, publicKey } = await jose.generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    const sign = () =>
      new jose.SignJWT({ client_id: 'c', scope: 'biz:x' })
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('s')
        .setJti(crypto.randomUUID())
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(privateKey);
    return { jwk, sign };
  }

  it('when a key leaves the published JWKS, then once the cache is stale its tokens are refused; the new key verifies', async () => {
    const old = await signer('old');
    const fresh = await signer('new');
    let published = [old.jwk];
    let fetches = 0;
    const serve: FetchLike = async () => {
      fetches += 1;
      return new Response(JSON.stringify({ keys: published }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const verifier = createVerifier({ issuer, audience, jwksUri: `${issuer}/jwks`, fetch: serve, keys: { cacheMaxAgeSeconds: 0.2, cooldownSeconds: 0 } });
    const oldToken = await old.sign();
    for (let index = 0; index < 3; index += 1) await verifier.verifyAccessToken(oldToken);
    expect(fetches).toBe(1);

    published = [fresh.jwk];
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await refusal(() => verifier.verifyAccessToken(oldToken))).code).toBe('unknown_key');
    await expect(verifier.verifyAccessToken(await fresh.sign())).resolves.toMatchObject({ subject: 's' });
    expect((await refusal(() => verifier.verifyAccessToken(oldToken))).code).toBe('unknown_key');
  });

  it('when the JWKS answers 500 or is not JSON, then keys_unavailable (503), not a verdict on the token', async () => {
    const key = await signer('k');
    for (const response of [new Response('oops', { status: 500 }), new Response('not json', { status: 200 })]) {
      const verifier = createVerifier({ issuer, audience, jwksUri: `${issuer}/jwks`, fetch: async () => response });
      const token = await key.sign();
      const error = await refusal(() => verifier.verifyAccessToken(token));
      expect([error.code, error.status]).toEqual(['keys_unavailable', 503]);
    }
  });
});
