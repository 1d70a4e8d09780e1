import crypto from 'node:crypto';
import type { IdTokenIdentity, LogoutNotice } from '@unit-oidc/rp-kit';

/** An authorization request in flight (one per browser tab that started a sign-in). */
export interface PendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Local path to show after the sign-in. */
  returnTo: string;
  createdAt: number;
}

export interface SignedIn {
  identity: IdTokenIdentity;
  idToken: string;
  /** The RFC 9068 JWT access token for this system's API (resource). */
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string | undefined;
}

export interface Session {
  id: string;
  /** Token of the logout form (the only state-changing form of the demo). */
  csrf: string;
  touchedAt: number;
  pending: PendingLogin[];
  user?: SignedIn | undefined;
}

const IDLE_MS = 8 * 60 * 60 * 1000;
const PENDING_MS = 15 * 60 * 1000;
const PENDING_KEPT = 5;

function randomId(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/** Server-side sessions of one demo RP, in memory: the cookie holds only a random id. */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();

  get size(): number {
    return this.#sessions.size;
  }

  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.#sessions.get(id);
    if (!session) return undefined;
    if (Date.now() - session.touchedAt > IDLE_MS) {
      this.#sessions.delete(id);
      return undefined;
    }
    session.touchedAt = Date.now();
    return session;
  }

  create(): Session {
    const session: Session = { id: randomId(), csrf: randomId(), touchedAt: Date.now(), pending: [] };
    this.#sessions.set(session.id, session);
    return session;
  }

  destroy(id: string): void {
    this.#sessions.delete(id);
  }

  addPending(session: Session, pending: PendingLogin): void {
    const now = Date.now();
    session.pending = [...session.pending.filter((entry) => now - entry.createdAt < PENDING_MS), pending].slice(-PENDING_KEPT);
  }

  /** Removes and returns the pending sign-in with this state (each is used once). */
  takePending(session: Session, state: string): PendingLogin | undefined {
    const index = session.pending.findIndex((entry) => entry.state === state && Date.now() - entry.createdAt < PENDING_MS);
    if (index === -1) return undefined;
    const [pending] = session.pending.splice(index, 1);
    return pending;
  }

  /** A fresh session id at sign-in (session fixation), holding the signed-in user. */
  signIn(previous: Session | undefined, user: SignedIn): Session {
    if (previous) this.#sessions.delete(previous.id);
    const session = this.create();
    session.user = user;
    return session;
  }

  /**
   * Back-channel logout: ends the sessions of the provider session `sid` (and of `sub` when both are given), or
   * every session of `sub` when the provider sent no sid. Returns how many ended.
   */
  endMatching(notice: LogoutNotice): number {
    let ended = 0;
    for (const [id, session] of this.#sessions) {
      const identity = session.user?.identity;
      if (!identity) continue;
      if (notice.sessionId !== undefined && identity.sessionId !== notice.sessionId) continue;
      if (notice.subject !== undefined && identity.subject !== notice.subject) continue;
      this.#sessions.delete(id);
      ended += 1;
    }
    return ended;
  }

  sweep(): void {
    const now = Date.now();
    for (const [id, session] of this.#sessions) if (now - session.touchedAt > IDLE_MS) this.#sessions.delete(id);
  }
}
