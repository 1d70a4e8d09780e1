import type { IncomingMessage, ServerResponse } from 'node:http';
import { InsufficientScopeError, InvalidRequestError, MissingTokenError, RpError, type HttpStatus } from './errors.js';
import type { AccessTokenIdentity, UnitRole } from './claims.js';
import type { Verifier } from './verifier.js';

/**
 * Guards for resource servers (RFC 6750). How a refused request is answered:
 *
 * | situation                                   | status | WWW-Authenticate                                        |
 * |---------------------------------------------|--------|---------------------------------------------------------|
 * | no `Authorization: Bearer` header           | 401    | `Bearer realm="…"` (no error code, RFC 6750 §3.1)        |
 * | malformed header (`Bearer` alone, 2 tokens) | 400    | `Bearer error="invalid_request"`                        |
 * | bad, expired, foreign or unknown-key token  | 401    | `Bearer error="invalid_token"`                          |
 * | business scope missing                      | 403    | `Bearer error="insufficient_scope", scope="biz:…"`      |
 * | personal token where a unit is needed       | 403    | `Bearer error="insufficient_scope", scope="unit biz:…"` |
 * | unit role or unverified unit not accepted   | 403    | `Bearer error="insufficient_scope"`                     |
 * | provider keys cannot be fetched             | 503    | none (`Retry-After: 5`)                                 |
 *
 * A personal token is valid, so `invalid_token` would be wrong (it would make the client throw a good token
 * away and retry the same sign-in); it lacks the privilege of acting for a unit, which is what
 * `insufficient_scope` means. The `scope` attribute tells the client what to ask for; the JSON body's `reason`
 * carries the kit's precise code (`unit_required`, …).
 */

export interface Requirements {
  /** Scopes the token must all carry, e.g. `['biz:continuing_education']`. */
  scopes?: readonly string[];
  /** The token must have been issued for a sign-in as a unit (implied by `roles` and `verifiedUnit`). */
  unit?: boolean;
  /** Accepted unit roles (default: both `handler` and `contact`). */
  roles?: readonly UnitRole[];
  /** The unit must be real-name verified. */
  verifiedUnit?: boolean;
}

export interface GuardOptions extends Requirements {
  /** The `realm` of the challenges. */
  realm?: string;
}

/** What requirements are checked against: an access token's or an ID-token session's identity. */
export interface Authorised {
  unit?: { role: UnitRole; verified: boolean } | undefined;
  scopes: readonly string[];
}

/** Throws InsufficientScopeError when the identity does not meet the requirements. */
export function checkRequirements(identity: Authorised, requirements: Requirements): void {
  const scopes = requirements.scopes ?? [];
  const needsUnit = requirements.unit === true || requirements.roles !== undefined || requirements.verifiedUnit === true;
  const { unit } = identity;
  if (needsUnit && !unit) {
    throw new InsufficientScopeError('unit_required', 'this resource requires a sign-in as a unit (login_as=unit)', ['unit', ...scopes]);
  }
  const missing = scopes.filter((scope) => !identity.scopes.includes(scope));
  if (missing.length > 0) {
    throw new InsufficientScopeError('insufficient_scope', `the token lacks the scope ${missing.join(' ')}`, scopes);
  }
  if (unit && requirements.roles && !requirements.roles.includes(unit.role)) {
    throw new InsufficientScopeError('unit_role_forbidden', `the unit role ${unit.role} may not use this resource`, scopes);
  }
  if (unit && requirements.verifiedUnit && !unit.verified) {
    throw new InsufficientScopeError('unit_not_verified', 'this resource requires a real-name verified unit', scopes);
  }
}

const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The bearer token of an Authorization header value (RFC 6750 §2.1). */
export function bearerToken(authorization: string | undefined): string {
  if (!authorization) throw new MissingTokenError();
  const space = authorization.indexOf(' ');
  const scheme = space === -1 ? authorization : authorization.slice(0, space);
  // Another scheme (Basic, DPoP …) is "no bearer credentials": answered like a missing token.
  if (scheme.toLowerCase() !== 'bearer') throw new MissingTokenError('a bearer access token is required');
  const token = space === -1 ? '' : authorization.slice(space + 1).trim();
  if (!TOKEN68.test(token)) throw new InvalidRequestError('the Authorization header must be "Bearer <access token>"');
  return token;
}

/** Verifies the request's bearer token and checks the requirements; throws an RpError when it is refused. */
export async function authenticate(verifier: Verifier, authorization: string | undefined, requirements: Requirements = {}): Promise<AccessTokenIdentity> {
  const identity = await verifier.verifyAccessToken(bearerToken(authorization));
  checkRequirements(identity, requirements);
  return identity;
}

export interface Challenge {
  status: HttpStatus;
  headers: Record<string, string>;
  body: { error: string; error_description: string; reason: string };
}

/** RFC 6750 §3: error_description and scope allow printable ASCII except `"` and `\`. */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?')}"`;
}

/** The response for a refused request: status, `WWW-Authenticate` (and `Retry-After` for 503) and a JSON body. */
export function challengeFor(error: RpError, realm?: string): Challenge {
  const params: string[] = [];
  if (realm !== undefined) params.push(`realm=${quoted(realm)}`);
  if (error.bearerError) {
    params.push(`error=${quoted(error.bearerError)}`, `error_description=${quoted(error.message)}`);
    if (error instanceof InsufficientScopeError && error.requiredScope.length > 0) params.push(`scope=${quoted(error.requiredScope.join(' '))}`);
  }
  const headers: Record<string, string> = { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' };
  if (error.status === 503) headers['retry-after'] = '5';
  else headers['www-authenticate'] = params.length > 0 ? `Bearer ${params.join(', ')}` : 'Bearer';
  return {
    status: error.status,
    headers,
    body: { error: error.bearerError ?? (error.status === 401 ? 'unauthorized' : 'temporarily_unavailable'), error_description: error.message, reason: error.code },
  };
}

/** The part of a Koa context the guard uses (Koa 2 and 3 contexts fit; the kit does not depend on Koa). */
export interface KoaLikeContext {
  get(field: string): string;
  set(field: string, value: string): void;
  status: number;
  body: unknown;
  state: object;
}

export type KoaLikeMiddleware = (ctx: KoaLikeContext, next: () => Promise<unknown>) => Promise<void>;

/** Where the Koa guards put the identity: `ctx.state.identity`. */
export const IDENTITY_STATE_KEY = 'identity';

/**
 * Koa middleware: verifies the bearer token, checks the requirements, sets `ctx.state.identity` and calls the
 * next middleware; otherwise answers the RFC 6750 challenge.
 */
export function requireToken(verifier: Verifier, options: GuardOptions = {}): KoaLikeMiddleware {
  const { realm, ...requirements } = options;
  return async (ctx, next) => {
    let identity: AccessTokenIdentity;
    try {
      identity = await authenticate(verifier, ctx.get('authorization') || undefined, requirements);
    } catch (error) {
      if (!(error instanceof RpError)) throw error;
      const challenge = challengeFor(error, realm);
      ctx.status = challenge.status;
      for (const [name, value] of Object.entries(challenge.headers)) ctx.set(name, value);
      ctx.body = challenge.body;
      return;
    }
    (ctx.state as Record<string, unknown>)[IDENTITY_STATE_KEY] = identity;
    await next();
  };
}

/** Koa middleware like requireToken that also requires a sign-in as a unit (`unit: true`). */
export function requireUnit(verifier: Verifier, options: GuardOptions = {}): KoaLikeMiddleware {
  return requireToken(verifier, { ...options, unit: true });
}

/** The identity a Koa guard put on the context (throws when no guard ran: a wiring mistake). */
export function identityOf(ctx: { state: object }): AccessTokenIdentity {
  const identity = (ctx.state as Record<string, unknown>)[IDENTITY_STATE_KEY];
  if (identity === undefined) throw new Error('no RP kit guard ran before this handler');
  return identity as AccessTokenIdentity;
}

/** Writes the challenge of a refused request to a node:http response. */
export function sendChallenge(res: ServerResponse, error: RpError, realm?: string): void {
  const challenge = challengeFor(error, realm);
  res.writeHead(challenge.status, challenge.headers).end(JSON.stringify(challenge.body));
}

/**
 * For node:http handlers: resolves with the identity, or answers the challenge and resolves with undefined.
 *
 *     const identity = await guardRequest(verifier, req, res, { unit: true, scopes: ['biz:x'] });
 *     if (!identity) return;
 */
export async function guardRequest(verifier: Verifier, req: IncomingMessage, res: ServerResponse, options: GuardOptions = {}): Promise<AccessTokenIdentity | undefined> {
  const { realm, ...requirements } = options;
  try {
    return await authenticate(verifier, req.headers.authorization, requirements);
  } catch (error) {
    if (!(error instanceof RpError)) throw error;
    sendChallenge(res, error, realm);
    return undefined;
  }
}

export type ProtectedHandler = (req: IncomingMessage, res: ServerResponse, identity: AccessTokenIdentity) => void | Promise<void>;

/**
 * Wraps a node:http handler: it runs only for a request whose token meets the requirements. An exception of the
 * handler answers 500 (when nothing was sent yet) and is passed to `onError`.
 */
export function protect(
  verifier: Verifier,
  options: GuardOptions,
  handler: ProtectedHandler,
  onError?: (error: unknown) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      const identity = await guardRequest(verifier, req, res, options);
      if (identity) await handler(req, res, identity);
    })().catch((error: unknown) => {
      onError?.(error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' }).end('{"error":"server_error"}');
      else res.destroy();
    });
  };
}
