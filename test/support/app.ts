import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { loadConfig, type AppConfig } from '../../src/config/env.js';
import { loadClients, type ClientCatalog } from '../../src/config/clients.js';
import { createApp, type App } from '../../src/app.js';
import { loadKeys } from '../../src/oidc/keys.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';
import { nodeListener } from '../../src/shared/http/listener.js';
import type { Database } from '../../src/shared/db/database.js';
import { createTestDatabase, type TestDatabase } from './database.js';
import { testClientsFile } from './fixtures.js';

export interface TestApp {
  url: string;
  issuer: string;
  app: App;
  db: Database;
  config: AppConfig;
  catalog: ClientCatalog;
  dir: string;
  close(): Promise<void>;
}

export interface TestAppOptions {
  clients?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Reuse a database (e.g. to simulate a second instance); otherwise a fresh one is created and dropped. */
  database?: TestDatabase;
  /** Reuse a directory holding certs/ (e.g. to share keys between instances). */
  dir?: string;
  /** The issuer's host name (default 127.0.0.1); `localhost` where a browser needs a domain, e.g. as WebAuthn RP ID. */
  issuerHost?: string;
  /** Where the application logs (a test reading the request log); by default the configured level on stdout. */
  logger?: Logger;
}

/** Serves the real application on 127.0.0.1 on a free port, with its own database, keys and clients. */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'uop-app-'));
  const clientsFile = path.join(dir, 'clients.json');
  fs.writeFileSync(clientsFile, JSON.stringify(options.clients ?? testClientsFile()));
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${options.issuerHost ?? '127.0.0.1'}:${port}`;
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    ISSUER: issuer,
    CERTS_DIR: path.join(dir, 'certs'),
    CLIENTS_FILE: clientsFile,
    DATA_DIR: path.join(dir, 'data'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // The job worker polls often and retries soon, so tests see deliveries (and parked jobs) quickly.
    JOB_POLL_MS: '50',
    JOB_RETRY_BASE_MS: '20',
    ...options.env,
  });
  let database: TestDatabase | undefined;
  let app: App;
  try {
    database = options.database ?? (await createTestDatabase());
    const catalog = loadClients({ file: clientsFile, mode: config.mode, dataDir: config.dataDir });
    const keys = await loadKeys({ dir: config.certsDir, generate: true });
    app = createApp({ config, db: database.db, catalog, keys, logger: options.logger ?? createLogger(config.logLevel) });
  } catch (error) {
    // A failed start must not leave a server (or a database) behind that keeps jest running.
    server.close();
    if (database && !options.database) await database.drop();
    throw error;
  }
  handler = nodeListener(app.koa.callback());
  app.worker.start();
  const { catalog } = app.services;
  return {
    url: issuer,
    issuer,
    app,
    db: database.db,
    config,
    catalog,
    dir,
    async close() {
      await app.worker.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (!options.database) await database.drop();
      if (!options.dir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
