import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadKeys } from '../../src/oidc/keys.js';
import { openDatabase } from '../../src/shared/db/database.js';
import { startTestApp, type TestApp } from './app.js';
import { testClient, testClientsFile, TEST_SECRET } from './fixtures.js';
import { startHaproxy, type Haproxy } from './haproxy.js';
import { freePort, startServerProcess, type ServerProcess } from './process.js';

export const CC_CLIENT = { clientId: 'cc-rp', secret: `${TEST_SECRET}-cc` } as const;
export const METRICS_TOKEN = 'cluster-metrics-token-0123456789';

export interface Instance {
  name: string;
  port: number;
  metricsPort: number;
  process: ServerProcess | undefined;
}

export interface Cluster {
  dir: string;
  certsDir: string;
  balancer: Haproxy;
  instances: Instance[];
  /** An in-process app on the same database (not behind the balancer), for the test's own set-up (persons). */
  helper: TestApp;
  env: Record<string, string>;
  start(instance: Instance): Promise<void>;
  /** SIGTERM (graceful), wait for the exit and for the balancer to notice, start again, wait until it is UP. */
  restart(instance: Instance): Promise<void>;
  close(): Promise<void>;
}

/**
 * Three provider processes (the built server, as `npm start` runs it) on one PostgreSQL database behind Debian's
 * HAProxy, started together on the empty database (so they race for the migrations), sharing certs/ and
 * clients.json as the deployment shares a Secret and a ConfigMap.
 */
export async function startCluster(options: { databaseUrl: string; env?: Record<string, string> }): Promise<Cluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-cluster-'));
  const certsDir = path.join(dir, 'certs');
  await loadKeys({ dir: certsDir, generate: true });
  const clients = testClientsFile([
    testClient(),
    testClient({ client_id: CC_CLIENT.clientId, client_secret: CC_CLIENT.secret, grant_types: ['client_credentials'], scopes: ['openid'], redirect_uris: ['http://rp.test/cc'] }),
  ]);
  fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(clients));
  const instances: Instance[] = [];
  for (const name of ['i1', 'i2', 'i3']) instances.push({ name, port: await freePort(), metricsPort: await freePort(), process: undefined });
  const balancer = await startHaproxy(dir, instances);
  const env: Record<string, string> = {
    ISSUER: balancer.url,
    DATABASE_URL: options.databaseUrl,
    DATABASE_POOL_SIZE: '4',
    CERTS_DIR: certsDir,
    CLIENTS_FILE: path.join(dir, 'clients.json'),
    KEYS_AUTO_GENERATE: 'false',
    DEMO_DATA: 'false',
    HASH_CONCURRENCY: '1',
    LOG_LEVEL: 'warn',
    METRICS_TOKEN,
    SHUTDOWN_DRAIN_SECONDS: '1',
    ...options.env,
  };
  const start = async (instance: Instance) => {
    instance.process = await startServerProcess({
      ...env,
      PORT: String(instance.port),
      METRICS_PORT: String(instance.metricsPort),
      DATA_DIR: path.join(dir, `data-${instance.name}`),
    });
    await balancer.waitFor(instance.name, 'UP');
  };
  let helper: TestApp | undefined;
  try {
    await Promise.all(instances.map(start));
    const db = await openDatabase({ url: options.databaseUrl, poolSize: 2, poolMode: options.env?.DATABASE_POOL_MODE === 'transaction' ? 'transaction' : 'session' });
    helper = await startTestApp({ database: { db, url: options.databaseUrl, drop: () => db.close() }, dir, clients, env: { ISSUER: balancer.url } });
  } catch (error) {
    await Promise.all(instances.map((instance) => instance.process?.stop('SIGKILL')));
    await balancer.stop();
    throw error;
  }
  const app = helper;
  return {
    dir,
    certsDir,
    balancer,
    instances,
    helper: app,
    env,
    start,
    async restart(instance) {
      await instance.process?.stop('SIGTERM');
      await balancer.waitFor(instance.name, 'DOWN');
      await start(instance);
    },
    async close() {
      await Promise.all(instances.map((instance) => instance.process?.stop('SIGKILL')));
      await balancer.stop();
      await app.close();
      await app.db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LoadResult {
  ok: boolean;
  status: number;
  servedBy: string | null;
  error?: string;
}

export interface Load {
  results: LoadResult[];
  inFlight(): number;
  stop(): Promise<void>;
}

/** `concurrency` loops calling `request` back to back until stopped; every outcome is recorded. */
export function startLoad(concurrency: number, request: (worker: number) => Promise<LoadResult>): Load {
  const results: LoadResult[] = [];
  let running = true;
  let inFlight = 0;
  const workers = Array.from({ length: concurrency }, async (_, worker) => {
    while (running) {
      inFlight += 1;
      try {
        results.push(await request(worker));
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        results.push({ ok: false, status: 0, servedBy: null, error: `${(error as Error).message} ${cause?.code ?? cause?.message ?? ''}` });
      } finally {
        inFlight -= 1;
      }
    }
  });
  return {
    results,
    inFlight: () => inFlight,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/** Waits until the load has recorded `count` more results. */
export async function whileLoad(load: Load, count: number): Promise<void> {
  const target = load.results.length + count;
  while (load.results.length < target) await new Promise((resolve) => setTimeout(resolve, 10));
}
