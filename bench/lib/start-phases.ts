// Where a start spends its time (bench/startup.ts --phases): the steps of startServer() (src/server.ts) run one by
// one from the built dist/, each timed (wall clock and CPU of the whole process). It mirrors startServer()
// rather than calling it, to see inside; a change to the start sequence should be mirrored here.
// Environment as for main.js (DATA_DIR, CERTS_DIR, PORT); prints one JSON line and exits.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

type EnvModule = typeof import('../../src/config/env.js');
type LoggerModule = typeof import('../../src/shared/logger.js');
type ClientsModule = typeof import('../../src/config/clients.js');
type KeysModule = typeof import('../../src/oidc/keys.js');
type DatabaseModule = typeof import('../../src/shared/db/database.js');
type AppModule = typeof import('../../src/app.js');
type SeedModule = typeof import('../../src/modules/demo/seed.js');

const root = process.cwd();
const phases: { phase: string; wallMs: number; cpuMs: number }[] = [];
let last = { wall: 0, cpu: 0 }; // since the process started: performance.now() counts from there

function cpuNow(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

function mark(phase: string): void {
  const now = { wall: performance.now(), cpu: cpuNow() };
  phases.push({ phase, wallMs: now.wall - last.wall, cpuMs: now.cpu - last.cpu });
  last = now;
}

const load = <T>(file: string) => import(pathToFileURL(path.join(root, 'dist', file)).href) as Promise<T>;
mark('node bootstrap');
const [{ loadConfig }, { createLogger }, { loadClients }, { loadKeys }, { openDatabase, migrate }, { createApp }, { seedDemoData }] = await Promise.all([
  load<EnvModule>('src/config/env.js'),
  load<LoggerModule>('src/shared/logger.js'),
  load<ClientsModule>('src/config/clients.js'),
  load<KeysModule>('src/oidc/keys.js'),
  load<DatabaseModule>('src/shared/db/database.js'),
  load<AppModule>('src/app.js'),
  load<SeedModule>('src/modules/demo/seed.js'),
]);
await load('src/server.js');
mark('import modules');
const config = loadConfig();
const logger = createLogger('silent');
const catalog = loadClients({ file: config.clientsFile, mode: config.mode, dataDir: config.dataDir });
mark('config + clients.json');
const keys = await loadKeys({ dir: config.certsDir, generate: config.keysAutoGenerate });
mark(keys.generated ? 'keys (generated)' : 'keys (loaded)');
const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
mark('open embedded database');
const applied = await migrate(db);
mark(applied.length ? `migrations (${applied.length} applied)` : 'migrations (none pending)');
const app = createApp({ config, db, catalog, keys, logger });
mark('createApp');
if (config.demoData) await seedDemoData(app.services);
mark('demo data');
const { default: http } = await import('node:http');
const server = http.createServer(app.koa.callback());
await new Promise<void>((resolve) => server.listen(config.port, config.host, resolve));
const response = await fetch(`http://127.0.0.1:${config.port}/.well-known/openid-configuration`);
await response.text();
mark('listen + first discovery request');
process.stdout.write(`${JSON.stringify({ phases, totalWallMs: performance.now(), totalCpuMs: cpuNow() })}\n`);
server.close();
await db.close();
process.exit(0);
