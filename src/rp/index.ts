/**
 * RP kit: verification of the provider's tokens and RFC 6750 guards for business systems.
 *
 *     import { createVerifier, requireUnit } from 'unit-oidc-provider/rp';
 *
 * Depends on jose and Node.js built-ins only (never on the provider).
 */
export {
  createVerifier, toRpError, ALLOWED_ALGORITHMS, DEFAULT_CLOCK_TOLERANCE_SECONDS, MAX_CLOCK_TOLERANCE_SECONDS, MAX_TOKEN_LENGTH,
  type Verifier, type VerifierOptions, type KeySetOptions, type FetchLike, type SigningAlgorithm, type IdTokenCheck,
} from './verifier.js';
export {
  parseAccessTokenClaims, parseIdTokenClaims, parseLogoutTokenClaims, BACKCHANNEL_LOGOUT_EVENT,
  type UnitRole, type TokenUnit, type IdTokenUnit, type AccessTokenClaims, type IdTokenClaims, type LogoutTokenClaims,
  type AccessTokenIdentity, type IdTokenIdentity, type LogoutNotice,
} from './claims.js';
export {
  requireToken, requireUnit, identityOf, authenticate, bearerToken, checkRequirements, challengeFor, sendChallenge,
  guardRequest, protect, IDENTITY_STATE_KEY,
  type Requirements, type GuardOptions, type Challenge, type KoaLikeContext, type KoaLikeMiddleware, type ProtectedHandler,
} from './guards.js';
export {
  RpError, MissingTokenError, InvalidRequestError, InvalidTokenError, InsufficientScopeError, KeysUnavailableError, RpConfigError,
  type RpErrorCode, type BearerErrorCode, type HttpStatus, type InvalidTokenCode, type InsufficientScopeCode,
} from './errors.js';
