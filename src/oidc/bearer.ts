import type { Context, Middleware, Next } from 'koa';
import type Provider from 'oidc-provider';
import { parseAccountId, type AccountKind } from '../shared/account-id.js';
import { isFresh } from '../shared/security/sensitive.js';
import { errorBody } from '../shared/http/middleware.js';

/** The account behind a management-API request, from one of this provider's own access tokens. */
export interface ApiAccount {
  kind: AccountKind;
  id: string;
  clientId: string;
  scopes: Set<string>;
  /**
   * The password was entered within the re-authentication window (S-27): the `loginTs` of the provider session the
   * token belongs to (its `auth_time`), not the token's issue time; false when that session is gone or changed hands.
   */
  fresh: boolean;
}

export const MANAGE_SCOPE = 'manage';

function challenge(ctx: Context, status: 401 | 403, error: 'invalid_token' | 'insufficient_scope', description: string): void {
  ctx.status = status;
  ctx.set('WWW-Authenticate', `Bearer realm="management", error="${error}", error_description="${description}"${error === 'insufficient_scope' ? ` scope="${MANAGE_SCOPE}"` : ''}`);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = errorBody(ctx, error, description);
}

/**
 * Bearer authentication for the JSON management API (RFC 6750): an opaque access token issued by this provider,
 * still valid, with the `manage` scope, for an account that still exists. Cookies are never used here, so no
 * CSRF token is needed.
 */
export function bearerAuth(provider: Provider, reauthSeconds: number, accountActive: (kind: AccountKind, id: string) => Promise<boolean>): Middleware {
  return async (ctx: Context, next: Next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
    if (!match?.[1]) return challenge(ctx, 401, 'invalid_token', 'a bearer access token is required');
    const token = await provider.AccessToken.find(match[1]);
    if (!token || token.isExpired) return challenge(ctx, 401, 'invalid_token', 'the access token is invalid or expired');
    const scopes = new Set(String(token.scope ?? '').split(' '));
    if (!scopes.has(MANAGE_SCOPE)) return challenge(ctx, 403, 'insufficient_scope', 'the access token lacks the manage scope');
    const ref = parseAccountId(token.accountId);
    if (!ref || !(await accountActive(ref.kind, ref.id))) return challenge(ctx, 401, 'invalid_token', 'the account of the token is not active');
    const sessionUid = (token as unknown as { sessionUid?: string }).sessionUid;
    const session = sessionUid ? await provider.Session.findByUid(sessionUid) : undefined;
    const fresh = session?.accountId === token.accountId && isFresh(session?.loginTs, reauthSeconds);
    (ctx.state as { apiAccount?: ApiAccount }).apiAccount = { kind: ref.kind, id: ref.id, clientId: token.clientId ?? '', scopes, fresh };
    await next();
  };
}
