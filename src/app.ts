import type Provider from 'oidc-provider';
import serve from 'koa-static';
import mount from 'koa-mount';
import type { AppConfig } from './config/env.js';
import type { ClientCatalog } from './config/clients.js';
import type { Database } from './shared/db/database.js';
import type { Logger } from './shared/logger.js';
import type { KeyMaterial } from './oidc/keys.js';
import { createProvider } from './oidc/provider.js';
import { errorBoundary, requestContext, securityHeaders } from './shared/http/middleware.js';
import { healthRoutes } from './shared/http/health.js';
import { PUBLIC_DIR } from './shared/paths.js';

export interface AppDeps {
  config: AppConfig;
  db: Database;
  catalog: ClientCatalog;
  keys: KeyMaterial;
  logger: Logger;
}

export interface App {
  /** The Koa application to serve (node-oidc-provider's Provider is a Koa application). */
  koa: Provider;
  provider: Provider;
}

/**
 * Wires the application without listening (tests serve it themselves). Middleware order: request context →
 * security headers → error boundary → our routes → the provider's own routes.
 */
export function createApp(deps: AppDeps): App {
  const provider = createProvider(deps);
  provider.use(requestContext(deps.logger));
  provider.use(securityHeaders(new URL(deps.config.issuer).protocol === 'https:'));
  provider.use(errorBoundary());
  provider.use(mount('/static', serve(PUBLIC_DIR, { maxage: 60 * 60 * 1000, gzip: false, brotli: false })));
  const health = healthRoutes(deps.db);
  provider.use(health.routes());
  provider.use(health.allowedMethods());
  return { koa: provider, provider };
}
