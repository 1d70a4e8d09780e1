import type { IncomingMessage, ServerResponse } from 'node:http';
import { RpError } from './errors.js';
import type { LogoutNotice } from './claims.js';
import type { KoaLikeContext } from './guards.js';
import type { Verifier } from './verifier.js';

/**
 * The back-channel logout endpoint of an RP (OpenID Connect Back-Channel Logout 1.0 §2.5, §2.8): the provider
 * POSTs `logout_token=<JWT>` form-encoded; the RP verifies it, ends its local sessions of that `sid` (or of that
 * `sub` when no sid is sent) and answers 200 with `Cache-Control: no-store`, or 400 when verification fails.
 */

export type LogoutHandler = (notice: LogoutNotice) => void | Promise<void>;

export interface LogoutAnswer {
  status: 200 | 400;
  headers: Record<string, string>;
  body: string;
  /** The verified notice (only on 200). */
  notice?: LogoutNotice;
}

/** Largest form body accepted (a logout token is far smaller). */
const MAX_FORM_BYTES = 64 * 1024;

function refused(description: string): LogoutAnswer {
  return {
    status: 400,
    headers: { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ error: 'invalid_request', error_description: description }),
  };
}

/**
 * Verifies the logout token of a form body (the raw `application/x-www-form-urlencoded` text, or an object a body
 * parser made of it) and runs `onLogout` with the notice. An exception of `onLogout` propagates (answer 500 then:
 * the provider may retry).
 */
export async function acceptLogoutToken(verifier: Verifier, form: string | Record<string, unknown> | undefined, onLogout: LogoutHandler): Promise<LogoutAnswer> {
  const token = typeof form === 'string' ? new URLSearchParams(form).get('logout_token') : form?.logout_token;
  if (typeof token !== 'string' || token === '') return refused('logout_token is required');
  let notice: LogoutNotice;
  try {
    notice = await verifier.verifyLogoutToken(token);
  } catch (error) {
    if (error instanceof RpError && error.status !== 503) return refused(error.message);
    throw error;
  }
  await onLogout(notice);
  return { status: 200, headers: { 'cache-control': 'no-store' }, body: '', notice };
}

/** Reads a form-encoded request body of at most 64 KiB; undefined when it is not form-encoded or too large. */
export async function readForm(req: IncomingMessage): Promise<string | undefined> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A node:http handler for the back-channel logout URI; also an Express handler (it uses `req.body` when a body
 * parser such as `express.urlencoded()` ran, the raw body otherwise).
 */
export function logoutEndpoint(verifier: Verifier, onLogout: LogoutHandler, onError?: (error: unknown) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void (async () => {
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST', 'cache-control': 'no-store' }).end();
        return;
      }
      const parsed = (req as IncomingMessage & { body?: unknown }).body;
      const form = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : await readForm(req);
      const answer = await acceptLogoutToken(verifier, form, onLogout);
      res.writeHead(answer.status, answer.headers).end(answer.body);
    })().catch((error: unknown) => {
      onError?.(error);
      if (!res.headersSent) res.writeHead(500, { 'cache-control': 'no-store' }).end();
      else res.destroy();
    });
  };
}

/** Koa middleware for the back-channel logout URI (uses `ctx.request.body` when a body parser ran). */
export function koaLogoutEndpoint(
  verifier: Verifier,
  onLogout: LogoutHandler,
): (ctx: KoaLikeContext & { req: IncomingMessage; method: string; request: { body?: unknown } }) => Promise<void> {
  return async (ctx) => {
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      ctx.set('allow', 'POST');
      return;
    }
    const parsed = ctx.request.body;
    const form = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : await readForm(ctx.req);
    const answer = await acceptLogoutToken(verifier, form, onLogout);
    ctx.status = answer.status;
    for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
    ctx.body = answer.body;
  };
}
