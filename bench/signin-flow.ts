// Q-P1: password sign-in flow throughput versus the argon2id ceiling (PRODUCT.md §9).
//
// The server (startServer(), as `npm start`) runs in a child process on a fresh PostgreSQL database (or PGlite
// with --database pglite). At each concurrency C, alternating within one run:
//   ceiling: C loops of argon2 verify through the server's own PasswordHasher (ARGON2_OPTIONS, HASH_CONCURRENCY
//            semaphore), inside the server process, with nothing else running;
//   flows:   C virtual browsers each doing authorize → login page → POST login with 以单位身份登录 → unit picker →
//            POST unit → code → token, back to back.
// ratio = flows/s ÷ verifies/s (each flow costs exactly one verify). Target ≥ 85%.
// --candidate DIR adds the same measurements for a server from another checkout (e.g. a worktree with a fix).
import os from 'node:os';
import { HttpClient, closedLoop } from './lib/http.js';
import { signIn, type Credentials } from './lib/flow.js';
import { relyingParty, UNIT_SCOPE } from './lib/clients.js';
import { sharedCerts, startHarness, type Harness } from './lib/servers.js';
import { fixed, flagOption, keyValues, log, machine, median, numbers, option, pct, percentile, table, writeResult } from './lib/report.js';

const TARGET = 0.85;
const concurrencies = numbers(option('concurrency', 'BENCH_CONCURRENCY', '4,8'));
const seconds = Number(option('seconds', 'BENCH_SECONDS', '6'));
const repeats = Number(option('repeats', 'BENCH_REPEATS', '3'));
const database = option('database', 'BENCH_DATABASE', 'postgres') === 'pglite' ? 'pglite' : 'postgres';
const profile = flagOption('profile', 'BENCH_PROFILE');
const candidateTree = option('candidate', 'BENCH_CANDIDATE', '');
/**
 * `--floor` (default on): the same authorization-code flow on bare node-oidc-provider (its in-memory adapter, and a
 * plain PostgreSQL adapter), which signs in and consents by itself: no password, no page, no unit. Its CPU per
 * flow is what the library alone costs, so (CPU per verify + that) ÷ CPU per verify is the lowest CPU ratio any
 * provider built on it can reach with the same verification.
 */
const floor = option('floor', 'BENCH_FLOOR', 'true') !== 'false';
const serverEnv: Record<string, string> = {};
for (const name of ['HASH_CONCURRENCY', 'UV_THREADPOOL_SIZE', 'DATABASE_POOL_SIZE', 'LOG_LEVEL', 'BENCH_DATABASE_URL']) {
  if (process.env[name]) serverEnv[name] = process.env[name]!;
}

const cores = os.availableParallelism();
const defaultHashConcurrency = Math.max(1, os.availableParallelism() - 1); // the server's default (src/config/env.ts)
const hashConcurrency = Number(serverEnv.HASH_CONCURRENCY ?? defaultHashConcurrency);

interface Server {
  name: string;
  harness: Harness;
  flow: (worker: number) => Promise<void>;
  statements: [string, number][];
}

interface Row {
  server: string;
  concurrency: number;
  repeat: number;
  ceiling: number;
  flows: number;
  ratio: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU ms (server process, all threads, + its PostgreSQL backends) per verification and per flow; projection. */
  verifyCpu: number;
  flowCpu: number;
  flowDatabaseCpu: number;
  cpuRatio: number;
}

const info = machine();
const certs = await sharedCerts();
const http = new HttpClient();
const servers: Server[] = [];
const rows: Row[] = [];
let profileNote = '';
/** CPU ms per flow of the bare providers, per repeat (see `floor`). */
const floorRows: { server: string; repeat: number; flows: number; cpu: number; databaseCpu: number; errors: number }[] = [];

async function addServer(name: string, tree?: string): Promise<Server> {
  log(`starting ${name} (${database})`);
  const harness = await startHarness({ kind: 'app', database, certsDir: certs.dir, env: serverEnv, tree });
  const server: Server = { name, harness, flow: async () => {}, statements: [] };
  servers.push(server);
  const handlers = await harness.call<Credentials[]>('seed', { handlers: Math.max(...concurrencies) });
  const rp = relyingParty(harness.url);
  server.flow = (worker) => signIn(http, rp, UNIT_SCOPE, handlers[worker % handlers.length]).then(() => undefined);
  return server;
}

async function measure(server: Server, concurrency: number, repeat: number): Promise<Row> {
  const { harness, flow } = server;
  const measureCeiling = () => harness.cpu(() => harness.call<{ perSecond: number; count: number }>('ceiling', { concurrency, ms: seconds * 1000 }));
  const measureFlows = () => harness.cpu(() => closedLoop(concurrency, seconds * 1000, flow));
  let ceiling: Awaited<ReturnType<typeof measureCeiling>>;
  let flows: Awaited<ReturnType<typeof measureFlows>>;
  if (repeat % 2 === 1) {
    ceiling = await measureCeiling();
    flows = await measureFlows();
  } else {
    flows = await measureFlows();
    ceiling = await measureCeiling();
  }
  if (flows.result.errors > 0) log(`${server.name}: ${flows.result.errors} failed flows, first: ${flows.result.firstError}`);
  const verifyCpu = (ceiling.serverMs + ceiling.databaseMs) / ceiling.result.count;
  const flowCpu = (flows.serverMs + flows.databaseMs) / flows.result.count;
  return {
    server: server.name,
    concurrency,
    repeat,
    ceiling: ceiling.result.perSecond,
    flows: flows.result.perSecond,
    ratio: flows.result.perSecond / ceiling.result.perSecond,
    p50: percentile(flows.result.latencies, 50),
    p99: percentile(flows.result.latencies, 99),
    errors: flows.result.errors,
    verifyCpu,
    flowCpu,
    flowDatabaseCpu: flows.databaseMs / flows.result.count,
    cpuRatio: Math.min(1, cores / flowCpu / (Math.min(hashConcurrency, concurrency, cores) / verifyCpu)),
  };
}

try {
  await addServer('ours');
  if (candidateTree) await addServer('candidate', candidateTree);
  const maxC = Math.max(...concurrencies);
  for (const server of servers) {
    log(`${server.name}: warming up`);
    await closedLoop(maxC, 3000, server.flow);
    await server.harness.call('ceiling', { concurrency: maxC, ms: 1000 });
    // Statements per sign-in (adapter and application), counted over sequential flows.
    const countedFlows = 10;
    await server.harness.call('queries', { action: 'start' });
    for (let index = 0; index < countedFlows; index += 1) await server.flow(0);
    server.statements = (await server.harness.call<[string, number][]>('queries', { action: 'stop' })).map(([sql, count]) => [sql, count / countedFlows]);
  }

  for (const concurrency of concurrencies) {
    for (let repeat = 1; repeat <= repeats; repeat += 1) {
      const order = repeat % 2 === 1 ? servers : [...servers].reverse();
      for (const server of order) {
        const row = await measure(server, concurrency, repeat);
        rows.push(row);
        log(
          `${server.name} C=${concurrency} #${repeat}: ceiling ${fixed(row.ceiling)}/s, flows ${fixed(row.flows)}/s, ratio ${pct(row.ratio)}; CPU ms per verify ${fixed(row.verifyCpu)}, per flow ${fixed(row.flowCpu)}`,
        );
      }
    }
  }

  if (floor) {
    const C = Math.max(...concurrencies);
    for (const kind of ['bare', 'bare-pg'] as const) {
      log(`starting ${kind} node-oidc-provider for the library's own cost per flow`);
      const harness = await startHarness({ kind, certsDir: certs.dir, env: serverEnv });
      try {
        const rp = relyingParty(harness.url);
        const bareFlow = () => signIn(http, rp, UNIT_SCOPE, undefined).then(() => undefined);
        await closedLoop(C, 3000, bareFlow);
        if (kind === 'bare-pg') await harness.call('analyze');
        for (let repeat = 1; repeat <= repeats; repeat += 1) {
          const measured = await harness.cpu(() => closedLoop(C, seconds * 1000, bareFlow));
          const count = measured.result.count;
          floorRows.push({
            server: kind,
            repeat,
            flows: measured.result.perSecond,
            cpu: (measured.serverMs + measured.databaseMs) / count,
            databaseCpu: measured.databaseMs / count,
            errors: measured.result.errors,
          });
          log(`${kind} #${repeat}: ${fixed(measured.result.perSecond)} flows/s, CPU ms per flow ${fixed(floorRows.at(-1)!.cpu)}`);
        }
      } finally {
        await harness.stop();
      }
    }
  }

  if (profile) {
    const server = servers[0]!;
    log(`profiling the server during ${seconds} s of flows at C=${maxC}`);
    const { file, summary } = await server.harness.profile('signin-flow', () => closedLoop(maxC, seconds * 1000, server.flow));
    profileNote = [
      `CPU profile of the server's main thread during ${seconds} s of flows at C=${maxC}: ${file}`,
      '',
      table(
        ['module (self time)', 'ms', 'share'],
        summary.byModule.slice(0, 15).map((entry) => [entry.module, fixed(entry.ms, 0), pct(entry.share)]),
      ),
      '',
      table(
        ['function (self time)', 'ms', 'share'],
        summary.byFunction.slice(0, 20).map((entry) => [entry.fn, fixed(entry.ms, 0), pct(entry.share)]),
      ),
    ].join('\n');
  }
} finally {
  http.close();
  await Promise.all(servers.map((server) => server.harness.stop()));
  certs.remove();
}

const header = [
  'server',
  'C',
  'repeat',
  'argon2 verifies/s (ceiling)',
  'sign-in flows/s',
  'ratio',
  'flow p50 ms',
  'flow p99 ms',
  'errors',
  'CPU ms/verify',
  'CPU ms/flow (of which DB)',
];
const raw = rows.map((row) => [
  row.server,
  String(row.concurrency),
  String(row.repeat),
  fixed(row.ceiling),
  fixed(row.flows),
  pct(row.ratio),
  fixed(row.p50),
  fixed(row.p99),
  String(row.errors),
  fixed(row.verifyCpu),
  `${fixed(row.flowCpu)} (${fixed(row.flowDatabaseCpu)})`,
]);
const summaryRows = servers.flatMap((server) =>
  concurrencies.map((concurrency) => {
    const mine = rows.filter((row) => row.server === server.name && row.concurrency === concurrency);
    const ratio = median(mine.map((row) => row.ratio));
    return [
      server.name,
      String(concurrency),
      fixed(median(mine.map((row) => row.ceiling))),
      fixed(median(mine.map((row) => row.flows))),
      pct(ratio),
      ratio >= TARGET ? 'holds' : 'MISSED',
      fixed(median(mine.map((row) => row.verifyCpu))),
      fixed(median(mine.map((row) => row.flowCpu))),
      pct(median(mine.map((row) => row.cpuRatio))),
    ];
  }),
);
const summaryTable = table(
  ['server', 'C', 'median ceiling/s', 'median flows/s', 'median ratio', `target ≥ ${pct(TARGET)}`, 'CPU ms/verify', 'CPU ms/flow', 'projected ratio'],
  summaryRows,
);
const verifyCpu = median(rows.filter((row) => row.server === 'ours').map((row) => row.verifyCpu));
const floorTable = floorRows.length
  ? table(
      ['server', 'median flows/s', 'CPU ms/flow (of which DB)', 'lowest CPU ratio with one verification: (verify + flow) ÷ verify', `ours, median CPU ms/flow ÷ verify`],
      (['bare', 'bare-pg'] as const).map((kind) => {
        const mine = floorRows.filter((row) => row.server === kind);
        const cpu = median(mine.map((row) => row.cpu));
        const ours = median(rows.filter((row) => row.server === 'ours').map((row) => row.flowCpu));
        return [
          kind,
          fixed(median(mine.map((row) => row.flows))),
          `${fixed(cpu)} (${fixed(median(mine.map((row) => row.databaseCpu)))})`,
          `${fixed((verifyCpu + cpu) / verifyCpu, 2)}×`,
          `${fixed(ours / verifyCpu, 2)}×`,
        ];
      }),
    )
  : '';
console.log(`\nQ-P1 sign-in flow vs argon2id ceiling (${database})\n\n${summaryTable}\n\n${table(header, raw)}\n\n${floorTable}\n`);
if (profileNote) console.log(profileNote);

const statementSections = servers
  .map((server) => {
    const total = server.statements.reduce((sum, [, count]) => sum + count, 0);
    return `### ${server.name}: ${fixed(total, 1)} statements per sign-in flow (counted over sequential flows)\n\n${table(
      ['statement (first 90 characters) [adapter model]', 'per sign-in'],
      server.statements.map(([sql, count]) => [sql.replace(/\|/g, '\\|'), fixed(count, 1)]),
    )}`;
  })
  .join('\n\n');
const written = writeResult(
  'signin-flow',
  `# Q-P1 · Password sign-in flow throughput vs the argon2id ceiling

Target (PRODUCT.md §9 Q-P1): sign-in flows/s ≥ ${pct(TARGET)} of argon2id verifies/s at the same parameters and
concurrency, same run. One flow = authorize → login page → POST login with 以单位身份登录 → unit picker → POST unit →
code at the RP → token endpoint (one argon2 verification per flow). The ceiling is C loops of
\`PasswordHasher.verify\` inside the server process (same ARGON2_OPTIONS, same HASH_CONCURRENCY semaphore, same
libuv pool); the two are measured alternately, ${seconds} s each, ${repeats} times per concurrency.

\`ratio\` is the spec's measure (flows/s ÷ verifies/s). \`CPU ms/verify\` and \`CPU ms/flow\` are the CPU time the
server process (all threads) and its PostgreSQL backends spent per operation (from /proc; the load generator
excluded): other jobs on a shared machine disturb them far less than throughput. \`projected ratio\` is what the
ratio becomes, from those CPU costs, on a machine of its own with ${cores} cores: the ceiling runs
min(HASH_CONCURRENCY, C, cores) argon2 threads, flows are bound by all cores:
min(1, (cores ÷ CPU per flow) ÷ (threads ÷ CPU per verify)).
${candidateTree ? `\n\`candidate\` is the same provider served from ${candidateTree} (a checkout with a change to compare).\n` : ''}
## Machine

${keyValues(info)}

## Parameters

${keyValues({
  database,
  'concurrency (C)': concurrencies.join(', '),
  'seconds per window': seconds,
  repeats,
  'server env': JSON.stringify({ UV_THREADPOOL_SIZE: '8', ...serverEnv }),
  HASH_CONCURRENCY: serverEnv.HASH_CONCURRENCY ?? `${defaultHashConcurrency} (default: cores − 1)`,
  scope: UNIT_SCOPE,
})}

## Result

${summaryTable}

## Raw numbers

${table(header, raw)}

${
  floorTable
    ? `## The library's own cost per flow

The same authorization-code flow (authorize → login interaction → consent interaction → code → token, scope
\`${UNIT_SCOPE}\`) on bare node-oidc-provider configured like ours, which signs in and consents by itself: no
password, no page rendered, no unit, no audit. C=${Math.max(...concurrencies)}, ${seconds} s, ${repeats} repeats; the
median CPU per verification of ours above (${fixed(verifyCpu)} ms) is the denominator.

${floorTable}

`
    : ''
}## Statements per sign-in flow

${statementSections}
${profileNote ? `\n## Profile\n\n${profileNote}\n` : ''}`,
);
log(`wrote ${written}`);
