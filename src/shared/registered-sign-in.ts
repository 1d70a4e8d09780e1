import crypto from 'node:crypto';
import type { Context } from 'koa';
import type { Throttle } from './security/throttle.js';

/**
 * Sign-in right after registration (issue 14): the browser that has just registered (typed the new password and
 * the SMS code) carries a signed, HttpOnly, short-lived cookie to the interaction pages only. The next sign-in
 * interaction of that browser is then completed for the new person without asking for the password again, through
 * the provider's ordinary login result, so the session is created (or its id regenerated, S-30) exactly as after
 * a password sign-in. The cookie works once: its nonce is spent in the shared rate-limit table (S-52).
 */
const COOKIE = 'registered_sign_in';
const PATH = '/interaction';
const TTL_SECONDS = 5 * 60;

interface Handoff {
  personId: string;
  at: number;
  nonce: string;
}

export function rememberRegistration(ctx: Context, personId: string, now: Date): void {
  const value: Handoff = { personId, at: Math.floor(now.getTime() / 1000), nonce: crypto.randomBytes(16).toString('base64url') };
  ctx.cookies.set(COOKIE, JSON.stringify(value), { signed: true, httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: TTL_SECONDS * 1000, path: PATH });
}

/** The person who registered in this browser moments ago, once; the cookie is cleared whatever it held. */
export async function takeRegistration(ctx: Context, throttle: Throttle, now: Date): Promise<string | undefined> {
  const raw = ctx.cookies.get(COOKIE, { signed: true });
  if (raw === undefined) return undefined;
  ctx.cookies.set(COOKIE, null, { path: PATH });
  let handoff: Partial<Handoff>;
  try {
    handoff = JSON.parse(raw) as Partial<Handoff>;
  } catch {
    return undefined;
  }
  const { personId, at, nonce } = handoff;
  if (typeof personId !== 'string' || typeof at !== 'number' || typeof nonce !== 'string') return undefined;
  const age = Math.floor(now.getTime() / 1000) - at;
  if (age < 0 || age > TTL_SECONDS) return undefined;
  // Single use across instances: a copied cookie replayed later finds its nonce spent.
  if (!(await throttle.allow(`registered-sign-in:${nonce}`, 1, TTL_SECONDS))) return undefined;
  return personId;
}
