import * as jose from 'jose';
import { InvalidTokenError, KeysUnavailableError, RpConfigError, RpError } from './errors.js';
import { parseAccessTokenClaims, parseIdTokenClaims, parseLogoutTokenClaims, type AccessTokenIdentity, type IdTokenIdentity, type LogoutNotice } from './claims.js';

/** The only algorithms the kit accepts (C-T7). `none` and the HMAC family are never accepted. */
export const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof ALLOWED_ALGORITHMS)[number];

/** Upper bound of the clock tolerance: more would keep expired access tokens (5 min lifetime) alive too long. */
export const MAX_CLOCK_TOLERANCE_SECONDS = 60;
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 5;
/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** How the kit fetches the JWKS and the discovery document (the shape jose's `customFetch` takes). */
export type FetchLike = (url: string, init: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal }) => Promise<Response>;

export interface KeySetOptions {
  /** Refetch the JWKS after this long even when every kid is known (default 600 s). */
  cacheMaxAgeSeconds?: number;
  /**
   * After a fetch, a token with an unknown kid does not trigger another fetch for this long (default 30 s): an
   * attacker sending random kids cannot make the RP hammer the provider.
   */
  cooldownSeconds?: number;
  /** Timeout of one JWKS or discovery request (default 5000 ms). */
  timeoutMs?: number;
}

export interface VerifierOptions {
  /** The provider's issuer identifier, exactly as in its discovery document (e.g. `https://id.example.gov.cn`). */
  issuer: string;
  /** The resource indicator(s) of this API: the `aud` an access token must carry (RFC 8707, RFC 9068). */
  audience?: string | readonly string[];
  /** This RP's client_id: the `aud` of its ID tokens and back-channel logout tokens. */
  clientId?: string;
  /** The JWKS URL; when absent it is read once from `<issuer>/.well-known/openid-configuration`. */
  jwksUri?: string;
  /** A subset of RS256, ES256 and EdDSA (default: all three). */
  algorithms?: readonly SigningAlgorithm[];
  /** Allowed clock skew for exp, nbf and iat, in seconds: 0–60 (default 5). */
  clockToleranceSeconds?: number;
  keys?: KeySetOptions;
  /** Replaces global fetch for the JWKS and discovery requests (proxies, tests). */
  fetch?: FetchLike;
  /** How many back-channel logout token ids are remembered to refuse replays (default 10 000). */
  logoutReplayCacheSize?: number;
}

export interface IdTokenCheck {
  /** The nonce sent in the authorization request; when given the token must echo it. */
  nonce?: string;
}

export interface Verifier {
  readonly issuer: string;
  /** Verifies an RFC 9068 JWT access token (`typ: at+jwt`) for this API and returns who and which unit it is for. */
  verifyAccessToken(token: string): Promise<AccessTokenIdentity>;
  /** Verifies an ID token issued to `clientId` (signature included, unlike a plain token-endpoint response). */
  verifyIdToken(token: string, check?: IdTokenCheck): Promise<IdTokenIdentity>;
  /** Verifies an OpenID Connect back-channel logout token sent to `clientId`; each token is accepted once. */
  verifyLogoutToken(token: string): Promise<LogoutNotice>;
}

const EVENT_ERROR_HINT = 'check the provider issuer, jwks_uri and network';

function fail(message: string): never {
  throw new RpConfigError(message);
}

function checkedOptions(options: VerifierOptions) {
  let issuerUrl: URL;
  try {
    issuerUrl = new URL(options.issuer);
  } catch {
    fail(`issuer must be an absolute URL, got "${options.issuer}"`);
  }
  if (issuerUrl.protocol !== 'https:' && issuerUrl.protocol !== 'http:') fail('issuer must be an http(s) URL');
  const algorithms = options.algorithms ?? ALLOWED_ALGORITHMS;
  if (algorithms.length === 0) fail('algorithms must not be empty');
  for (const alg of algorithms) {
    if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) fail(`algorithm ${String(alg)} is not allowed (only ${ALLOWED_ALGORITHMS.join(', ')})`);
  }
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    fail(`clockToleranceSeconds must be between 0 and ${MAX_CLOCK_TOLERANCE_SECONDS}, got ${tolerance}`);
  }
  const audience = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audience.some((entry) => typeof entry !== 'string' || entry === '')) fail('audience must be non-empty strings');
  if (audience.length === 0 && !options.clientId) fail('give the audience (resource indicator of the API) or the clientId, or both');
  if (options.clientId !== undefined && (typeof options.clientId !== 'string' || options.clientId === '')) fail('clientId must be a non-empty string');
  const keys = options.keys ?? {};
  for (const [name, value] of Object.entries(keys)) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value < 0)) fail(`keys.${name} must be a non-negative number`);
  }
  if (options.jwksUri !== undefined) {
    try {
      new URL(options.jwksUri);
    } catch {
      fail(`jwksUri must be an absolute URL, got "${options.jwksUri}"`);
    }
  }
  return { issuer: options.issuer, audience, algorithms: [...algorithms], tolerance, keys };
}

/**
 * The JWKS requests of jose: a network failure or a non-200 answer is the provider's outage, not a bad token.
 * `fetched` runs for every JWKS received (the key memo below starts over).
 */
function keysFetch(fetchImpl: FetchLike, fetched: () => void): FetchLike {
  return async (url, init) => {
    let response: Response;
    try {
      response = await fetchImpl(url, init);
    } catch (error) {
      throw new KeysUnavailableError(`the JWKS at ${url} could not be fetched (${EVENT_ERROR_HINT})`, { cause: error });
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new KeysUnavailableError(`the JWKS at ${url} answered ${response.status}`);
    }
    fetched();
    return response;
  };
}

async function discoverJwksUri(issuer: string, fetchImpl: FetchLike, timeoutMs: number): Promise<URL> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  let metadata: unknown;
  try {
    const response = await fetchImpl(url, { method: 'GET', redirect: 'manual', headers: new Headers({ accept: 'application/json' }), signal: AbortSignal.timeout(timeoutMs) });
    if (response.status !== 200) throw new Error(`discovery answered ${response.status}`);
    metadata = await response.json();
  } catch (error) {
    throw new KeysUnavailableError(`the provider's discovery document could not be fetched from ${url}`, { cause: error });
  }
  const document = (typeof metadata === 'object' && metadata !== null ? metadata : {}) as { issuer?: unknown; jwks_uri?: unknown };
  // OpenID Connect Discovery §4.3: the issuer in the document must be exactly the one we expect.
  if (document.issuer !== issuer) {
    throw new KeysUnavailableError(`the discovery document at ${url} names issuer ${JSON.stringify(document.issuer)}, expected ${issuer}`);
  }
  if (typeof document.jwks_uri !== 'string') throw new KeysUnavailableError(`the discovery document at ${url} has no jwks_uri`);
  return new URL(document.jwks_uri);
}

/**
 * The provider's public keys: jose's remote JWKS (cached for `cacheMaxAgeSeconds`; an unknown kid refetches once,
 * at most once per `cooldownSeconds`), with the JWKS URL from discovery when not configured.
 *
 * In front of it, a memo of the keys jose resolved, by alg and kid: a hit returns the CryptoKey without jose's two
 * asynchronous lookup layers (Q-P4). The memo holds only keys of the JWKS jose currently holds: it is emptied
 * whenever a JWKS arrives, not filled or used while one is being fetched, and bypassed once the JWKS is older than
 * `cacheMaxAgeSeconds`, so every miss, refetch, cooldown and expiry decision stays jose's.
 */
function createKeyResolver(options: VerifierOptions, keys: KeySetOptions): jose.JWTVerifyGetKey {
  const timeoutMs = keys.timeoutMs ?? 5000;
  const fetchImpl: FetchLike = options.fetch ?? ((url, init) => fetch(url, init));
  let generation = 0;
  const remoteOptions: jose.RemoteJWKSetOptions = {
    timeoutDuration: Math.round(timeoutMs),
    cooldownDuration: (keys.cooldownSeconds ?? 30) * 1000,
    cacheMaxAge: (keys.cacheMaxAgeSeconds ?? 600) * 1000,
    [jose.customFetch]: keysFetch(fetchImpl, () => {
      generation += 1;
    }),
  };
  let remote = options.jwksUri ? jose.createRemoteJWKSet(new URL(options.jwksUri), remoteOptions) : undefined;
  let discovering: Promise<jose.RemoteJWKSet> | undefined;
  let failedAt = 0;
  const memo = new Map<string, jose.CryptoKey>();
  let memoGeneration = 0;

  const discover = (): Promise<jose.RemoteJWKSet> => {
    // A failed discovery is retried at most once a second, so an outage does not turn every request into a fetch.
    if (discovering && !(failedAt && Date.now() - failedAt > 1000)) return discovering;
    failedAt = 0;
    discovering = discoverJwksUri(options.issuer, fetchImpl, timeoutMs).then(
      (jwksUri) => {
        remote = jose.createRemoteJWKSet(jwksUri, remoteOptions);
        return remote;
      },
      (error: unknown) => {
        failedAt = Date.now();
        throw error;
      },
    );
    return discovering;
  };

  const resolve = async (set: jose.RemoteJWKSet, header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput, id: string): Promise<jose.CryptoKey> => {
    const before = generation;
    const key = await set(header, token);
    // Remember only a key of the set jose holds now: none arrived meanwhile and none is on its way.
    if (generation !== before || set.reloading) return key;
    if (memoGeneration !== generation) {
      memo.clear();
      memoGeneration = generation;
    }
    memo.set(id, key);
    return key;
  };

  return (header, token) => {
    const id = `${header.alg ?? ''} ${header.kid ?? ''}`;
    if (remote && memoGeneration === generation && remote.fresh && !remote.reloading) {
      const known = memo.get(id);
      if (known) return known;
    }
    return remote ? resolve(remote, header, token, id) : discover().then((set) => resolve(set, header, token, id));
  };
}

/** Translates jose's errors (and failures to fetch the keys) into the kit's typed errors. */
export function toRpError(error: unknown): RpError {
  if (error instanceof RpError) return error;
  const { errors } = jose;
  // Not a verdict on the token: the fetched JWKS timed out, was not JSON or not a set of public keys.
  if (error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || (error instanceof errors.JOSEError && error.code === errors.JOSEError.code)) {
    return new KeysUnavailableError(`the provider's signing keys could not be fetched (${EVENT_ERROR_HINT})`, { cause: error });
  }
  const cause = { cause: error };
  if (error instanceof errors.JWTExpired) {
    return new InvalidTokenError('token_expired', error.claim === 'iat' ? 'the token was issued too long ago' : 'the token has expired', cause);
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'iss':
        return new InvalidTokenError('wrong_issuer', 'the token was not issued by the expected issuer', cause);
      case 'aud':
        return new InvalidTokenError('wrong_audience', 'the token is not meant for this audience', cause);
      case 'typ':
        return new InvalidTokenError('wrong_type', 'the token is not of the expected type', cause);
      case 'nbf':
        return new InvalidTokenError('token_not_yet_valid', 'the token is not valid yet', cause);
      case 'iat':
        if (error.reason === 'check_failed') return new InvalidTokenError('token_not_yet_valid', 'the token is issued in the future', cause);
        return new InvalidTokenError('invalid_claims', 'the token has an invalid iat claim', cause);
      default:
        return new InvalidTokenError('invalid_claims', `the token has a missing or invalid ${error.claim} claim`, cause);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new InvalidTokenError('algorithm_not_allowed', 'the token is signed with an algorithm that is not allowed', cause);
  if (error instanceof errors.JWSSignatureVerificationFailed) return new InvalidTokenError('bad_signature', 'the token signature is invalid', cause);
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new InvalidTokenError('unknown_key', 'the token is signed with a key the issuer does not publish', cause);
  }
  return new InvalidTokenError('malformed_token', 'the token is malformed', cause);
}

function precheck(token: unknown): asserts token is string {
  if (typeof token !== 'string' || token.length === 0) throw new InvalidTokenError('malformed_token', 'the token is empty');
  if (token.length > MAX_TOKEN_LENGTH) throw new InvalidTokenError('malformed_token', 'the token is too long');
}

/** Remembers accepted logout token ids until their expiry, to refuse a replay. */
class ReplayCache {
  readonly #seen = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** False when the id was seen before (and has not expired); otherwise remembers it. */
  accept(id: string, expiresAtMs: number): boolean {
    const now = Date.now();
    const known = this.#seen.get(id);
    if (known !== undefined && known > now) return false;
    if (this.#seen.size >= this.capacity) {
      for (const [key, until] of this.#seen) {
        if (until <= now || this.#seen.size >= this.capacity) this.#seen.delete(key);
        else break;
      }
    }
    this.#seen.set(id, expiresAtMs);
    return true;
  }
}

/**
 * A verifier for the tokens of one provider. Build it once per process (it caches the provider's JWKS) and share
 * it between requests.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const { issuer, audience, algorithms, tolerance, keys } = checkedOptions(options);
  const clientId = options.clientId;
  const getKey = createKeyResolver(options, keys);
  const replays = new ReplayCache(options.logoutReplayCacheSize ?? 10_000);

  const accessOptions: jose.JWTVerifyOptions = {
    issuer,
    audience,
    algorithms,
    clockTolerance: tolerance,
    typ: 'at+jwt',
    // RFC 9068 §2.2: all of these are required in a JWT access token.
    requiredClaims: ['exp', 'iat', 'sub', 'client_id', 'jti'],
  };
  const needClient = (what: string): string => clientId ?? fail(`${what} needs the clientId option`);

  return {
    issuer,

    async verifyAccessToken(token) {
      if (audience.length === 0) fail('verifyAccessToken needs the audience option (the resource indicator of the API)');
      precheck(token);
      let verified: jose.JWTVerifyResult;
      try {
        verified = await jose.jwtVerify(token, getKey, accessOptions);
      } catch (error) {
        throw toRpError(error);
      }
      return parseAccessTokenClaims(verified.payload);
    },

    async verifyIdToken(token, check = {}) {
      const aud = needClient('verifyIdToken');
      precheck(token);
      let verified: jose.JWTVerifyResult;
      try {
        verified = await jose.jwtVerify(token, getKey, { issuer, audience: aud, algorithms, clockTolerance: tolerance, requiredClaims: ['exp', 'iat', 'sub'] });
      } catch (error) {
        throw toRpError(error);
      }
      // An access token or a logout token is never an ID token (token confusion).
      const typ = verified.protectedHeader.typ;
      if (typ !== undefined && !/^(application\/)?jwt$/i.test(typ)) throw new InvalidTokenError('wrong_type', 'the token is not an ID token');
      const { payload } = verified;
      if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== aud) {
        throw new InvalidTokenError('wrong_audience', 'the ID token has several audiences and another authorized party');
      }
      if (check.nonce !== undefined && payload.nonce !== check.nonce) throw new InvalidTokenError('invalid_claims', 'the ID token does not echo the nonce');
      return parseIdTokenClaims(payload);
    },

    async verifyLogoutToken(token) {
      const aud = needClient('verifyLogoutToken');
      precheck(token);
      let verified: jose.JWTVerifyResult;
      try {
        verified = await jose.jwtVerify(token, getKey, { issuer, audience: aud, algorithms, clockTolerance: tolerance, requiredClaims: ['iat', 'exp', 'jti'], maxTokenAge: 600 });
      } catch (error) {
        throw toRpError(error);
      }
      // Back-Channel Logout 1.0 §2.4: `logout+jwt` when typed; untyped tokens of older providers are accepted.
      const typ = verified.protectedHeader.typ;
      if (typ !== undefined && !/^(application\/)?logout\+jwt$/i.test(typ)) throw new InvalidTokenError('wrong_type', 'the token is not a logout token');
      const notice = parseLogoutTokenClaims(verified.payload);
      if (!replays.accept(notice.tokenId, notice.expiresAt.getTime() + tolerance * 1000)) {
        throw new InvalidTokenError('token_replayed', 'this logout token was already used');
      }
      return notice;
    },
  };
}
