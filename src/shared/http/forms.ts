import crypto from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware, Next } from 'koa';
import { AppError } from '../errors.js';
import type { AuditContext, Actor } from '../audit-context.js';
import { state } from './middleware.js';

/** URL-encoded forms and JSON, at most 64 KiB; anything larger is refused with 413 before it is read. */
export function parseBody(): Middleware {
  const parser = bodyParser({
    enableTypes: ['form', 'json'],
    formLimit: '64kb',
    jsonLimit: '64kb',
    encoding: 'utf-8',
    onError: (error, ctx) => {
      const status = (error as { status?: number }).status;
      ctx.throw(status === 413 ? 413 : status === 415 ? 415 : 400);
    },
  });
  return async (ctx: Context, next: Next) => {
    const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && hasBody && !ctx.is('urlencoded', 'json')) {
      throw new AppError('unsupported_media_type');
    }
    const length = Number(ctx.get('content-length') || 0);
    if (length > 64 * 1024) throw new AppError('payload_too_large');
    await parser(ctx, next);
  };
}

/**
 * The fields of a submitted form as strings, each at most `max` characters. Arrays, objects and missing
 * fields become empty strings; a field longer than allowed is refused.
 */
export function formFields<K extends string>(ctx: Context, names: readonly K[], max = 256): Record<K, string> {
  const body = (ctx.request as { body?: unknown }).body;
  const source = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const out = {} as Record<K, string>;
  for (const name of names) {
    const value = source[name];
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
    if (text.length > max) throw new AppError('validation', { field: name });
    if (text.includes('\u0000')) throw new AppError('validation', { field: name });
    out[name] = text;
  }
  return out;
}

const CSRF_COOKIE = 'csrf';

function csrfSecret(ctx: Context): string {
  let secret = ctx.cookies.get(CSRF_COOKIE, { signed: true });
  if (!secret || !/^[A-Za-z0-9_-]{43}$/.test(secret)) {
    secret = crypto.randomBytes(32).toString('base64url');
    ctx.cookies.set(CSRF_COOKIE, secret, { signed: true, httpOnly: true, sameSite: 'strict', secure: ctx.secure, path: '/' });
  }
  return secret;
}

/** The token to put in every form (S-32): an HMAC of the browser's secret cookie. */
export function csrfToken(ctx: Context): string {
  return crypto.createHmac('sha256', csrfSecret(ctx)).update('csrf-token').digest('base64url');
}

function assertCsrf(ctx: Context, sent: string | undefined): void {
  const secret = ctx.cookies.get(CSRF_COOKIE, { signed: true });
  const expected = secret ? crypto.createHmac('sha256', secret).update('csrf-token').digest('base64url') : '';
  const given = Buffer.from(sent ?? '');
  const wanted = Buffer.from(expected);
  const ok = wanted.length > 0 && given.length === wanted.length && crypto.timingSafeEqual(given, wanted);
  if (!ok) throw new AppError('csrf');
}

/** Refuses a POST whose `_csrf` field does not match the browser's token (S-32). */
export function verifyCsrf(): Middleware {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
      assertCsrf(ctx, typeof body._csrf === 'string' ? body._csrf : ctx.get('x-csrf-token'));
    }
    await next();
  };
}

/**
 * CSRF check of an upload before its body is read (S-35): the token comes in the form's action URL (`?_csrf=…`) or
 * the `X-CSRF-Token` header, the approach Spring Security documents for multipart forms. The token is an HMAC of the
 * cookie secret, never logged (the access log has the path only) and never sent on (Referrer-Policy: no-referrer).
 */
export function verifyCsrfBeforeBody(ctx: Context): void {
  const fromQuery = typeof ctx.query._csrf === 'string' ? ctx.query._csrf : undefined;
  assertCsrf(ctx, fromQuery ?? ctx.get('x-csrf-token'));
}

/** Audit context of the request: the acting account, client IP and request id. */
export function auditContext(ctx: Context, actor: Actor = { type: 'anonymous' }, actingUnitId?: string): AuditContext {
  return { actor, actingUnitId, ip: ctx.ip, requestId: state(ctx).requestId };
}

/**
 * The one validator of every `return`/redirect parameter (S-36): only a same-origin absolute path survives; anything
 * else falls back to `fallback` (no open redirect). Refused: not starting with exactly one `/`; control characters
 * (tab, CR, LF …, which browsers strip, so `/\t/evil.example` would become `//evil.example`), backslashes (read as
 * `/`), `//` anywhere, `@`, percent-encoded slashes, backslashes, dots, `@`, `%` and control characters (decoded by a
 * later hop), and anything that does not resolve to the same origin.
 */
export function safeReturnPath(value: unknown, fallback: string): string {
  return isSafeReturnPath(value) ? value : fallback;
}

const BASE = 'http://return-path.invalid';

export function isSafeReturnPath(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 512) return false;
  if (!value.startsWith('/') || value.includes('//') || value.includes('\\') || value.includes('@')) return false;
  // Control characters, spaces and anything outside printable ASCII (the path must be percent-encoded already).
  if (!/^[\x21-\x7e]+$/.test(value)) return false;
  // Encoded separators, backslashes, dots, '@', '%' and control characters: a later decode could turn them into a
  // second slash or a host.
  if (/%(2f|5c|2e|40|25|[01][0-9a-f]|7f)/i.test(value)) return false;
  try {
    const url = new URL(value, BASE);
    return url.origin === BASE && url.pathname.startsWith('/') && !url.pathname.startsWith('//');
  } catch {
    return false;
  }
}

/** Redirect after a successful POST (303 See Other, so the browser follows with GET). */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}
