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

/** The unit a session acted for when the provider ended it (back-channel logout), for its signed-out page. */
export interface EndedUnitSession {
  unitId: string;
  unitName: string;
  at: number;
}

const ENDED_KEPT_MS = 60 * 60 * 1000;

/** Server-side sessions of one demo RP, in memory: the cookie holds only a random id. */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #ended = new Map<string, EndedUnitSession>();

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
      if (identity.unit) this.#ended.set(id, { unitId: identity.unit.id, unitName: identity.unit.name, at: Date.now() });
      ended += 1;
    }
    return ended;
  }

  /**
   * The unit of a session that the provider ended (the browser still sends its old cookie), once: the signed-out
   * page names it and signs in for it again with unit_hint, so the provider can say why it is gone.
   */
  takeEnded(id: string | undefined): EndedUnitSession | undefined {
    const ended = id ? this.#ended.get(id) : undefined;
    if (id) this.#ended.delete(id);
    return ended && Date.now() - ended.at < ENDED_KEPT_MS ? ended : undefined;
  }

  sweep(): void {
    const now = Date.now();
    for (const [id, ended] of this.#ended) if (now - ended.at > ENDED_KEPT_MS) this.#ended.delete(id);
    for (const [id, session] of this.#sessions) if (now - session.touchedAt > IDLE_MS) this.#sessions.delete(id);
  }
}
