import crypto from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import helmet from 'koa-helmet';
import type { Logger } from '../logger.js';
import { AppError, isDatabaseUnavailable, isUnstorableInput, type FieldProblem } from '../errors.js';
import { matchLocale, pickLocale, translate, type Locale, type MessageKey } from '../i18n/index.js';
import { render } from './views.js';
import { currentTraceId } from '../tracing.js';

export interface RequestState {
  requestId: string;
  log: Logger;
  locale: Locale;
  /** Set when the provider reported a server error caused by an unreachable database. */
  databaseUnavailable?: boolean;
  /** Set when the provider reported a server error caused by input the database cannot store (e.g. NUL). */
  badInput?: boolean;
}

export function state(ctx: Context): RequestState {
  return ctx.state as RequestState;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{8,64}$/;

/** Request id (echoed in X-Request-Id), per-request logger, language, and one access-log line per request. */
export function requestContext(logger: Logger): Middleware {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint();
    const incoming = ctx.get('X-Request-Id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    const s = state(ctx);
    s.requestId = requestId;
    const traceId = currentTraceId();
    s.log = logger.child(traceId ? { requestId, traceId } : { requestId });
    const query = ctx.query as Record<string, unknown>;
    const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
    // An explicit choice (the language switch) wins over what a relying party asked for with ui_locales.
    s.locale = pickLocale(text(query.lang), ctx.cookies.get('lang'), text(query.ui_locales));
    // A page opened with ?lang=… (a link from a business system or the guide) keeps that language for the forms it
    // posts, whose actions do not carry the query (issue #14); only a GET, and only when the choice changes.
    const chosen = ctx.method === 'GET' ? matchLocale(text(query.lang)) : undefined;
    if (chosen && chosen !== ctx.cookies.get('lang')) rememberLocale(ctx, chosen);
    ctx.set('X-Request-Id', requestId);
    try {
      await next();
    } finally {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const quiet = ctx.path === '/healthz' || ctx.path === '/readyz';
      s.log[quiet ? 'debug' : 'info']({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
}

/** Keeps the chosen language for a year (the language switch, or a page opened with `?lang=`). */
export function rememberLocale(ctx: Context, locale: Locale): void {
  ctx.cookies.set('lang', locale, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: 365 * 24 * 3600 * 1000 });
}

function wantsJson(ctx: Context): boolean {
  return ctx.path.startsWith('/api/') || ctx.accepts('html', 'json') === 'json';
}

/**
 * A rate limit or lockout (429) says how long it lasts (RFC 9110 §10.2.3): the seconds its message gives. Returns
 * them, for pages that also show a countdown.
 */
export function setRetryAfter(ctx: Context, status: number, params: Record<string, string | number>): number | undefined {
  if (status !== 429 || typeof params.seconds !== 'number') return undefined;
  const seconds = Math.max(1, Math.ceil(params.seconds));
  ctx.set('Retry-After', String(seconds));
  return seconds;
}

/**
 * The one JSON error body outside the OAuth endpoints: `code` (the catalogue's), the message in the request's
 * language, the field (and for a validation error every failing field) and the request id. `error` repeats the
 * code for the clients and tests written against the first version of the API.
 */
export function errorBody(
  ctx: Context,
  code: string,
  message: string,
  field?: string,
  fields: readonly { field: string; code: string; message: string }[] = [],
): Record<string, unknown> {
  return { code, error: code, message, ...(field ? { field } : {}), ...(fields.length > 0 ? { fields } : {}), requestId: state(ctx).requestId };
}

/** Every failing field of a validation error with its message in the request's language. */
export function fieldMessages(locale: Locale, fields: readonly FieldProblem[]): { field: string; code: string; message: string }[] {
  return fields.map((problem) => ({ field: problem.field, code: problem.code, message: translate(locale, `error.${problem.code}` as MessageKey, problem.params) }));
}

/**
 * What a refused form shows: the first message (next to its field, or above the form), and for a validation
 * error every failing field's message, to be shown next to each field at once.
 */
export function formErrorView(locale: Locale, error: AppError): { error: string; errorField: string | undefined; fieldErrors: Record<string, string> } {
  const messages = fieldMessages(locale, error.fields);
  const fieldErrors = Object.fromEntries(messages.reverse().map((problem) => [problem.field, problem.message]));
  const first = error.fields[0];
  return { error: first ? fieldErrors[first.field]! : translate(locale, error.messageKey, error.params), errorField: error.field, fieldErrors };
}

function respond(
  ctx: Context,
  status: number,
  code: string,
  messageKey: MessageKey,
  params: Record<string, string | number> = {},
  field?: string,
  fields: readonly FieldProblem[] = [],
): void {
  const s = state(ctx);
  const locale = s.locale ?? 'zh-CN';
  // A validation error keeps its one summary message; `fields` carries each failing field's own message.
  const message = translate(locale, messageKey, params);
  if (status === 503) ctx.set('Retry-After', '5');
  setRetryAfter(ctx, status, params);
  if (wantsJson(ctx)) {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = errorBody(ctx, code, message, field, fieldMessages(locale, fields));
  } else {
    // A way back from every error page (返回首页 always; 重新登录 when the sign-in or the session is the problem).
    const signIn = code === 'interaction_expired' || code === 'reauth_required' || status === 401;
    // A refused query string (a GET page's filters) names each failing parameter's problem under the summary.
    render(ctx, 'error.njk', { message, signIn, problems: fieldMessages(locale, fields).map((problem) => problem.message) }, status);
  }
}

const HTTP_ERROR_KEYS: Record<number, [string, MessageKey]> = {
  400: ['bad_request', 'error.bad_request'],
  403: ['forbidden', 'error.forbidden'],
  404: ['not_found', 'error.not_found'],
  405: ['method_not_allowed', 'error.method_not_allowed'],
  413: ['payload_too_large', 'error.payload_too_large'],
  415: ['unsupported_media_type', 'error.unsupported_media_type'],
  429: ['too_many_requests', 'error.too_many_requests'],
};

/**
 * Renders every error of our routes as a page or JSON in the user's language, without internals. Unknown errors
 * are logged with the request id and become a generic 500; an unreachable database becomes 503.
 */
export function errorBoundary(): Middleware {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) respond(ctx, 404, 'not_found', 'error.not_found');
      if (ctx.status === 405 && (ctx.body == null || typeof ctx.body === 'string')) respond(ctx, 405, 'method_not_allowed', 'error.method_not_allowed');
      if (state(ctx).databaseUnavailable && ctx.status === 500) {
        ctx.status = 503;
        ctx.set('Retry-After', '5');
      }
      if (state(ctx).badInput && ctx.status === 500) {
        const html = ctx.response.is('html');
        ctx.status = 400;
        if (html) respond(ctx, 400, 'bad_request', 'error.bad_request');
        else ctx.body = { error: 'invalid_request', error_description: 'the request contains characters that are not allowed' };
      }
    } catch (error) {
      if (error instanceof AppError) {
        respond(ctx, error.status, error.code, error.messageKey, error.params, error.field, error.fields);
        return;
      }
      const status = (error as { status?: number; expose?: boolean }).status;
      const known = typeof status === 'number' ? HTTP_ERROR_KEYS[status] : undefined;
      if (known && (error as { expose?: boolean }).expose !== false) {
        respond(ctx, status as number, known[0], known[1]);
        return;
      }
      if (isUnstorableInput(error)) {
        respond(ctx, 400, 'bad_request', 'error.bad_request');
        return;
      }
      if (isDatabaseUnavailable(error)) {
        state(ctx).log.error({ err: error }, 'database unavailable');
        respond(ctx, 503, 'unavailable', 'error.unavailable');
        return;
      }
      state(ctx).log.error({ err: error }, 'unhandled error');
      respond(ctx, 500, 'server_error', 'error.server');
    }
  };
}

/** Security headers on every response (S-33). */
export function securityHeaders(https: boolean): Middleware {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
    crossOriginResourcePolicy: { policy: 'same-site' },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    strictTransportSecurity: https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  }) as Middleware;
}
