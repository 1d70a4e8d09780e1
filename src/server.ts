import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadClients } from './config/clients.js';
import type { AppConfig } from './config/env.js';
import { createApp, type App } from './app.js';
import { openDatabase, migrate, assertSessionPooling, type Database } from './shared/db/database.js';
import { startMetricsServer, type MetricsServer } from './shared/http/metrics-endpoint.js';
import { startTracing } from './shared/tracing.js';
import type { Logger } from './shared/logger.js';
import { loadKeys } from './oidc/keys.js';
import { sweepExpired } from './oidc/adapter.js';
import { sweepSecondFactors } from './modules/mfa/sweep.js';
import { seedDemoData, type DemoSummary } from './modules/demo/seed.js';
import { nodeListener } from './shared/http/listener.js';

export interface RunningServer {
  url: string;
  app: App;
  db: Database;
  server: http.Server;
  /** The demo data seeded at start (development only), for the start banner. */
  demo?: DemoSummary;
  /** Client secrets generated for unset `env:` references (development only), for the start banner. */
  generatedSecrets: Record<string, string>;
  /** Stops accepting connections, lets in-flight requests finish, closes the database. */
  stop(graceMs?: number): Promise<void>;
}

/** Start sequence: clients.json → keys → database → migrations → app → listen; each step fails with one line. */
export async function startServer(config: AppConfig, logger: Logger): Promise<RunningServer> {
  const catalog = loadClients({ file: config.clientsFile, mode: config.mode, dataDir: config.dataDir });
  const keys = await loadKeys({ dir: config.certsDir, generate: config.keysAutoGenerate });
  const tracing = startTracing(config.tracing);
  if (keys.generated) logger.info({ certsDir: config.certsDir }, 'generated signing and cookie keys');
  const db = await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    poolMode: config.databasePoolMode,
    onPoolError: (error) => logger.warn({ err: error }, 'database connection lost'),
  });
  let server: http.Server | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let metricsServer: MetricsServer | undefined;
  let started: App | undefined;
  try {
    await assertSessionPooling(db);
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied database migrations');
    let draining = false;
    const app = createApp({ config, db, catalog, keys, logger, draining: () => draining });
    started = app;
    const demo = config.demoData ? await seedDemoData(app.services) : undefined;
    server = http.createServer(nodeListener(app.koa.callback()));
    server.requestTimeout = 30_000;
    server.headersTimeout = 20_000;
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(config.port, config.host, () => resolve());
    });
    app.worker.start();
    let sweeping = false;
    sweeper = setInterval(() => {
      // A sweep still working through a backlog (paced: SWEEP_PAUSE_MS) is not joined by a second one.
      if (sweeping) return;
      sweeping = true;
      (async () => {
        const ended = await app.services.bindings.processExpired();
        if (ended > 0) logger.info({ ended }, 'ended bindings past their validity period');
        const removed = await sweepExpired(db, new Date(), config.sweep.batchSize, config.sweep.pauseMs);
        if (removed > 0) logger.debug({ removed }, 'swept expired provider artefacts');
        await app.services.unitGrants.sweep();
        await app.services.jobs.sweep();
        await sweepSecondFactors(db);
      })()
        .catch((error: unknown) => logger.warn({ err: error }, 'periodic sweep failed'))
        .finally(() => {
          sweeping = false;
        });
    }, config.sweepIntervalSeconds * 1000);
    sweeper.unref();
    if (config.metrics?.port !== undefined) {
      metricsServer = await startMetricsServer({ ...config.metrics, port: config.metrics.port });
      logger.info({ metrics: `${metricsServer.url}/metrics`, token: config.metrics.token !== undefined }, 'metrics listener ready');
    }
    const { port } = listening.address() as AddressInfo;
    // The demo password and generated client secrets are not logged: the start banner (src/banner.ts) shows them.
    if (demo) logger.info({ persons: demo.persons, operator: demo.operator, units: demo.units }, 'demo data ready (development only)');
    logger.info({ issuer: config.issuer, port, database: db.kind, mode: config.mode }, `ready: ${config.issuer}/.well-known/openid-configuration`);
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
      app,
      db,
      server: listening,
      demo,
      generatedSecrets: catalog.generatedSecrets,
      stop(graceMs = 10_000) {
        stopping ??= (async () => {
          draining = true;
          if (config.shutdownDrainSeconds > 0) {
            logger.info({ seconds: config.shutdownDrainSeconds }, 'draining: readiness fails, requests are still served');
            await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainSeconds * 1000));
          }
          clearInterval(sweeper);
          await app.worker.stop();
          await new Promise<void>((resolve) => {
            const force = setTimeout(() => listening.closeAllConnections(), graceMs);
            force.unref();
            listening.close(() => {
              clearTimeout(force);
              resolve();
            });
            listening.closeIdleConnections();
          });
          await metricsServer?.close();
          await db.close();
          await tracing.shutdown(); // exports the spans still buffered
        })();
        return stopping;
      },
    };
  } catch (error) {
    clearInterval(sweeper);
    await started?.worker.stop();
    server?.close();
    await metricsServer?.close();
    await db.close();
    await tracing.shutdown();
    throw error;
  }
}
