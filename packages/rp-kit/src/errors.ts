/**
 * Typed errors of the RP kit. Every error a verifier or guard raises is an `RpError` with a stable `code`, the
 * HTTP status a resource server should answer with and, where RFC 6750 defines one, the OAuth error code that
 * goes into `WWW-Authenticate: Bearer error="…"`.
 */

/** Why a request was refused. Stable: safe to switch on, log and count. */
export type RpErrorCode =
  // 401 without an error code (RFC 6750 §3.1: the request carried no bearer token at all)
  | 'missing_token'
  // 400 invalid_request (the Authorization header is malformed)
  | 'invalid_request'
  // 401 invalid_token
  | 'malformed_token'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_type'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'unknown_key'
  | 'invalid_claims'
  | 'token_replayed'
  // 403 insufficient_scope
  | 'insufficient_scope'
  | 'unit_required'
  | 'unit_role_forbidden'
  | 'unit_not_verified'
  // 401 for a web app's ID-token session: nobody signed in, or the provider ended the session (back-channel logout)
  | 'session_required'
  | 'session_ended'
  // 503: the provider's keys could not be fetched (not the caller's fault)
  | 'keys_unavailable'
  // thrown at construction: the kit was configured wrongly
  | 'invalid_configuration';

/** The OAuth error code of RFC 6750 §3.1, or `undefined` when the challenge carries none. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope';

export type HttpStatus = 400 | 401 | 403 | 500 | 503;

export abstract class RpError extends Error {
  abstract readonly code: RpErrorCode;
  abstract readonly status: HttpStatus;
  /** What goes into `WWW-Authenticate: Bearer error="…"`; undefined: no error code (missing token, outages). */
  abstract readonly bearerError: BearerErrorCode | undefined;
}

/** 401, challenge without an error code: the request had no `Authorization: Bearer` credentials (RFC 6750 §3.1). */
export class MissingTokenError extends RpError {
  override readonly name = 'MissingTokenError';
  readonly code = 'missing_token';
  readonly status = 401;
  readonly bearerError = undefined;

  constructor(message = 'a bearer access token is required') {
    super(message);
  }
}

/** 400 invalid_request: an `Authorization: Bearer` header that is not one well-formed token. */
export class InvalidRequestError extends RpError {
  override readonly name = 'InvalidRequestError';
  readonly code = 'invalid_request';
  readonly status = 400;
  readonly bearerError = 'invalid_request';
}

export type InvalidTokenCode =
  | 'malformed_token'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_type'
  | 'algorithm_not_allowed'
  | 'bad_signature'
  | 'unknown_key'
  | 'invalid_claims'
  | 'token_replayed';

/** 401 invalid_token: expired, revoked-by-design (replayed), malformed, or not meant for this resource server. */
export class InvalidTokenError extends RpError {
  override readonly name = 'InvalidTokenError';
  readonly status = 401;
  readonly bearerError = 'invalid_token';

  constructor(
    readonly code: InvalidTokenCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type InsufficientScopeCode = 'insufficient_scope' | 'unit_required' | 'unit_role_forbidden' | 'unit_not_verified';

/**
 * 403 insufficient_scope: a valid token that does not allow this request. `requiredScope` is what the client
 * must ask for (the `scope` attribute of the challenge): the business scopes, plus `unit` when the token was
 * issued for a personal sign-in and a unit is needed.
 */
export class InsufficientScopeError extends RpError {
  override readonly name = 'InsufficientScopeError';
  readonly status = 403;
  readonly bearerError = 'insufficient_scope';

  constructor(
    readonly code: InsufficientScopeCode,
    message: string,
    readonly requiredScope: readonly string[],
  ) {
    super(message);
  }
}

/**
 * 401 of the ID-token session guard: the request has no signed-in session (`session_required`) or the provider
 * ended it by back-channel logout (`session_ended`). The app signs the person in again.
 */
export class SessionRequiredError extends RpError {
  override readonly name = 'SessionRequiredError';
  readonly status = 401;
  readonly bearerError = undefined;

  constructor(
    readonly code: 'session_required' | 'session_ended',
    message: string,
  ) {
    super(message);
  }
}

/** 503: the provider's JWKS (or discovery document) could not be fetched; the token may be fine, retry later. */
export class KeysUnavailableError extends RpError {
  override readonly name = 'KeysUnavailableError';
  readonly code = 'keys_unavailable';
  readonly status = 503;
  readonly bearerError = undefined;
}

/** Thrown synchronously by factories given a configuration that would weaken verification. */
export class RpConfigError extends RpError {
  override readonly name = 'RpConfigError';
  readonly code = 'invalid_configuration';
  readonly status = 500;
  readonly bearerError = undefined;
}
