import { WEBHOOK_JOB, webhookHandler } from './modules/webhooks/events.js';
import { Router } from '@koa/router';
import serve from 'koa-static';
import mount from 'koa-mount';
import type { AppConfig } from './config/env.js';
import type { ClientCatalog } from './config/clients.js';
import type { Database } from './shared/db/database.js';
import type { Logger } from './shared/logger.js';
import type { Notifier } from './shared/notifier/notifier.js';
import type { KeyMaterial } from './oidc/keys.js';
import { createProvider, invalidClientRewrite, type Provider } from './oidc/provider.js';
import { errorBoundary, rememberLocale, requestContext, securityHeaders } from './shared/http/middleware.js';
import { clientAddress } from './shared/http/client-ip.js';
import { healthRoutes } from './shared/http/health.js';
import { publicMetricsRoutes } from './shared/http/metrics-endpoint.js';
import { httpMetrics, metrics, routeOf } from './shared/metrics.js';
import { tracingMiddleware } from './shared/tracing.js';
import { signingKeyDates } from './oidc/keys.js';
import { safeReturnPath } from './shared/http/forms.js';
import { matchLocale } from './shared/i18n/index.js';
import { PUBLIC_DIR } from './shared/paths.js';
import './form-dtos.js';
import { createServices, type AllServices } from './services.js';
import { consoleAuth } from './interactions/console.js';
import { interactionRoutes } from './interactions/routes.js';
import { personRoutes } from './modules/persons/routes.js';
import { accountRoutes } from './modules/account/routes.js';
import { secondFactorRoutes, webAuthnScriptRoutes } from './modules/mfa/routes.js';
import { unitMfaPolicyRoutes } from './modules/mfa/unit-policy-routes.js';
import { operatorRoutes } from './modules/operators/routes.js';
import { unitRoutes } from './modules/units/routes.js';
import { recoveryRoutes } from './modules/recovery/routes.js';
import { appealOperatorRoutes } from './modules/recovery/operator-routes.js';
import { portalRoutes } from './modules/portal/routes.js';
import { siteRoutes } from './modules/site/routes.js';
import { apiRoutes } from './modules/api/routes.js';
import { bearerAuth } from './oidc/bearer.js';
import { activeAccount } from './oidc/accounts.js';
import { backchannelLogoutHandler, BACKCHANNEL_LOGOUT_JOB, logoutJobs } from './oidc/backchannel.js';
import { JobWorker } from './modules/jobs/worker.js';
import { jobRoutes } from './modules/jobs/routes.js';
import { atomicTokenRequests } from './oidc/token-requests.js';
import { requestReadsFor } from './oidc/token-reads.js';
import compose from 'koa-compose';
import type { Middleware } from 'koa';
import { DECOY_JOB, NOTIFICATION_JOB } from './shared/notifier/queued.js';
import { HttpIdentityVerifier, IDENTITY_VERIFICATION_JOB, identityVerificationHandler } from './modules/persons/identity-verification.js';

export interface AppDeps {
  config: AppConfig;
  db: Database;
  catalog: ClientCatalog;
  keys: KeyMaterial;
  logger: Logger;
  /** The outside world (SMS, e-mail); the development outbox when not given. */
  notifier?: Notifier;
  now?: () => Date;
  /** True once a shutdown began (readiness then fails while requests are still served). */
  draining?: () => boolean;
}

export interface App {
  /** The Koa application to serve (node-oidc-provider's Provider is a Koa application). */
  koa: Provider;
  provider: Provider;
  services: AllServices;
  /** Delivers the job queue (S-56); started by the server (and by the test harness), never by the admin CLI. */
  worker: JobWorker;
}

/** `/lang?to=en&return=/path`: the language switch; the choice is kept in a cookie for a year. */
function languageRoutes(): Router {
  const router = new Router();
  router.get('/lang', (ctx) => {
    const locale = matchLocale(typeof ctx.query.to === 'string' ? ctx.query.to : undefined) ?? 'zh-CN';
    rememberLocale(ctx, locale);
    ctx.redirect(safeReturnPath(ctx.query.return, '/'));
  });
  return router;
}

/** Our routes whose path is one the provider answers alone (`exact`, or under `prefix`): they could never be reached. */
export function routesOnProviderPaths(routers: readonly { stack: readonly { path: string | RegExp }[] }[], exact: ReadonlySet<string>, prefix: string): string[] {
  return routers
    .flatMap((router) => router.stack.map((layer) => layer.path))
    .filter((path): path is string => typeof path === 'string' && (exact.has(path) || path.startsWith(prefix)));
}

/**
 * Wires the application without listening (tests serve it themselves). Middleware order: metrics → trace span →
 * request context →
 * security headers → error boundary → invalid_client rewrite → static files → our routes → the provider's own routes.
 */
export function createApp(deps: AppDeps): App {
  const services = createServices({
    config: deps.config,
    db: deps.db,
    catalog: deps.catalog,
    dataKey: deps.keys.dataKey,
    logger: deps.logger,
    notifier: deps.notifier,
    now: deps.now,
  });
  const provider = createProvider({ ...deps, services });
  const idv = deps.config.identityVerification;
  const worker = new JobWorker(
    services.jobs,
    {
      [BACKCHANNEL_LOGOUT_JOB]: backchannelLogoutHandler(provider),
      [NOTIFICATION_JOB]: services.notifier.handler(),
      [DECOY_JOB]: async () => undefined,
      [WEBHOOK_JOB]: webhookHandler(deps.catalog, deps.config.jobs.webhookTimeoutMs),
      // R-P2: without IDV_URL no such job is written; one left from an earlier configuration waits for the counter.
      ...(idv
        ? {
            [IDENTITY_VERIFICATION_JOB]: identityVerificationHandler({
              db: deps.db,
              secrets: services.secrets,
              audit: services.audit,
              verifier: new HttpIdentityVerifier({ ...idv, now: deps.now }),
              now: deps.now,
            }),
          }
        : {}),
    },
    deps.logger,
    { pollMs: deps.config.jobs.pollMs },
  );
  // RP-initiated logout: the library notifies the RPs itself, in the request; one that fails is queued for retries.
  provider.on('backchannel.error', (_ctx: unknown, error: Error, client: { clientId: string }, sub: string, sid: string) => {
    deps.logger.warn({ clientId: client.clientId, err: error }, 'back-channel logout failed; queued for retry');
    deps.db
      .transaction((tx) => services.jobs.enqueue(tx, logoutJobs([{ clientId: client.clientId, sub, sid }])))
      .catch((queueError: unknown) => deps.logger.error({ err: queueError, clientId: client.clientId }, 'back-channel logout could not be queued'));
  });
  const { routes: consoleRoutes, requireAccount, currentAccount } = consoleAuth(provider, deps.config.issuer);

  provider.use(clientAddress(deps.config.trustProxy));
  metrics.registerSigningKeys(() => signingKeyDates(deps.config.certsDir, deps.keys.jwks.keys));
  provider.use(httpMetrics());
  provider.use(tracingMiddleware(routeOf));
  provider.use(requestContext(deps.logger));
  provider.use(securityHeaders(new URL(deps.config.issuer).protocol === 'https:'));
  provider.use(errorBoundary());
  provider.use(invalidClientRewrite());
  provider.use(atomicTokenRequests(deps.db, provider.pathFor('token')));
  provider.use(requestReadsFor([provider.pathFor('introspection'), provider.pathFor('userinfo')]));
  provider.use(mount('/static', serve(PUBLIC_DIR, { maxage: 60 * 60 * 1000, gzip: false, brotli: false })));
  const routers = [
    healthRoutes(deps.db, deps.draining),
    publicMetricsRoutes(deps.config.metrics),
    languageRoutes(),
    siteRoutes(services),
    consoleRoutes,
    interactionRoutes(provider, services),
    personRoutes(services),
    webAuthnScriptRoutes(),
    secondFactorRoutes(services, requireAccount),
    accountRoutes(services, requireAccount),
    operatorRoutes(services, requireAccount),
    unitMfaPolicyRoutes(services, requireAccount),
    unitRoutes(services, requireAccount),
    recoveryRoutes(services, requireAccount),
    appealOperatorRoutes(services, requireAccount),
    jobRoutes(services, requireAccount),
    portalRoutes(services, currentAccount),
    apiRoutes(
      services,
      bearerAuth(provider, deps.config.reauthSeconds, async (kind, id) => (await activeAccount(services, kind, id)) !== undefined),
    ),
  ];
  // The provider's own token and authorization endpoints are none of these routes: their requests skip the routers'
  // path matching (issue #15, Q-P2 and Q-P1: CPU per request); every other request goes through them as before.
  const providerOnly = new Set((['token', 'introspection', 'revocation', 'userinfo', 'jwks', 'authorization'] as const).map((route) => provider.pathFor(route)));
  // The authorization endpoint's resume (`/auth/:uid`), twice in every sign-in (issue #15, Q-P1), likewise.
  const resumePrefix = `${provider.pathFor('authorization')}/`;
  // So a route of ours on one of those paths is never silently unreachable: the start refuses it.
  const shadowed = routesOnProviderPaths(routers, providerOnly, resumePrefix);
  if (shadowed.length) throw new Error(`routes on paths the provider answers alone: ${shadowed.join(', ')}`);
  const appRoutes = compose(routers.flatMap((router) => [router.routes(), router.allowedMethods()])) as unknown as Middleware;
  provider.use((ctx, next) => (providerOnly.has(ctx.path) || ctx.path.startsWith(resumePrefix) ? next() : appRoutes(ctx, next)));
  return { koa: provider, provider, services, worker };
}
