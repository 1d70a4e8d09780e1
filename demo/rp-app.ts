import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa, { type Context } from 'koa';
import { Router } from '@koa/router';
import * as client from 'openid-client';
import { createVerifier, identityOf, requireUnit, RpError, type IdTokenIdentity, type Verifier, type VerifierOptions } from '@unit-oidc/rp-kit';
import { businessPage, forbiddenPage, messagePage, signedOutPage, STYLESHEET, unitRequiredPage, type ApiResult, type PageContext } from './pages.js';
import { sampleRecords, type DemoSection, type DemoSystem } from './systems.js';
import { SessionStore, type Session, type SignedIn } from './sessions.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A demo business system (relying party): sign-in with openid-client (authorization code + PKCE S256, state,
 * nonce, resource indicator), server-side sessions, its business API protected by the RP kit, and back-channel
 * logout. It depends on the provider only through the protocol.
 */

export interface DemoRpConfig {
  system: DemoSystem;
  /** The provider's issuer identifier. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The registered redirect URI; its origin is the public base URL of this system. */
  redirectUri: string;
  /** Port to listen on (0: any free port). */
  port: number;
  host?: string;
  /** RFC 8707 resource indicator of this system's API (default `<origin>/api`). */
  resource?: string;
  /** Registered post-logout redirect URI (default `<origin>/`). */
  postLogoutRedirectUri?: string;
  /** Extra verifier options (clock tolerance, JWKS cache). */
  verifier?: Partial<Pick<VerifierOptions, 'clockToleranceSeconds' | 'keys' | 'jwksUri'>>;
  log?: (message: string, detail?: Record<string, unknown>) => void;
}

export interface RunningDemoRp {
  /** Public base URL (origin of the redirect URI). */
  url: string;
  /** Where this process actually listens. */
  localUrl: string;
  sessions: SessionStore;
  verifier: Verifier;
  close(): Promise<void>;
}

/** Seconds before expiry at which the access token is refreshed. */
const REFRESH_MARGIN_MS = 30_000;
const MAX_FORM_BYTES = 16 * 1024;

function safeReturnPath(value: unknown, fallback: string): string {
  return typeof value === 'string' && /^\/(?![/\\])[^\s]*$/.test(value) ? value : fallback;
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw new FormError('expected application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new FormError('request body too large');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

class FormError extends Error {}

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && crypto.timingSafeEqual(left, right);
}

export async function startDemoRp(config: DemoRpConfig): Promise<RunningDemoRp> {
  const { system } = config;
  const origin = new URL(config.redirectUri).origin;
  const resource = config.resource ?? `${origin}/api`;
  const postLogoutRedirectUri = config.postLogoutRedirectUri ?? `${origin}/`;
  const secure = origin.startsWith('https:');
  const cookieName = `${system.clientId}_sid`;
  const scope = ['openid', 'profile', 'unit', ...system.sections.map((section) => section.scope)].join(' ');
  const log = config.log ?? (() => undefined);
  const sessions = new SessionStore();
  const verifier = createVerifier({ issuer: config.issuer, audience: resource, clientId: config.clientId, ...config.verifier });
  let selfUrl = '';

  // Discovery once, retried on the next request when the provider was not reachable.
  let discovered: Promise<client.Configuration> | undefined;
  const oidc = (): Promise<client.Configuration> => {
    discovered ??= client
      .discovery(
        new URL(config.issuer),
        config.clientId,
        undefined,
        client.ClientSecretBasic(config.clientSecret),
        new URL(config.issuer).protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined,
      )
      .catch((error: unknown) => {
        discovered = undefined;
        throw error;
      });
    return discovered;
  };

  const sessionOf = (ctx: Context): Session | undefined => sessions.get(ctx.cookies.get(cookieName));
  const setSessionCookie = (ctx: Context, session: Session) => {
    ctx.cookies.set(cookieName, session.id, { httpOnly: true, sameSite: 'lax', secure, path: '/', overwrite: true });
  };
  const pageContext = (ctx: Context, path: string, session?: Session): PageContext => ({ system, identity: session?.user?.identity, csrf: session?.csrf, path });
  const html = (ctx: Context, status: number, body: string) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.set('cache-control', 'no-store');
    ctx.body = body;
  };

  /** The access token for the API, refreshed (with the resource) shortly before it expires. */
  async function accessToken(session: Session, user: SignedIn): Promise<string | undefined> {
    if (user.accessTokenExpiresAt - REFRESH_MARGIN_MS > Date.now()) return user.accessToken;
    if (!user.refreshToken) return undefined;
    try {
      const tokens = await client.refreshTokenGrant(await oidc(), user.refreshToken, { resource });
      // C-T5: a refreshed ID token carries the unit as it stands now (name, permissions, verification).
      let identity: IdTokenIdentity = user.identity;
      if (tokens.id_token) {
        const fresh = await verifier.verifyIdToken(tokens.id_token);
        if (fresh.subject !== user.identity.subject) return undefined;
        identity = fresh.sessionId || !user.identity.sessionId ? fresh : { ...fresh, sessionId: user.identity.sessionId };
      }
      session.user = {
        identity,
        idToken: tokens.id_token ?? user.idToken,
        accessToken: tokens.access_token,
        accessTokenExpiresAt: Date.now() + (tokens.expiresIn() ?? 60) * 1000,
        refreshToken: tokens.refresh_token ?? user.refreshToken,
      };
      return tokens.access_token;
    } catch (error) {
      log('refresh failed', { clientId: system.clientId, error: (error as Error).message });
      return undefined;
    }
  }

  async function callApi(section: DemoSection, token: string): Promise<{ status: number; result?: ApiResult }> {
    const response = await fetch(`${selfUrl}${section.apiPath}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { status: response.status };
    }
    return { status: 200, result: (await response.json()) as ApiResult };
  }

  const app = new Koa();
  const router = new Router();

  app.use(async (ctx, next) => {
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('x-frame-options', 'DENY');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set(
      'content-security-policy',
      `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' ${new URL(config.issuer).origin}; base-uri 'none'; frame-ancestors 'none'`,
    );
    try {
      await next();
    } catch (error) {
      if (error instanceof FormError) {
        ctx.status = 400;
        ctx.type = 'text';
        ctx.body = error.message;
        return;
      }
      log('request failed', { clientId: system.clientId, path: ctx.path, error: (error as Error).message });
      html(ctx, 500, messagePage(pageContext(ctx, '/'), '系统错误', '系统暂时无法处理您的请求，请稍后再试。'));
    }
  });

  router.get('/static/demo.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = STYLESHEET;
  });

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  // Starts a sign-in. `as=unit` asks the provider to pre-tick 以单位身份登录 (login_as=unit, C-T6); `switch=1`
  // shows the unit picker again within the SSO session (prompt=select_unit).
  router.get('/login', async (ctx) => {
    const returnTo = safeReturnPath(ctx.query.return, '/');
    let configuration: client.Configuration;
    try {
      configuration = await oidc();
    } catch (error) {
      log('discovery failed', { clientId: system.clientId, error: (error as Error).message });
      html(ctx, 503, messagePage(pageContext(ctx, returnTo), '暂时无法登录', '统一身份认证平台暂时无法访问，请稍后再试。', { retry: false }));
      return;
    }
    let session = sessionOf(ctx);
    if (!session) {
      session = sessions.create();
      setSessionCookie(ctx, session);
    }
    const codeVerifier = client.randomPKCECodeVerifier();
    const pending = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier, returnTo, createdAt: Date.now() };
    sessions.addPending(session, pending);
    const parameters: Record<string, string> = {
      redirect_uri: config.redirectUri,
      scope,
      resource,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
      ui_locales: 'zh-CN',
    };
    if (ctx.query.as === 'unit' || ctx.query.login_as === 'unit') parameters.login_as = 'unit';
    // The portal's deep link (issue 10): the unit the person acts for on the portal, passed on as unit_hint.
    if (typeof ctx.query.unit_hint === 'string' && UUID.test(ctx.query.unit_hint)) parameters.unit_hint = ctx.query.unit_hint;
    if (ctx.query.switch === '1') parameters.prompt = 'select_unit';
    ctx.redirect(client.buildAuthorizationUrl(configuration, parameters).href);
  });

  router.get('/callback', async (ctx) => {
    const session = sessionOf(ctx);
    const state = typeof ctx.query.state === 'string' ? ctx.query.state : '';
    const pending = session && state ? sessions.takePending(session, state) : undefined;
    if (!session || !pending) {
      html(ctx, 400, messagePage(pageContext(ctx, '/', session), '登录请求已失效', '登录请求已过期或已使用，请重新登录。'));
      return;
    }
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(
        await oidc(),
        new URL(ctx.search, config.redirectUri),
        { pkceCodeVerifier: pending.codeVerifier, expectedState: pending.state, expectedNonce: pending.nonce },
        { resource },
      );
    } catch (error) {
      if (error instanceof client.AuthorizationResponseError) {
        const cancelled = error.error === 'access_denied';
        html(ctx, 400, messagePage(pageContext(ctx, pending.returnTo, session), '登录未完成', cancelled ? '您已取消登录。' : `统一身份认证平台未完成登录（${error.error}）。`));
        return;
      }
      log('code exchange failed', { clientId: system.clientId, error: (error as Error).message });
      html(ctx, 502, messagePage(pageContext(ctx, pending.returnTo, session), '登录失败', '无法完成登录，请重新登录。'));
      return;
    }
    let identity: IdTokenIdentity;
    try {
      // The kit verifies the ID token's signature too (openid-client trusts the TLS channel for it).
      identity = await verifier.verifyIdToken(tokens.id_token ?? '', { nonce: pending.nonce });
    } catch (error) {
      log('ID token refused', { clientId: system.clientId, error: (error as Error).message, code: error instanceof RpError ? error.code : undefined });
      html(ctx, 502, messagePage(pageContext(ctx, pending.returnTo, session), '登录失败', '身份令牌验证失败，请重新登录。'));
      return;
    }
    const signedIn = sessions.signIn(session, {
      identity,
      idToken: tokens.id_token ?? '',
      accessToken: tokens.access_token,
      accessTokenExpiresAt: Date.now() + (tokens.expiresIn() ?? 60) * 1000,
      refreshToken: tokens.refresh_token,
    });
    setSessionCookie(ctx, signedIn);
    log('signed in', { clientId: system.clientId, sub: identity.subject, unit: identity.unit?.id });
    ctx.redirect(pending.returnTo);
  });

  router.post('/logout', async (ctx) => {
    const form = await readForm(ctx);
    const session = sessionOf(ctx);
    if (!session || !sameSecret(form.get('csrf') ?? '', session.csrf)) {
      html(ctx, 403, messagePage(pageContext(ctx, '/'), '请求已失效', '页面已过期，请刷新后重试。', { retry: false }));
      return;
    }
    const user = session.user;
    sessions.destroy(session.id);
    ctx.cookies.set(cookieName, '', { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: 0, overwrite: true });
    if (!user) {
      ctx.redirect('/');
      return;
    }
    // RP-initiated logout: the provider ends its session and notifies the other systems (back-channel).
    try {
      ctx.redirect(client.buildEndSessionUrl(await oidc(), { id_token_hint: user.idToken, post_logout_redirect_uri: postLogoutRedirectUri }).href);
    } catch {
      ctx.redirect('/');
    }
  });

  // OpenID Connect Back-Channel Logout 1.0: the provider POSTs a logout token when the person's provider session
  // ends (sign-out elsewhere, unbinding, password change); the matching local sessions end at once.
  router.post('/backchannel-logout', async (ctx) => {
    ctx.set('cache-control', 'no-store');
    let token: string | null;
    try {
      token = (await readForm(ctx)).get('logout_token');
    } catch (error) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: (error as Error).message };
      return;
    }
    try {
      const notice = await verifier.verifyLogoutToken(token ?? '');
      const ended = sessions.endMatching(notice);
      log('back-channel logout', { clientId: system.clientId, sub: notice.subject, sid: notice.sessionId, ended });
      ctx.status = 200;
      ctx.body = '';
    } catch (error) {
      if (!(error instanceof RpError)) throw error;
      log('logout token refused', { clientId: system.clientId, code: error.code });
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: error.message };
    }
  });

  for (const section of system.sections) {
    // The business API: a resource server that trusts nothing but the JWT access token (C-T4, S-9).
    router.get(section.apiPath, requireUnit(verifier, { scopes: [section.scope], realm: resource }), (ctx) => {
      const identity = identityOf(ctx);
      const unit = identity.unit!;
      ctx.set('cache-control', 'no-store');
      ctx.body = { records: sampleRecords(section, unit.id), handler: identity.subject, unit, scopes: identity.scopes } satisfies ApiResult;
    });

    router.get(section.path, async (ctx) => {
      const session = sessionOf(ctx);
      const user = session?.user;
      // A portal tile links here with login_as=unit&unit_hint=<unit id>: sign in for that unit unless already.
      const hint = typeof ctx.query.unit_hint === 'string' && UUID.test(ctx.query.unit_hint) ? ctx.query.unit_hint : undefined;
      if (hint && user?.identity.unit?.id !== hint) {
        ctx.redirect(`/login?as=unit&unit_hint=${encodeURIComponent(hint)}&return=${encodeURIComponent(section.path)}`);
        return;
      }
      const context = pageContext(ctx, section.path, session);
      if (!session || !user) {
        html(ctx, 200, signedOutPage(context, section, session ? undefined : sessions.takeEnded(ctx.cookies.get(cookieName))));
        return;
      }
      if (!user.identity.unit) {
        html(ctx, 403, unitRequiredPage(context, section));
        return;
      }
      if (!user.identity.unit.scopes.includes(section.scope)) {
        html(ctx, 403, forbiddenPage(context, section));
        return;
      }
      const token = await accessToken(session, user);
      if (!token) {
        sessions.destroy(session.id);
        html(ctx, 401, messagePage(pageContext(ctx, section.path), '登录已失效', '您的登录已失效（单位授权可能已变更），请重新登录。'));
        return;
      }
      const api = await callApi(section, token);
      const current = pageContext(ctx, section.path, session);
      if (api.status === 403) {
        html(ctx, 403, forbiddenPage(current, section));
      } else if (api.status === 401) {
        sessions.destroy(session.id);
        html(ctx, 401, messagePage(pageContext(ctx, section.path), '登录已失效', '访问令牌已失效，请重新登录。'));
      } else if (!api.result) {
        html(ctx, 502, messagePage(current, '业务接口暂时不可用', `业务接口返回 ${api.status}，请稍后再试。`, { retry: false }));
      } else {
        html(ctx, 200, businessPage(current, section, api.result, new Date(session.user!.accessTokenExpiresAt)));
      }
    });
  }

  app.use(router.routes());
  app.use(router.allowedMethods());

  const server = http.createServer(app.callback());
  server.requestTimeout = 30_000;
  const host = config.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  selfUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const sweeper = setInterval(() => sessions.sweep(), 60_000);
  sweeper.unref();
  return {
    url: origin,
    localUrl: selfUrl,
    sessions,
    verifier,
    async close() {
      clearInterval(sweeper);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
