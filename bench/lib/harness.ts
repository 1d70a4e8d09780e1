// The server side of a benchmark, run as a child process (bench/lib/servers.ts forks it) so that its environment
// (UV_THREADPOOL_SIZE, HASH_CONCURRENCY, …) is its own and the load generator does not share its event loop.
// BENCH_HARNESS selects what it serves:
//   {"kind":"app","database":"postgres"|"pglite"}: this provider, started by startServer() exactly as
//     `npm start` does, on a fresh database (PostgreSQL: a new database next to TEST_DATABASE_URL / BENCH_DATABASE_URL).
//   {"kind":"bare"}: node-oidc-provider alone with its in-memory adapter, configured like ours for the token
//     endpoints (same clients, keys, algorithms, TTLs, features) and an interaction handler that signs in at once.
//   {"kind":"bare-pg"}: the same, with a plain PostgreSQL adapter (bench/lib/bare-pg-adapter.ts) on a fresh
//     database: what the round trips to PostgreSQL alone cost node-oidc-provider.
// Commands arrive over the IPC channel: seed, ceiling, queries, profile, stop; for the scale benchmark preload,
// subjects, expired, sweep.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import inspector from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import Provider, { type Configuration } from 'oidc-provider';
import { loadConfig, type AppConfig } from '../../src/config/env.js';
import { loadClients } from '../../src/config/clients.js';
import { loadKeys } from '../../src/oidc/keys.js';
import { CLAIMS, TTL } from '../../src/oidc/provider.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { createLogger } from '../../src/shared/logger.js';
import { createPostgresDatabase } from '../../test/support/database.js';
import { createPerson, PASSWORD } from '../../test/support/people.js';
import { bindHandler, createUnit } from '../../test/support/units.js';
import { sweepExpired } from '../../src/oidc/adapter.js';
import { benchClientsFile } from './clients.js';
import pg from 'pg';
import { BARE_PG_SCHEMA, barePgAdapter } from './bare-pg-adapter.js';
import { addExpired, addHandlers, bindUnits, preload, scaled } from './preload.js';
import type { CpuProfile } from './profile.js';
import type { WalStats } from './servers.js';

interface HarnessOptions {
  kind: 'app' | 'bare' | 'bare-pg';
  database?: 'postgres' | 'pglite';
  /** Directory holding (or receiving) certs/; shared so that both servers of a comparison sign with one key. */
  certsDir: string;
}

interface Request {
  id: number;
  cmd: string;
  args?: Record<string, unknown>;
}

const options = JSON.parse(process.env.BENCH_HARNESS ?? '{}') as HarnessOptions;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-'));
const clientsFile = path.join(dir, 'clients.json');
fs.writeFileSync(clientsFile, JSON.stringify(benchClientsFile()));

async function listenPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** node-oidc-provider with what our configuration sets for the token, introspection and revocation endpoints. */
async function startBare(port: number, adapter?: Configuration['adapter']): Promise<{ url: string; close(): Promise<void> }> {
  const issuer = `http://127.0.0.1:${port}`;
  const catalog = loadClients({ file: clientsFile, mode: 'development', dataDir: dir });
  const keys = await loadKeys({ dir: options.certsDir, generate: true });
  const configuration: Configuration = {
    clients: catalog.clients.map((client) => client.metadata) as unknown as Configuration['clients'],
    jwks: keys.jwks as Configuration['jwks'],
    cookies: { keys: keys.cookieKeys, long: { httpOnly: true, sameSite: 'lax', signed: true }, short: { httpOnly: true, sameSite: 'lax', signed: true } },
    scopes: ['openid', 'offline_access', 'profile', 'phone', 'unit', 'manage', ...catalog.businesses.map((business) => business.scope)],
    claims: { ...CLAIMS } as unknown as Configuration['claims'],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo: (_ctx, resource) => ({
          scope: catalog.businesses
            .filter((business) => business.resource === resource)
            .map((business) => business.scope)
            .join(' '),
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: TTL.ResourceAccessToken,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    rotateRefreshToken: true,
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
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ...(adapter ? { adapter } : {}),
  };
  const provider = new Provider(issuer, configuration);
  // Signs in and consents at once: only the token endpoints are compared, the bare side needs tokens to refresh.
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/interaction/')) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result: Record<string, unknown>;
    if (details.prompt.name === 'login') {
      result = { login: { accountId: `bench-${crypto.randomUUID()}` } };
    } else {
      const accountId = String(details.session?.accountId);
      const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: String(details.params.client_id) });
      if (!grant) throw new Error('grant not found');
      const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(to);
  });
  const server = http.createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: issuer,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function startApp(port: number): Promise<{ url: string; running: RunningServer; config: AppConfig; close(): Promise<void> }> {
  let dropDatabase = async () => {};
  const env: Record<string, string | undefined> = {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    CERTS_DIR: options.certsDir,
    CLIENTS_FILE: clientsFile,
    DATA_DIR: path.join(dir, 'data'),
    DEMO_DATA: 'false',
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    DATABASE_URL: undefined,
  };
  if (options.database !== 'pglite') {
    process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
    const created = await createPostgresDatabase();
    env.DATABASE_URL = created.url;
    dropDatabase = () => created.drop();
    await databaseSettings(created.url);
  }
  const config = loadConfig(env, dir);
  const running = await startServer(config, createLogger(config.logLevel));
  return {
    url: running.url,
    running,
    config,
    async close() {
      running.server.closeAllConnections();
      await running.stop(1000);
      await walReader?.end().catch(() => undefined);
      await dropDatabase();
    },
  };
}

/**
 * BENCH_WAL_COMPRESSION (e.g. lz4): `ALTER DATABASE … SET wal_compression` on the fresh database before the server
 * opens its pool, so every session of this server compresses the full-page images it logs (issue #15, Q-P6). A
 * setting of the bench's own database only: never the server's configuration (ALTER SYSTEM), which others share.
 */
async function databaseSettings(url: string): Promise<void> {
  const compression = process.env.BENCH_WAL_COMPRESSION;
  if (!compression) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const name = (await client.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
    await client.query(`ALTER DATABASE ${client.escapeIdentifier(name)} SET wal_compression = ${client.escapeLiteral(compression)}`);
  } finally {
    await client.end();
  }
}

const port = await listenPort();
let running: RunningServer | undefined;
let runningConfig: AppConfig | undefined;
let served: { url: string; close(): Promise<void> };
/** bare-pg: the pool of its adapter, on a database of its own. */
let barePool: pg.Pool | undefined;
if (options.kind === 'bare') {
  served = await startBare(port);
} else if (options.kind === 'bare-pg') {
  process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const created = await createPostgresDatabase();
  const pool = new pg.Pool({ connectionString: created.url, max: 10 });
  barePool = pool;
  await pool.query(BARE_PG_SCHEMA);
  const bare = await startBare(port, barePgAdapter(pool));
  served = {
    url: bare.url,
    async close() {
      await bare.close();
      await pool.end();
      await created.drop();
    },
  };
} else {
  const app = await startApp(port);
  running = app.running;
  runningConfig = app.config;
  served = app;
}

/** Counts statements by their first words while enabled (adapter calls, the app's own queries, BEGIN/COMMIT). */
const queryCounts = new Map<string, number>();
let counting = false;
running?.db.observe((sql, params) => {
  if (!counting) return;
  // Adapter statements are told apart by model (their first parameter).
  const model = sql.includes('oidc_model') && typeof params[0] === 'string' && /^[A-Z]/.test(params[0]) ? ` [${params[0]}]` : '';
  const key = `${sql.replace(/\s+/g, ' ').trim().slice(0, 90)}${model}`;
  queryCounts.set(key, (queryCounts.get(key) ?? 0) + 1);
});

let session: inspector.Session | undefined;

/** CPU time (user + system, clock ticks of 10 ms) of a process, from /proc; 0 when it is gone. */
function ticks(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** CPU used so far by this process (all its threads: main, libuv pool, GC) and by its PostgreSQL backends; its RSS now. */
async function cpu(): Promise<{ processMs: number; backends: Record<number, number>; rssMb: number; walLsn?: string }> {
  const usage = process.cpuUsage();
  const backends: Record<number, number> = {};
  const backendsSql = 'SELECT pid FROM pg_stat_activity WHERE datname = current_database()';
  const pids =
    running?.db.kind === 'postgres' ? (await running.db.query<{ pid: number }>(backendsSql)).rows : barePool ? (await barePool.query<{ pid: number }>(backendsSql)).rows : [];
  for (const { pid } of pids) backends[pid] = ticks(pid) * 10;
  const walLsn = await walPosition();
  return { processMs: (usage.user + usage.system) / 1000, backends, rssMb: process.memoryUsage.rss() / 2 ** 20, walLsn };
}

/**
 * A connection of its own to this server's database for reading the WAL, holding a temporary physical replication
 * slot: the server removes WAL segments after each checkpoint, and on a shared server (other suites drop databases,
 * which forces a checkpoint) a window's segments could otherwise be gone before they are read. The slot is
 * advanced after each read, so it holds no more than one window's WAL, and it goes with the connection (also when
 * this process dies). Without a slot (none free), a window whose WAL was removed is left unmeasured.
 */
let walReader: pg.Client | undefined;
let walSlot: string | undefined;
async function walPosition(): Promise<string | undefined> {
  const url = runningConfig?.databaseUrl;
  if (!running || running.db.kind !== 'postgres' || !url) return undefined;
  if (!walReader) {
    walReader = new pg.Client({ connectionString: url });
    await walReader.connect();
    await walReader.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
    const name = `uop_bench_wal_${process.pid}`;
    walSlot = await walReader.query('SELECT pg_create_physical_replication_slot($1, true, true)', [name]).then(
      () => name,
      () => undefined,
    );
  }
  // The flushed position: pg_walinspect reads no further (the window's commits are flushed when they commit).
  return (await walReader.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0]!.lsn;
}

/**
 * The WAL this server's database wrote between two LSNs (issue #15, Q-P6): the records that touch one of its
 * relations, plus the commit and abort records of their transactions, read with pg_walinspect (created in the
 * bench's own fresh database). pg_stat_wal and LSN differences count the whole cluster, i.e. also the WAL of
 * everyone else on a shared server; these records are ours alone, so the numbers do not depend on the others' load.
 * `fpi`: full-page images; `byRelation`: bytes and FPIs per relation (table or index) of this database.
 */
async function walBetween(from: string, to: string): Promise<WalStats> {
  if (!walReader) throw new Error('wal needs the app on PostgreSQL');
  // Nothing flushed in the window (a read-only path on a quiet server): pg_walinspect wants start < end.
  const flushed = await walReader.query<{ any: boolean }>('SELECT $2::pg_lsn > $1::pg_lsn AS any', [from, to]);
  if (!flushed.rows[0]!.any) return { bytes: 0, records: 0, fpi: 0, fpiBytes: 0, byRelation: {}, checkpointDuring: false };
  const { rows } = await walReader.query<{ relation: string; bytes: string; fpi: string; fpi_bytes: string; records: string }>(
    `WITH records AS (
       SELECT xid, resource_manager, record_type, record_length, fpi_length, block_ref,
              (regexp_match(block_ref, 'rel \\d+/(\\d+)/(\\d+)'))[1]::oid AS db,
              (regexp_match(block_ref, 'rel \\d+/(\\d+)/(\\d+)'))[2]::oid AS filenode,
              (length(block_ref) - length(replace(block_ref, 'FPW', ''))) / 3 AS images
         FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)),
     ours AS (SELECT DISTINCT xid FROM records WHERE db = (SELECT oid FROM pg_database WHERE datname = current_database()) AND xid <> 0)
     SELECT COALESCE(c.relname, CASE WHEN r.db IS NULL THEN r.resource_manager || ' ' || split_part(r.record_type, ' ', 1) ELSE 'filenode ' || r.filenode END) AS relation,
            sum(r.record_length) AS bytes, sum(r.images) AS fpi, sum(r.fpi_length) AS fpi_bytes, count(*) AS records
       FROM records r LEFT JOIN pg_class c ON c.relfilenode = r.filenode AND r.db IS NOT NULL
      WHERE r.db = (SELECT oid FROM pg_database WHERE datname = current_database())
         OR (r.db IS NULL AND r.xid IN (SELECT xid FROM ours))
      GROUP BY 1`,
    [from, to],
  );
  const byRelation: Record<string, { bytes: number; fpi: number; records: number }> = {};
  let bytes = 0;
  let fpi = 0;
  let fpiBytes = 0;
  let records = 0;
  for (const row of rows) {
    byRelation[row.relation] = { bytes: Number(row.bytes), fpi: Number(row.fpi), records: Number(row.records) };
    bytes += Number(row.bytes);
    fpi += Number(row.fpi);
    fpiBytes += Number(row.fpi_bytes);
    records += Number(row.records);
  }
  // Whether a checkpoint began during the window (its redo point after `from`): the first change of each page after
  // it is logged as a full-page image.
  const checkpoint = await walReader.query<{ during: boolean }>('SELECT redo_lsn > $1::pg_lsn AS during FROM pg_control_checkpoint()', [from]);
  if (walSlot) await walReader.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [walSlot, to]);
  return { bytes, records, fpi, fpiBytes, byRelation, checkpointDuring: checkpoint.rows[0]!.during };
}

async function handle(request: Request): Promise<unknown> {
  const args = request.args ?? {};
  switch (request.cmd) {
    case 'seed': {
      // Handlers of one verified unit: each signs in with the checkbox and picks the unit (C-UI2).
      if (!running) throw new Error('seed needs the app');
      const services = running.app.services;
      const contact = await createPerson(services, { verified: true, legalName: '压测联系人' });
      const unit = await createUnit(services, contact, { name: '压测科技有限公司', verified: true });
      const handlers = [];
      for (let index = 0; index < Number(args.handlers ?? 1); index += 1) {
        const person = await createPerson(services, { verified: true, legalName: '压测经办人' });
        await bindHandler(services, unit, person, ['biz:continuing_education']);
        handlers.push({ account: person.loginName, password: person.password, unitId: unit.id });
      }
      return handlers;
    }
    case 'preload':
      // Provincial sizes × factor, set-based (bench/lib/preload.ts); seconds per table.
      if (!running) throw new Error('preload needs the app');
      return preload(running.db, scaled(Number(args.factor ?? 1)));
    case 'subjects': {
      // Persons bound to 1 and to N units (the picker), and a unit with many handlers and a long log (its console).
      if (!running) throw new Error('subjects need the app');
      const services = running.app.services;
      const pickers: Record<string, { account: string; password: string; unitId: string }> = {};
      for (const count of args.pickerUnits as number[]) {
        const person = await createPerson(services, { verified: true, legalName: '压测经办人' });
        const units = await bindUnits(running.db, person.id, count, `pk${count}x${process.pid}`);
        pickers[String(count)] = { account: person.loginName, password: person.password, unitId: units[0]! };
      }
      const contact = await createPerson(services, { verified: true, legalName: '压测联系人' });
      const unit = await createUnit(services, contact, { name: '压测大型单位', verified: true });
      await addHandlers(running.db, unit.id, Number(args.handlers), Number(args.logRows), `h${process.pid}`);
      await running.db.query('ANALYZE');
      return { pickers, unit: { loginName: unit.loginName, password: unit.password } };
    }
    case 'analyze':
      if (barePool) {
        await barePool.query('ANALYZE');
        return undefined;
      }
      // The statistics autovacuum's ANALYZE keeps on a running database (it runs about once a minute after enough
      // rows changed; a window of a benchmark is shorter). Without them PostgreSQL plans a prepared statement
      // anew at every execution (a custom plan), which costs the token lookup more than running it.
      if (!running) throw new Error('analyze needs the app');
      await running.db.query('ANALYZE');
      return undefined;
    case 'expired':
      if (!running) throw new Error('expired needs the app');
      await addExpired(running.db, Number(args.count), String(args.tag ?? 'expired'));
      return undefined;
    case 'sweep': {
      // The periodic sweep's removal of expired artefacts (src/server.ts, with its SWEEP_BATCH_SIZE and SWEEP_PAUSE_MS), timed.
      if (!running || !runningConfig) throw new Error('sweep needs the app');
      const start = performance.now();
      const removed = await sweepExpired(running.db, new Date(), runningConfig.sweep.batchSize, runningConfig.sweep.pauseMs);
      return { removed, ms: performance.now() - start };
    }
    case 'explain': {
      // EXPLAIN (ANALYZE, BUFFERS) of the given statements with their parameters, on this server's database.
      if (!running) throw new Error('explain needs the app');
      const plans: string[] = [];
      for (const [sql, params] of args.statements as [string, unknown[]][]) {
        const { rows } = await running.db.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
        plans.push(rows.map((row) => row['QUERY PLAN']).join('\n'));
      }
      return plans;
    }
    case 'ceiling': {
      // argon2 verifications through the application's own PasswordHasher (same parameters, same semaphore).
      if (!running) throw new Error('ceiling needs the app');
      const hasher = running.app.services.hasher;
      const hash = await hasher.hash(PASSWORD);
      const concurrency = Number(args.concurrency ?? 1);
      const deadline = performance.now() + Number(args.ms ?? 5000);
      const start = performance.now();
      let count = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < deadline) {
            if (!(await hasher.verify(hash, PASSWORD))) throw new Error('verification failed');
            count += 1;
          }
        }),
      );
      const elapsedMs = performance.now() - start;
      return { count, elapsedMs, perSecond: (count * 1000) / elapsedMs };
    }
    case 'cpu':
      return cpu();
    case 'wal':
      return walBetween(String(args.from), String(args.to));
    case 'queries': {
      if (args.action === 'start') {
        queryCounts.clear();
        counting = true;
        return undefined;
      }
      counting = false;
      return [...queryCounts].sort((a, b) => b[1] - a[1]);
    }
    case 'profile': {
      if (args.action === 'start') {
        session = new inspector.Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 200 });
        await session.post('Profiler.start');
        return undefined;
      }
      if (!session) throw new Error('profile not started');
      const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
      session.disconnect();
      session = undefined;
      const file = String(args.file);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(profile));
      return file;
    }
    case 'stop': {
      await served.close();
      fs.rmSync(dir, { recursive: true, force: true });
      setImmediate(() => process.exit(0));
      return undefined;
    }
    default:
      throw new Error(`unknown command ${request.cmd}`);
  }
}

process.on('message', (request: Request) => {
  handle(request).then(
    (result) => process.send?.({ id: request.id, ok: true, result }),
    (error: unknown) => process.send?.({ id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => {
  // The benchmark went away: clean up the database and the temporary directory anyway.
  served
    .close()
    .catch(() => undefined)
    .finally(() => {
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
});
process.send?.({ ready: true, url: served.url, pid: process.pid });
