import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpError } from './errors.js';
import type { AccessTokenIdentity, IdTokenIdentity } from './claims.js';
import { authenticate, sendChallenge, type GuardOptions } from './guards.js';
import { authenticateSession, sendSessionRefusal, type SessionGuardOptions } from './session.js';
import type { Verifier } from './verifier.js';

/**
 * Express-compatible middleware (`(req, res, next)`), without depending on Express: Express's request and response
 * are node:http's, so the same guards serve Express 4 and 5, Connect, and any framework with that signature.
 * The identity is attached to the request (`requestIdentity(req)`, `requestSession(req)`) and to `res.locals`
 * when the framework has it (templates read `identity` / `session`).
 */

export type NextFunction = (error?: unknown) => void;

const identities = new WeakMap<IncomingMessage, AccessTokenIdentity>();
const sessions = new WeakMap<IncomingMessage, IdTokenIdentity>();

function toLocals(res: ServerResponse, name: string, value: unknown): void {
  const locals = (res as ServerResponse & { locals?: Record<string, unknown> }).locals;
  if (typeof locals === 'object' && locals !== null) locals[name] = value;
}

/** Express middleware for an API: a bearer JWT access token (RFC 9068) meeting the requirements, else RFC 6750. */
export function expressGuard(verifier: Verifier, options: GuardOptions = {}): (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void {
  const { realm, ...requirements } = options;
  return (req, res, next) => {
    authenticate(verifier, req.headers.authorization, requirements).then(
      (identity) => {
        identities.set(req, identity);
        toLocals(res, 'identity', identity);
        next();
      },
      (error: unknown) => {
        if (error instanceof RpError) sendChallenge(res, error, realm);
        else next(error);
      },
    );
  };
}

/** Express middleware for pages: a valid ID-token session meeting the requirements, else a login redirect / 401 / 403. */
export function expressSession<Request extends IncomingMessage>(
  verifier: Verifier,
  options: SessionGuardOptions<Request>,
): (req: Request, res: ServerResponse, next: NextFunction) => void {
  const { idToken, loginUrl, ...requirements } = options;
  return (req, res, next) => {
    Promise.resolve(idToken(req))
      .then((token) => authenticateSession(verifier, token, requirements))
      .then(
        (identity) => {
          sessions.set(req, identity);
          toLocals(res, 'session', identity);
          next();
        },
        (error: unknown) => {
          if (error instanceof RpError) sendSessionRefusal(res, error, loginUrl, (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/');
          else next(error);
        },
      );
  };
}

/** The access-token identity expressGuard attached to this request (throws when it did not run: a wiring mistake). */
export function requestIdentity(req: IncomingMessage): AccessTokenIdentity {
  const identity = identities.get(req);
  if (!identity) throw new Error('no RP kit guard ran before this handler');
  return identity;
}

/** The session identity expressSession attached to this request (throws when it did not run). */
export function requestSession(req: IncomingMessage): IdTokenIdentity {
  const identity = sessions.get(req);
  if (!identity) throw new Error('no RP kit session guard ran before this handler');
  return identity;
}
