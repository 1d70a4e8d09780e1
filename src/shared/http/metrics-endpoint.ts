import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from '@koa/router';
import type { MetricsConfig } from '../../config/env.js';
import { scrape } from '../metrics.js';

/** Constant-time check of `Authorization: Bearer <token>`; no token configured means no check. */
function authorized(header: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header ?? '');
  if (!match?.[1]) return false;
  const given = crypto.createHash('sha256').update(match[1]).digest();
  return crypto.timingSafeEqual(given, crypto.createHash('sha256').update(token).digest());
}

const CHALLENGE = 'Bearer realm="metrics"';

/** `/metrics` on the public listener, only when a token is configured and no metrics port is (see env.ts). */
export function publicMetricsRoutes(config: MetricsConfig | undefined): Router {
  const router = new Router();
  if (!config?.token || config.port !== undefined) return router;
  const { token } = config;
  router.get('/metrics', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (!authorized(ctx.get('Authorization') || undefined, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', CHALLENGE);
      ctx.body = { error: 'unauthorized', message: 'metrics require Authorization: Bearer <METRICS_TOKEN>' };
      return;
    }
    const { contentType, body } = await scrape();
    ctx.type = contentType;
    ctx.body = body;
  });
  return router;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** The metrics listener of its own (METRICS_PORT): `GET /metrics` only, the token required when configured. */
export async function startMetricsServer(config: MetricsConfig & { port: number }): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: GET /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (!authorized(req.headers.authorization, config.token)) {
      res.writeHead(401, { 'www-authenticate': CHALLENGE, 'content-type': 'text/plain; charset=utf-8' }).end('metrics require Authorization: Bearer <METRICS_TOKEN>\n');
      return;
    }
    scrape().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n'),
    );
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
