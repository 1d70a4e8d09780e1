import type { JWTPayload } from 'jose';
import { InvalidTokenError } from './errors.js';

/**
 * The claims contract of the provider (PRODUCT.md §5) as types, and the mapping of verified claims to the
 * identity an RP works with. A token whose unit claims are partial or of the wrong type is refused as a whole:
 * an RP must never act for a unit it cannot identify completely.
 */

export type UnitRole = 'handler' | 'contact';

/** The unit of a JWT access token (C-T4). */
export interface TokenUnit {
  id: string;
  role: UnitRole;
  /** The unit completed real-name verification (实名认证) when the token was issued. */
  verified: boolean;
  /** The unit requires a second factor of every handler acting for it (`unit_mfa_required`, issue #18). */
  mfaRequired: boolean;
}

/** The unit of an ID token or userinfo response (C-T2). */
export interface IdTokenUnit extends TokenUnit {
  name: string;
  certType: string;
  certNo: string;
  /** The requested business scopes the unit grants this person now. */
  scopes: string[];
}

export interface AccessTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  jti: string;
  client_id: string;
  /** Space-separated granted scopes (only business scopes for the provider's resource servers). */
  scope?: string;
  unit_id?: string;
  unit_role?: UnitRole;
  unit_verified?: boolean;
  /** Present (`true`) only when the unit requires a second factor of its handlers. */
  unit_mfa_required?: true;
}

export interface IdTokenClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  exp: number;
  iat: number;
  sid?: string;
  auth_time?: number;
  nonce?: string;
  /** How the person signed in: `urn:unit-oidc:acr:pwd` (password only) or `urn:unit-oidc:acr:mfa` (multi-factor). */
  acr?: string;
  /** The methods used (RFC 8176): `pwd`, `otp` (authenticator or recovery code), `hwk`/`swk` (a passkey). */
  amr?: string[];
  name?: string;
  preferred_username?: string;
  realname_verified?: boolean;
  unit_id?: string;
  unit_name?: string;
  unit_cert_type?: string;
  unit_cert_no?: string;
  unit_verified?: boolean;
  unit_role?: UnitRole;
  unit_scopes?: string[];
  /** Present (`true`) only when the unit requires a second factor of its handlers (the sign-in then had one). */
  unit_mfa_required?: true;
}

export interface LogoutTokenClaims extends JWTPayload {
  iss: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti: string;
  events: Record<string, Record<string, unknown>>;
  sub?: string;
  sid?: string;
}

/** Who an access token is for: the person (`subject`, C-T3) and, when signed in as a unit, the unit. */
export interface AccessTokenIdentity {
  subject: string;
  /** The client the token was issued to. */
  clientId: string;
  /** Absent for a personal sign-in. */
  unit?: TokenUnit;
  /** The unit role (`unit.role`), absent for a personal sign-in. */
  role?: UnitRole;
  /** Every granted scope. */
  scopes: string[];
  /** The granted business scopes (`biz:<code>`). */
  businessScopes: string[];
  expiresAt: Date;
  issuedAt: Date;
  tokenId: string;
  /** The verified claims as issued. */
  claims: AccessTokenClaims;
}

export interface IdTokenIdentity {
  subject: string;
  /** Absent for a personal sign-in. */
  unit?: IdTokenUnit;
  /** The unit role (`unit.role`), absent for a personal sign-in. */
  role?: UnitRole;
  /** The business scopes the unit grants this person (`unit_scopes`); empty for a personal sign-in. */
  scopes: string[];
  /** The provider session (`sid`), the key of back-channel logout. */
  sessionId?: string;
  /** `acr` of the sign-in (absent when the provider sent none). */
  acr?: string;
  /** `amr` of the sign-in; empty when the provider sent none. */
  amr: string[];
  /** The sign-in had a second factor: `acr` is the multi-factor class. */
  multiFactor: boolean;
  name?: string;
  expiresAt: Date;
  claims: IdTokenClaims;
}

export interface LogoutNotice {
  /** The person whose sessions end (present when the provider sends `sub`). */
  subject?: string;
  /** The provider session that ended (present when the provider sends `sid`). */
  sessionId?: string;
  tokenId: string;
  issuedAt: Date;
  expiresAt: Date;
  claims: LogoutTokenClaims;
}

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const BUSINESS_PREFIX = 'biz:';
/** The `acr` of a multi-factor sign-in (the provider's discovery lists it in `acr_values_supported`). */
export const ACR_MFA = 'urn:unit-oidc:acr:mfa';

function invalid(message: string): never {
  throw new InvalidTokenError('invalid_claims', message);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

function role(value: unknown): UnitRole {
  if (value !== 'handler' && value !== 'contact') invalid('unit_role must be handler or contact');
  return value;
}

/** Whether any claim of the unit family is present (then all of the family must be, and well-typed). */
function hasUnitClaims(claims: JWTPayload, names: readonly string[]): boolean {
  for (const name of names) if (claims[name] !== undefined) return true;
  return false;
}

const ACCESS_UNIT_CLAIMS = ['unit_id', 'unit_role', 'unit_verified'] as const;
const ID_UNIT_CLAIMS = ['unit_id', 'unit_name', 'unit_cert_type', 'unit_cert_no', 'unit_verified', 'unit_role', 'unit_scopes'] as const;

/** `unit_mfa_required`: absent, or `true` (the provider never sends `false`). */
function mfaRequired(value: unknown): boolean {
  if (value !== undefined && value !== true) invalid('unit_mfa_required must be true when present');
  return value === true;
}

/** Maps the verified claims of a JWT access token; signature, iss, aud, typ and times were checked before. */
export function parseAccessTokenClaims(payload: JWTPayload): AccessTokenIdentity {
  const claims = payload as AccessTokenClaims;
  if (!nonEmptyString(claims.sub)) invalid('sub must be a non-empty string');
  if (!nonEmptyString(claims.client_id)) invalid('client_id must be a non-empty string');
  if (!nonEmptyString(claims.jti)) invalid('jti must be a non-empty string');
  if (claims.scope !== undefined && typeof claims.scope !== 'string') invalid('scope must be a string');
  const scopes = claims.scope ? claims.scope.split(' ').filter((scope) => scope !== '') : [];
  let unit: TokenUnit | undefined;
  if (hasUnitClaims(claims, ACCESS_UNIT_CLAIMS)) {
    if (!nonEmptyString(claims.unit_id)) invalid('unit_id must be a non-empty string');
    if (typeof claims.unit_verified !== 'boolean') invalid('unit_verified must be a boolean');
    unit = { id: claims.unit_id, role: role(claims.unit_role), verified: claims.unit_verified, mfaRequired: mfaRequired(claims.unit_mfa_required) };
  }
  const identity: AccessTokenIdentity = {
    subject: claims.sub,
    clientId: claims.client_id,
    scopes,
    businessScopes: scopes.filter((scope) => scope.startsWith(BUSINESS_PREFIX)),
    expiresAt: new Date(claims.exp * 1000),
    issuedAt: new Date(claims.iat * 1000),
    tokenId: claims.jti,
    claims,
  };
  if (unit) {
    identity.unit = unit;
    identity.role = unit.role;
  }
  return identity;
}

/**
 * Maps ID token (or userinfo) claims to an identity. Use it on claims another library verified (openid-client's
 * `tokens.claims()`); `Verifier.verifyIdToken` calls it after its own verification.
 */
export function parseIdTokenClaims(payload: JWTPayload | Record<string, unknown>): IdTokenIdentity {
  const claims = payload as IdTokenClaims;
  if (!nonEmptyString(claims.sub)) invalid('sub must be a non-empty string');
  if (typeof claims.exp !== 'number') invalid('exp must be a number');
  if (claims.acr !== undefined && !nonEmptyString(claims.acr)) invalid('acr must be a non-empty string');
  if (claims.amr !== undefined && (!Array.isArray(claims.amr) || !claims.amr.every((method) => typeof method === 'string'))) invalid('amr must be an array of strings');
  const identity: IdTokenIdentity = {
    subject: claims.sub,
    scopes: [],
    expiresAt: new Date(claims.exp * 1000),
    amr: [...(claims.amr ?? [])],
    multiFactor: claims.acr === ACR_MFA,
    claims,
  };
  if (claims.acr !== undefined) identity.acr = claims.acr;
  if (claims.sid !== undefined) {
    if (!nonEmptyString(claims.sid)) invalid('sid must be a non-empty string');
    identity.sessionId = claims.sid;
  }
  if (typeof claims.name === 'string') identity.name = claims.name;
  if (hasUnitClaims(claims, ID_UNIT_CLAIMS)) {
    const { unit_id: id, unit_name: name, unit_cert_type: certType, unit_cert_no: certNo, unit_verified: verified, unit_scopes: scopes } = claims;
    if (!nonEmptyString(id) || !nonEmptyString(name) || !nonEmptyString(certType) || !nonEmptyString(certNo)) {
      invalid('unit_id, unit_name, unit_cert_type and unit_cert_no must be non-empty strings');
    }
    if (typeof verified !== 'boolean') invalid('unit_verified must be a boolean');
    if (!Array.isArray(scopes) || !scopes.every((scope) => typeof scope === 'string')) invalid('unit_scopes must be an array of strings');
    identity.unit = { id, name, certType, certNo, verified, role: role(claims.unit_role), scopes: [...scopes], mfaRequired: mfaRequired(claims.unit_mfa_required) };
    identity.role = identity.unit.role;
    identity.scopes = [...scopes];
  }
  return identity;
}

/** Back-Channel Logout 1.0 §2.6 checks of a verified logout token's claims (signature, iss, aud, times done). */
export function parseLogoutTokenClaims(payload: JWTPayload): LogoutNotice {
  const claims = payload as LogoutTokenClaims;
  const events: unknown = claims.events;
  const event = typeof events === 'object' && events !== null ? (events as Record<string, unknown>)[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (typeof event !== 'object' || event === null || Array.isArray(event)) invalid(`events must contain ${BACKCHANNEL_LOGOUT_EVENT}`);
  if ('nonce' in claims) invalid('a logout token must not contain a nonce');
  if (claims.sub !== undefined && !nonEmptyString(claims.sub)) invalid('sub must be a non-empty string');
  if (claims.sid !== undefined && !nonEmptyString(claims.sid)) invalid('sid must be a non-empty string');
  if (claims.sub === undefined && claims.sid === undefined) invalid('a logout token must contain sub or sid');
  if (!nonEmptyString(claims.jti)) invalid('jti must be a non-empty string');
  const notice: LogoutNotice = { tokenId: claims.jti, issuedAt: new Date(claims.iat * 1000), expiresAt: new Date(claims.exp * 1000), claims };
  if (claims.sub !== undefined) notice.subject = claims.sub;
  if (claims.sid !== undefined) notice.sessionId = claims.sid;
  return notice;
}
