import Provider, { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Middleware } from 'koa';
import type { AppConfig } from '../config/env.js';
import { BASE_SCOPES, type ClientCatalog } from '../config/clients.js';
import type { Database } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import { isDatabaseUnavailable, isUnstorableInput } from '../shared/errors.js';
import { translate, isMessageKey, type Locale } from '../shared/i18n/index.js';
import { renderTemplate } from '../shared/http/views.js';
import { state } from '../shared/http/middleware.js';
import { createAdapter } from './adapter.js';
import { TOKEN_READS } from './token-reads.js';
import type { KeyMaterial } from './keys.js';
import type { Services } from '../services.js';
import { activeAccount, createFindAccount, tokenRequestUnitAccess } from './accounts.js';
import { tokenUnitScopes, unitAccessForGrant, unitTokenClaims } from '../modules/bindings/access.js';
import { parseAccountId } from '../shared/account-id.js';
import { buildPolicy } from './policy.js';
import { createLoadExistingGrant } from './grants.js';
import { addIntrospectionClaims } from './library-internals.js';
import { CONSOLE_CLIENT_ID, consoleClientMetadata } from './console-client.js';
import { logoutSource, postLogoutSuccessSource } from './pages.js';
import { metrics } from '../shared/metrics.js';
import { ACR_VALUES } from './assurance.js';
import { assertAcrOnlyClaims, type NeedsMfa } from './step-up.js';
import { unitForAuthorization, unitInForce, type UnitSelectionDeps } from './unit-selection.js';

/** The provider type for the composition root (`src/app.ts`), which does not import oidc-provider itself. */
export type { Provider };

/** Lifetimes of every artefact, in seconds (PRODUCT.md §6, S-3, S-7). */
export const TTL = {
  AuthorizationCode: 60,
  AccessToken: 10 * 60,
  /** JWT access tokens for a resource server carry unit claims: short, since they cannot be revoked. */
  ResourceAccessToken: 5 * 60,
  ClientCredentials: 10 * 60,
  IdToken: 60 * 60,
  Interaction: 15 * 60,
  Session: 8 * 60 * 60,
  /** Sliding lifetime of one refresh token … */
  RefreshToken: 14 * 24 * 60 * 60,
  /** … within an absolute lifetime of the chain of rotated refresh tokens and of the grant. */
  RefreshTokenAbsolute: 30 * 24 * 60 * 60,
} as const;

export const CLAIMS = {
  // acr and amr (issue #18): how the person signed in, in every ID token (from the session, not the account).
  openid: ['sub', 'acr', 'amr'],
  profile: ['name', 'preferred_username', 'updated_at', 'realname_verified'],
  phone: ['phone_number', 'phone_number_verified'],
  unit: ['unit_id', 'unit_name', 'unit_cert_type', 'unit_cert_no', 'unit_verified', 'unit_role', 'unit_scopes', 'unit_mfa_required'],
} as const;

export interface ProviderDeps {
  config: AppConfig;
  db: Database;
  catalog: ClientCatalog;
  keys: KeyMaterial;
  logger: Logger;
  services: Pick<Services, 'catalog' | 'persons' | 'units' | 'operators' | 'bindings' | 'unitGrants' | 'unitMfa'>;
}

function localeOf(ctx: KoaContextWithOIDC): Locale {
  return state(ctx).locale ?? 'zh-CN';
}

/** The error page of the provider: translated, no internals, 503 when the database is the cause. */
const errorPage = (catalog: ClientCatalog) =>
  async function renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }, error: Error): Promise<void> {
    const locale = localeOf(ctx);
    const key = `error.oidc.${out.error}`;
    const unavailable = isDatabaseUnavailable(error);
    if (unavailable) {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
    }
    const message = unavailable ? translate(locale, 'error.unavailable') : translate(locale, isMessageKey(key) ? key : 'error.oidc.default');
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    // 返回业务系统: only to an address the client registered (its business's portal, else its post-logout URI),
    // never to one taken from the failed request.
    const client = ctx.oidc?.client;
    const registered = client && catalog.client(client.clientId);
    const business = registered && catalog.businesses.find((entry) => entry.code === registered.business);
    const rpUrl = business?.portalUrl ?? client?.postLogoutRedirectUris?.[0];
    const signIn = out.error === 'session_not_found' || out.error === 'login_required';
    ctx.body = renderTemplate('error.njk', locale, {
      message,
      requestId: state(ctx).requestId,
      rpUrl,
      signIn,
      languageSwitch: `/lang?to=${locale === 'en' ? 'zh-CN' : 'en'}&return=/`,
    });
  };

/**
 * Outgoing requests (back-channel logout) go only to URIs an operator registered in clients.json, so hosts on
 * private networks, where government systems usually live, are allowed for those; anything else keeps the
 * library's protection against requests to special-use addresses.
 */
function fetchForRegisteredClients(catalog: ClientCatalog): Configuration['fetch'] {
  const trusted = new Set(
    catalog.clients.flatMap((client) => {
      const uri = client.metadata.backchannel_logout_uri;
      return typeof uri === 'string' ? [new URL(uri).origin] : [];
    }),
  );
  return (url, options) => {
    const target = new URL(url);
    const init = { ...options } as RequestInit & { dispatcher?: unknown };
    if (trusted.has(target.origin)) delete init.dispatcher;
    return fetch(url, init);
  };
}

/**
 * Per-business and per-unit policy (issue #18): a request needs multi-factor when its client is registered for a
 * business with clients.json `requiresMfa`, asks for such a business's scope, or is for a unit whose console
 * requires it of its handlers.
 */
function policyNeedsMfa(catalog: ClientCatalog, services: Pick<Services, 'unitMfa' | 'bindings'> & UnitSelectionDeps): NeedsMfa {
  const strict = catalog.businesses.filter((business) => business.requiresMfa);
  const codes = new Set(strict.map((business) => business.code));
  const scopes = new Set(strict.map((business) => business.scope));
  return async (ctx) => {
    const registered = catalog.client(ctx.oidc.client?.clientId);
    if (registered?.business && codes.has(registered.business)) return true;
    if (
      String(ctx.oidc.params?.scope ?? '')
        .split(' ')
        .some((scope) => scopes.has(scope))
    )
      return true;
    const unitId = await unitForAuthorization(ctx, services);
    if (typeof unitId !== 'string') return false;
    // A person's unit: its policy read with the binding that loadExistingGrant checks in this request (issue #15).
    const person = parseAccountId(ctx.oidc.session?.accountId);
    if (person?.kind === 'person') return (await unitInForce(ctx, services, person.id, unitId)).unit?.mfaRequired ?? false;
    return services.unitMfa.required(unitId);
  };
}

export function buildConfiguration(deps: ProviderDeps): Configuration {
  const { catalog, keys, db, config, services } = deps;
  const businessScopes = catalog.businesses.map((business) => business.scope);
  /** The resource indicators of the businesses a client is registered for (its biz: scopes, C-T8). */
  const resourcesOf = (clientScope: string | undefined) => {
    const registered = new Set((clientScope ?? '').split(' '));
    return new Set(catalog.businesses.flatMap((business) => (business.resource && registered.has(business.scope) ? [business.resource] : [])));
  };
  const firstParty = new Set([CONSOLE_CLIENT_ID, ...catalog.clients.filter((client) => client.firstParty).map((client) => client.clientId)]);
  const configuration: Configuration = {
    adapter: createAdapter(db, {
      refreshReuseSeconds: config.refreshReuseSeconds,
      tokenReads: TOKEN_READS,
      afterRefreshConsumed:
        config.testHoldTokenCommitMs > 0
          ? async () => {
              deps.logger.warn({ holdMs: config.testHoldTokenCommitMs }, 'test hook: refresh token consumed, holding before the save');
              await new Promise((resolve) => setTimeout(resolve, config.testHoldTokenCommitMs));
            }
          : undefined,
    }),
    clients: [...catalog.clients.map((client) => client.metadata), consoleClientMetadata(config.issuer)] as unknown as Configuration['clients'],
    jwks: keys.jwks as Configuration['jwks'],
    cookies: {
      keys: keys.cookieKeys,
      long: { httpOnly: true, sameSite: config.authorizationPost ? 'none' : 'lax', signed: true },
      short: { httpOnly: true, sameSite: config.authorizationPost ? 'none' : 'lax', signed: true },
    },
    scopes: [...BASE_SCOPES, ...businessScopes],
    claims: { ...CLAIMS } as unknown as Configuration['claims'],
    conformIdTokenClaims: false,
    acrValues: [...ACR_VALUES],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    enableHttpPostMethods: config.authorizationPost,
    extraParams: ['login_as', 'unit_hint', 'console', 'reauth'],
    discovery: { ui_locales_supported: ['zh-CN', 'en'], claims_locales_supported: ['zh-CN'], service_documentation: `${config.issuer}/docs` },
    features: {
      devInteractions: { enabled: false },
      // For an essential acr only (issue #18); every other member is refused.
      claimsParameter: { enabled: true, assertClaimsParameter: assertAcrOnlyClaims as never },
      // A client may introspect or revoke only what was issued to it. Introspection answers from current data
      // (C-T5, S-41): a disabled person or a binding no longer in force makes the token inactive, and the unit
      // claims are those of now.
      introspection: {
        enabled: true,
        allowedPolicy: async (_ctx, client, introspected) => {
          if (introspected.clientId !== client.clientId) return false;
          const token = introspected as typeof introspected & { accountId?: string; grantId?: string; scope?: string; extra?: Record<string, unknown> };
          const ref = parseAccountId(token.accountId);
          if (!ref) return !token.accountId;
          if (ref.kind !== 'person') return false;
          const person = await activeAccount(services, 'person', ref.id);
          if (!person) return false;
          const access = await unitAccessForGrant(services, person.id, token.grantId);
          if (access === null) return false;
          if (access) addIntrospectionClaims(token, { ...unitTokenClaims(access), unit_scopes: tokenUnitScopes(access, token.scope) });
          return true;
        },
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId !== client.clientId) throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
          return true;
        },
      },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
      // C-T4: a business system's API is a resource server; tokens for it are RFC 9068 JWTs carrying only the
      // business scopes the unit grants now (at the authorization endpoint: what the resource offers at all).
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: async (ctx, resource, client) => {
          // C-T8: only the resource of a business the client is registered for (its biz: scopes in clients.json).
          const registered = new Set((client.scope ?? '').split(' '));
          const offered = catalog.businesses.filter((business) => business.resource === resource && registered.has(business.scope)).map((business) => business.scope);
          if (offered.length === 0) throw new errors.InvalidTarget('the resource is not one of the businesses this client is registered for');
          // At the token endpoint, once the request's account is known: only what the unit grants now.
          const account = ctx.oidc.route === 'token' ? ctx.oidc.entities.Account : undefined;
          const access = account ? await tokenRequestUnitAccess(ctx, services, account.accountId, ctx.oidc.entities.Grant?.jti) : undefined;
          const scope = account ? offered.filter((entry) => access?.allowed.includes(entry)).join(' ') : offered.join(' ');
          return { scope, audience: resource, accessTokenFormat: 'jwt', accessTokenTTL: TTL.ResourceAccessToken, jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    // Always rotate (S-7). The library consumes the refresh token before it looks at `resource`, so a refused
    // resource is checked here, before that: a request for another business's API is invalid_target and leaves
    // the refresh token as it was (issue 10, S-55).
    rotateRefreshToken: (ctx) => {
      const asked = ctx.oidc.params?.resource;
      const resources = asked === undefined ? [] : Array.isArray(asked) ? (asked as string[]) : [String(asked)];
      const granted = ctx.oidc.entities.Grant?.resources ?? {};
      for (const resource of resources) {
        if (!resourcesOf(ctx.oidc.client?.scope).has(resource) || !(resource in granted)) {
          throw new errors.InvalidTarget('the resource is not one of the businesses this client is registered for');
        }
      }
      return true;
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AuthorizationCode: TTL.AuthorizationCode,
      AccessToken: (_ctx, token) => (token.resourceServer ? TTL.ResourceAccessToken : TTL.AccessToken),
      ClientCredentials: (_ctx, token) => (token.resourceServer ? TTL.ResourceAccessToken : TTL.ClientCredentials),
      IdToken: TTL.IdToken,
      Interaction: TTL.Interaction,
      Session: TTL.Session,
      Grant: TTL.RefreshTokenAbsolute,
      RefreshToken: (_ctx, token) => Math.max(1, Math.min(TTL.RefreshToken, TTL.RefreshTokenAbsolute - token.totalLifetime())),
    },
    renderError: errorPage(deps.catalog) as Configuration['renderError'],
    findAccount: createFindAccount(services),
    loadExistingGrant: createLoadExistingGrant(services, (clientId) => firstParty.has(clientId)),
    extraTokenClaims: async (ctx, token) => {
      if (!('grantId' in token) || !token.grantId) return undefined;
      const access = await tokenRequestUnitAccess(ctx, services, token.accountId, token.grantId);
      return access ? unitTokenClaims(access) : undefined;
    },
    interactions: {
      policy: buildPolicy(services, (clientId) => catalog.client(clientId)?.accountKind, policyNeedsMfa(catalog, services)),
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    fetch: fetchForRegisteredClients(catalog),
  };
  return configuration;
}

const CLIENT_AUTH_ROUTES = new Set(['token', 'introspection', 'revocation']);

/**
 * RFC 6749 §5.2: a request that includes no client authentication at all is `invalid_client` (401), which the
 * library reports as invalid_request (400). Mounted by the app inside the request log and the HTTP metrics, so
 * both record the status the client receives.
 */
export function invalidClientRewrite(): Middleware {
  return async (ctx, next) => {
    await next();
    const body = ctx.body as { error?: string; error_description?: string } | undefined;
    const route = (ctx as unknown as KoaContextWithOIDC).oidc?.route;
    if (
      ctx.status === 400 &&
      body?.error === 'invalid_request' &&
      CLIENT_AUTH_ROUTES.has(route ?? '') &&
      body.error_description === 'no client authentication mechanism provided'
    ) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Basic realm="token"');
      ctx.body = { error: 'invalid_client', error_description: 'client authentication is required' };
    }
  };
}

/** Builds the provider. It is itself the Koa application; our middleware is added with `provider.use`. */
export function createProvider(deps: ProviderDeps): Provider {
  const provider = new Provider(deps.config.issuer, buildConfiguration(deps));
  // X-Forwarded-Proto/Host count only behind a trusted proxy; the client IP is set by clientAddress() (S-36).
  provider.proxy = deps.config.trustProxy !== false;
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    metrics.tokenIssued(String(ctx.oidc.params?.grant_type ?? 'unknown'), ctx.oidc.client?.clientId ?? 'unknown');
  });
  provider.on('backchannel.success', (_ctx: KoaContextWithOIDC, client: { clientId: string }) => metrics.backchannelLogout(client.clientId, true));
  provider.on('backchannel.error', (_ctx: KoaContextWithOIDC, _error: Error, client: { clientId: string }) => metrics.backchannelLogout(client.clientId, false));
  provider.on('server_error', (ctx: KoaContextWithOIDC, error: Error) => {
    const s = state(ctx);
    if (isUnstorableInput(error)) {
      s.badInput = true;
      return;
    }
    if (isDatabaseUnavailable(error)) {
      s.databaseUnavailable = true;
      s.log?.error({ err: error }, 'database unavailable');
    } else {
      (s.log ?? deps.logger).error({ err: error }, 'provider server error');
    }
  });
  return provider;
}
