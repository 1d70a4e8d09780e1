import type { Context, Middleware, Next } from 'koa';
import type { Database } from '../shared/db/database.js';
import { asTokenRequest } from './adapter.js';
import { withRequestReads } from '../shared/request-reads.js';

/**
 * S-55: every adapter write of one token request (consuming the code or refresh token, saving the new refresh
 * token and the access token, revoking a grant on a replay) happens in one transaction, committed before the
 * response is written. An answer of the library (200, or a 4xx such as invalid_grant — whose replay revocation
 * must stay) commits; a 5xx or a thrown error rolls back, so a crash or a lost connection mid-request never leaves
 * a consumed token without its successor, and the retry is not a replay. A failed commit surfaces as 503 (the
 * error boundary), with nothing kept. The transaction begins at the request's first statement, and a request
 * whose only statement is its saves (client_credentials) sends that one alone (`Database.queryLast`).
 */
export function atomicTokenRequests(db: Database, tokenPath: string): Middleware {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || ctx.path !== tokenPath) return next();
    // The request's saves go in one statement at its end, only when it is kept (issue #15); it keeps what its
    // token lookup read for its later steps (findAccount), within this request only.
    const kept = () => ctx.status < 500;
    await db.ambient(() => withRequestReads(() => asTokenRequest(next, kept)), { commitIf: kept });
  };
}
