import crypto from 'node:crypto';
import { Router } from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { isAccountKind, parseAccountId } from '../shared/account-id.js';
import { AppError } from '../shared/errors.js';
import { isFresh } from '../shared/security/sensitive.js';
import type { ConsoleAccount, CurrentAccount, RequireAccount } from '../shared/console-account.js';
import { safeReturnPath } from '../shared/http/forms.js';
import { state } from '../shared/http/middleware.js';
import { CONSOLE_CLIENT_ID, consoleRedirectUri, type ConsoleKind } from '../oidc/console-client.js';

const LOGIN_COOKIE = 'console_login';
const HOME: Record<ConsoleKind, string> = { person: '/account', unit: '/unit', operator: '/operator' };

/**
 * The consoles read the provider's session directly (one SSO session, S-30). To sign in, they send the browser
 * through an ordinary authorization request of the built-in `console` client, so every sign-in uses the same
 * interaction pages, throttling and session handling as for business systems.
 */
export function consoleAuth(provider: Provider, issuer: string): { routes: Router; requireAccount: RequireAccount; currentAccount: CurrentAccount } {
  const router = new Router();

  function loginUrl(kind: ConsoleKind, returnTo: string, reauth: boolean): string {
    return `/console/login?kind=${kind}&return=${encodeURIComponent(returnTo)}${reauth ? '&reauth=1' : ''}`;
  }

  router.get('/console/login', async (ctx) => {
    const kind = isAccountKind(ctx.query.kind) ? ctx.query.kind : 'person';
    const returnTo = safeReturnPath(ctx.query.return, HOME[kind]);
    const stateValue = crypto.randomBytes(16).toString('base64url');
    const verifier = crypto.randomBytes(32).toString('base64url');
    // A re-authentication continues to the sensitive page only for the account that was signed in (S-34).
    const expect = ctx.query.reauth === '1' ? (await provider.Session.get(ctx)).accountId : undefined;
    ctx.cookies.set(LOGIN_COOKIE, JSON.stringify({ state: stateValue, returnTo, kind, expect }), {
      signed: true,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      maxAge: 15 * 60 * 1000,
      path: '/console',
    });
    const query = new URLSearchParams({
      client_id: CONSOLE_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      redirect_uri: consoleRedirectUri(issuer),
      state: stateValue,
      code_challenge: crypto.createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      console: kind,
      ui_locales: state(ctx).locale,
    });
    // Re-authentication (S-34): the sign-in page then shows the current account fixed and asks for its password only.
    if (ctx.query.reauth === '1') {
      query.set('prompt', 'login');
      query.set('reauth', '1');
    } else if (ctx.query.select_unit === '1' && kind === 'person') query.set('prompt', 'select_unit');
    ctx.set('Cache-Control', 'no-store');
    ctx.redirect(`/auth?${query.toString()}`);
  });

  router.get('/console/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const raw = ctx.cookies.get(LOGIN_COOKIE, { signed: true });
    ctx.cookies.set(LOGIN_COOKIE, null, { path: '/console' });
    let pending: { state?: string; returnTo?: string; kind?: ConsoleKind; expect?: string } = {};
    try {
      pending = raw ? (JSON.parse(raw) as typeof pending) : {};
    } catch {
      pending = {};
    }
    const fallback = HOME[pending.kind ?? 'person'];
    if (!pending.state || ctx.query.state !== pending.state) throw new AppError('interaction_expired');
    if (typeof ctx.query.error === 'string') {
      ctx.redirect('/');
      return;
    }
    // The console reads the session itself: the code is checked and discarded, with the grant it created.
    const code = typeof ctx.query.code === 'string' ? await provider.AuthorizationCode.find(ctx.query.code) : undefined;
    if (!code || code.clientId !== CONSOLE_CLIENT_ID) throw new AppError('interaction_expired');
    await code.destroy();
    if (code.grantId) await provider.Grant.adapter.destroy(code.grantId);
    if (pending.expect && code.accountId !== pending.expect) throw new AppError('forbidden');
    ctx.redirect(safeReturnPath(pending.returnTo, fallback));
  });

  const requireAccount: RequireAccount =
    (kind, options = {}) =>
    async (ctx: Context, next: Next) => {
      ctx.set('Cache-Control', 'no-store');
      // A route-level freshness check after the router's guard reuses what the guard read from the session.
      const known = (ctx.state as { account?: ConsoleAccount }).account;
      const session = known?.kind === kind ? undefined : await provider.Session.get(ctx);
      const ref = known?.kind === kind ? { kind, id: known.id } : parseAccountId(session?.accountId);
      const loginTs = known?.kind === kind ? known.loginTs : (session?.loginTs ?? 0);
      const sessionUid = known?.kind === kind ? known.sessionUid : (session?.uid ?? '');
      const matches = ref?.kind === kind && (kind !== 'operator' || known?.kind === kind || session?.amr?.includes('otp'));
      const fresh = options.freshSeconds === undefined || isFresh(loginTs, options.freshSeconds);
      if (!ref || !matches || !fresh) {
        if (ctx.method === 'GET' || ctx.method === 'HEAD') {
          ctx.redirect(loginUrl(kind, safeReturnPath(ctx.originalUrl, HOME[kind]), !!matches && !fresh));
          return;
        }
        throw new AppError(matches ? 'reauth_required' : 'forbidden');
      }
      (ctx.state as { account?: ConsoleAccount }).account = { kind, id: ref.id, sessionUid, loginTs };
      await next();
    };

  const currentAccount: CurrentAccount = async (ctx) => {
    const session = await provider.Session.get(ctx);
    const ref = parseAccountId(session.accountId);
    if (!ref || (ref.kind === 'operator' && !session.amr?.includes('otp'))) return undefined;
    return { kind: ref.kind, id: ref.id, sessionUid: session.uid, loginTs: session.loginTs ?? 0 };
  };

  return { routes: router, requireAccount, currentAccount };
}
