import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpError, SessionRequiredError, type HttpStatus } from './errors.js';
import type { IdTokenIdentity, LogoutNotice } from './claims.js';
import { checkRequirements, type KoaLikeContext, type Requirements } from './guards.js';
import type { Verifier } from './verifier.js';

/**
 * The ID-token session of a web app (a business system that signs people in with the authorization code flow and
 * keeps the ID token in its own server-side session). The guard verifies the stored ID token on every request
 * (signature, issuer, audience = clientId, expiry), refuses sessions the provider ended by back-channel logout,
 * checks the requirements against the unit claims (`unit_role`, `unit_verified`, `unit_scopes`) and exposes the
 * identity with `unit`, `role` and `scopes`.
 *
 * The session lasts as long as its ID token (1 hour at the provider): refresh the tokens and store the new ID token
 * to keep a person signed in longer; the refreshed ID token also carries the current unit claims (C-T5).
 */

/**
 * Provider sessions ended by back-channel logout, remembered in memory (one process). Feed it the notices of
 * `verifier.verifyLogoutToken`; an ID token whose `sid` ended, or whose `sub` was logged out entirely after the
 * token was issued, is refused by the session guards. Share one instance between the logout endpoint and the guards.
 */
export class SessionRevocations {
  readonly #sessions = new Map<string, number>();
  readonly #subjects = new Map<string, number>();

  /** @param retainSeconds how long an ended session is remembered: at least the lifetime of an ID token (default 1 day). */
  constructor(private readonly retainSeconds = 86_400) {}

  /** Records a verified logout notice. */
  revoke(notice: LogoutNotice): void {
    const now = Date.now();
    this.#prune(now);
    if (notice.sessionId !== undefined) this.#sessions.set(notice.sessionId, now);
    // Without a sid the provider ends every session of the person (Back-Channel Logout 1.0 §2.6).
    else if (notice.subject !== undefined) this.#subjects.set(notice.subject, Math.floor(now / 1000));
  }

  /** Whether the provider ended the session this identity was signed in with. */
  isRevoked(identity: IdTokenIdentity): boolean {
    if (identity.sessionId !== undefined && this.#sessions.has(identity.sessionId)) return true;
    const subjectEndedAt = this.#subjects.get(identity.subject);
    return subjectEndedAt !== undefined && (typeof identity.claims.iat !== 'number' || identity.claims.iat <= subjectEndedAt);
  }

  #prune(now: number): void {
    const limit = now - this.retainSeconds * 1000;
    for (const [key, at] of this.#sessions) if (at < limit) this.#sessions.delete(key);
    for (const [key, at] of this.#subjects) if (at * 1000 < limit) this.#subjects.delete(key);
  }
}

export interface SessionRequirements extends Requirements {
  /** Sessions ended by back-channel logout (see SessionRevocations). */
  revocations?: SessionRevocations;
}

/**
 * Verifies the ID token of a session and checks the requirements. Throws SessionRequiredError (401) when there is
 * none or it was ended, InvalidTokenError (401) when it does not verify or expired, InsufficientScopeError (403).
 */
export async function authenticateSession(verifier: Verifier, idToken: string | undefined, requirements: SessionRequirements = {}): Promise<IdTokenIdentity> {
  if (!idToken) throw new SessionRequiredError('session_required', 'sign in first');
  const { revocations, ...checks } = requirements;
  const identity = await verifier.verifyIdToken(idToken);
  if (revocations?.isRevoked(identity)) throw new SessionRequiredError('session_ended', 'the provider ended this session');
  checkRequirements(identity, checks);
  return identity;
}

export interface SessionGuardOptions<Request> extends SessionRequirements {
  /** Reads the ID token the app stored in its session at sign-in; undefined when nobody is signed in. */
  idToken: (request: Request) => string | undefined | Promise<string | undefined>;
  /**
   * Where a request without a valid session is sent (303 See Other), e.g. the app's `/login`; the original path
   * is appended as `return_to`. Without it such requests get 401.
   */
  loginUrl?: string;
}

/** How a refused session request is answered: status, headers and a JSON body (or a redirect to the login). */
export interface SessionRefusal {
  status: HttpStatus | 303;
  headers: Record<string, string>;
  body: { error: string; error_description: string; reason: string } | undefined;
}

/** The answer for a refused session request; `path` is the path and query of the request (for return_to). */
export function sessionRefusal(error: RpError, loginUrl: string | undefined, path: string): SessionRefusal {
  const headers: Record<string, string> = { 'cache-control': 'no-store' };
  if (error.status === 401 && loginUrl !== undefined) {
    const separator = loginUrl.includes('?') ? '&' : '?';
    return { status: 303, headers: { ...headers, location: `${loginUrl}${separator}return_to=${encodeURIComponent(path)}` }, body: undefined };
  }
  if (error.status === 503) headers['retry-after'] = '5';
  headers['content-type'] = 'application/json; charset=utf-8';
  const code = error.status === 401 ? 'login_required' : error.status === 403 ? 'forbidden' : 'temporarily_unavailable';
  return { status: error.status, headers, body: { error: code, error_description: error.message, reason: error.code } };
}

/** Where the Koa session guard puts the identity: `ctx.state.session`. */
export const SESSION_STATE_KEY = 'session';

/** The session identity a session guard attached (throws when no session guard ran: a wiring mistake). */
export function sessionOf(ctx: { state: object }): IdTokenIdentity {
  const identity = (ctx.state as Record<string, unknown>)[SESSION_STATE_KEY];
  if (identity === undefined) throw new Error('no RP kit session guard ran before this handler');
  return identity as IdTokenIdentity;
}

async function guarded<Request>(verifier: Verifier, request: Request, options: SessionGuardOptions<Request>): Promise<IdTokenIdentity | RpError> {
  const { idToken, loginUrl: _loginUrl, ...requirements } = options;
  try {
    return await authenticateSession(verifier, await idToken(request), requirements);
  } catch (error) {
    if (error instanceof RpError) return error;
    throw error;
  }
}

/** The context `idToken` gets when not annotated: the Koa-like shape plus the app's own fields (`ctx.cookies`, `ctx.session`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the app's own context fields, unknown to the kit
type AnyKoaContext = KoaLikeContext & { originalUrl?: string } & Record<string, any>;

/**
 * Koa middleware: the request must carry a valid ID-token session meeting the requirements (`ctx.state.session`).
 * Annotate the `idToken` parameter (`(ctx: Context) => …`) for full types of your context.
 */
export function requireSession<Context extends KoaLikeContext & { originalUrl?: string } = AnyKoaContext>(
  verifier: Verifier,
  options: SessionGuardOptions<Context>,
): (ctx: Context, next: () => Promise<unknown>) => Promise<void> {
  return async (ctx, next) => {
    const result = await guarded(verifier, ctx, options);
    if (result instanceof RpError) {
      const refusal = sessionRefusal(result, options.loginUrl, ctx.originalUrl ?? '/');
      ctx.status = refusal.status;
      for (const [name, value] of Object.entries(refusal.headers)) ctx.set(name, value);
      ctx.body = refusal.body ?? '';
      return;
    }
    (ctx.state as Record<string, unknown>)[SESSION_STATE_KEY] = result;
    await next();
  };
}

/** Writes a session refusal to a node:http (or Express) response. */
export function sendSessionRefusal(res: ServerResponse, error: RpError, loginUrl: string | undefined, path: string): void {
  const refusal = sessionRefusal(error, loginUrl, path);
  res.writeHead(refusal.status, refusal.headers).end(refusal.body ? JSON.stringify(refusal.body) : undefined);
}

/**
 * For node:http handlers: resolves with the session identity, or answers the refusal and resolves with undefined.
 *
 *     const identity = await guardSession(verifier, req, res, { idToken: (req) => sessions.get(req)?.idToken });
 *     if (!identity) return;
 */
export async function guardSession(
  verifier: Verifier,
  req: IncomingMessage,
  res: ServerResponse,
  options: SessionGuardOptions<IncomingMessage>,
): Promise<IdTokenIdentity | undefined> {
  const result = await guarded(verifier, req, options);
  if (result instanceof RpError) {
    sendSessionRefusal(res, result, options.loginUrl, req.url ?? '/');
    return undefined;
  }
  return result;
}
