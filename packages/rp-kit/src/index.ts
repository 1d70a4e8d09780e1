/**
 * @unit-oidc/rp-kit: verification of the provider's tokens, logout tokens and webhooks for business systems.
 *
 *     import { createVerifier, requireUnit } from '@unit-oidc/rp-kit';
 *
 * Depends on jose and Node.js built-ins only (never on the provider, Koa or Express).
 */
export {
  createVerifier,
  toRpError,
  ALLOWED_ALGORITHMS,
  DEFAULT_CLOCK_TOLERANCE_SECONDS,
  MAX_CLOCK_TOLERANCE_SECONDS,
  MAX_TOKEN_LENGTH,
  type Verifier,
  type VerifierOptions,
  type KeySetOptions,
  type FetchLike,
  type SigningAlgorithm,
  type IdTokenCheck,
} from './verifier.js';
export {
  parseAccessTokenClaims,
  parseIdTokenClaims,
  parseLogoutTokenClaims,
  BACKCHANNEL_LOGOUT_EVENT,
  ACR_MFA,
  type UnitRole,
  type TokenUnit,
  type IdTokenUnit,
  type AccessTokenClaims,
  type IdTokenClaims,
  type LogoutTokenClaims,
  type AccessTokenIdentity,
  type IdTokenIdentity,
  type LogoutNotice,
} from './claims.js';
export {
  requireToken,
  requireUnit,
  identityOf,
  authenticate,
  bearerToken,
  checkRequirements,
  challengeFor,
  sendChallenge,
  guardRequest,
  protect,
  IDENTITY_STATE_KEY,
  type Requirements,
  type Authorised,
  type GuardOptions,
  type Challenge,
  type KoaLikeContext,
  type KoaLikeMiddleware,
  type ProtectedHandler,
} from './guards.js';
export {
  SessionRevocations,
  authenticateSession,
  sessionRefusal,
  requireSession,
  sessionOf,
  sendSessionRefusal,
  guardSession,
  SESSION_STATE_KEY,
  type SessionRequirements,
  type SessionGuardOptions,
  type SessionRefusal,
} from './session.js';
export { expressGuard, expressSession, requestIdentity, requestSession, type NextFunction } from './express.js';
export { acceptLogoutToken, logoutEndpoint, koaLogoutEndpoint, readForm, type LogoutHandler, type LogoutAnswer } from './logout.js';
export {
  createWebhookVerifier,
  WebhookError,
  type WebhookVerifier,
  type WebhookVerifierOptions,
  type VerifiedWebhook,
  type WebhookErrorCode,
  type HeadersLike,
} from './webhooks.js';
export { isEvent, EVENT_TYPES, type EventType, type EventData, type ProviderEvent, type WebhookEvent, type BindingGrant } from './events.js';
export {
  RpError,
  MissingTokenError,
  InvalidRequestError,
  InvalidTokenError,
  InsufficientScopeError,
  KeysUnavailableError,
  RpConfigError,
  SessionRequiredError,
  type RpErrorCode,
  type BearerErrorCode,
  type HttpStatus,
  type InvalidTokenCode,
  type InsufficientScopeCode,
} from './errors.js';
