// Q-P2: refresh, client-credentials and introspection throughput of this provider on PostgreSQL versus bare
// node-oidc-provider with its in-memory adapter (PRODUCT.md §9).
//
// Both servers run as child processes of this script at the same time (one is idle while the other is
// measured), sign with the same keys and serve the same clients (bench/lib/clients.ts). Ours is startServer() on
// a fresh PostgreSQL database with all its middleware; the bare one is `new Provider()` configured like ours for
// these endpoints (same algorithms, TTLs, rotation, features; devInteractions off; an interaction handler that
// signs in at once). Tokens come from real sign-ins on each server (ours: a handler signing in for a unit, the
// product's typical token). Per endpoint the servers are measured in turn, several times; ratio = ours ÷ bare.
// --candidate DIR adds a third server from another checkout (e.g. a worktree with a fix), measured the same way.
import { HttpClient, basicAuth, closedLoop, type LoadResult } from './lib/http.js';
import { signIn, tokenRequest, type Credentials, type Tokens } from './lib/flow.js';
import { relyingParty, service, UNIT_SCOPE } from './lib/clients.js';
import { sharedCerts, startHarness, type Harness } from './lib/servers.js';
import { fixed, flagOption, keyValues, log, machine, median, option, pct, percentile, table, writeResult } from './lib/report.js';

const TARGET = 0.6;
const concurrency = Number(option('concurrency', 'BENCH_CONCURRENCY', '8'));
const seconds = Number(option('seconds', 'BENCH_SECONDS', '4'));
const repeats = Number(option('repeats', 'BENCH_REPEATS', '3'));
const profile = flagOption('profile', 'BENCH_PROFILE');
const endpoints = option('endpoints', 'BENCH_ENDPOINTS', 'refresh,client_credentials,introspection').split(',');
const candidateTree = option('candidate', 'BENCH_CANDIDATE', '');
// bare-pg: bare node-oidc-provider with a plain PostgreSQL adapter (bench/lib/bare-pg-adapter.ts), the price of
// the round trips alone; on by default, `--bare-pg false` leaves it out.
const withBarePg = option('bare-pg', 'BENCH_BARE_PG', 'true') !== 'false';
const serverEnv: Record<string, string> = {};
for (const name of ['UV_THREADPOOL_SIZE', 'DATABASE_POOL_SIZE', 'LOG_LEVEL', 'BENCH_DATABASE_URL']) {
  if (process.env[name]) serverEnv[name] = process.env[name]!;
}

interface Side {
  name: string;
  harness: Harness;
  /** Signs in as a person (ours) or lets the bare provider sign in by itself. */
  app: boolean;
  handlers: Credentials[];
  /** Per worker: the refresh token to use next (rotated on every use) and an access token to introspect. */
  refresh: string[];
  access: string[];
}

interface Measurement {
  endpoint: string;
  repeat: number;
  side: string;
  result: LoadResult;
  /** CPU ms per request: server process (all threads) + its PostgreSQL backends; and the backends alone. */
  cpu: number;
  databaseCpu: number;
  /** Resident set size of the server process right after the window (MiB). */
  rssMb: number;
}

const info = machine();
const certs = await sharedCerts();
const http = new HttpClient();
const sides: Side[] = [];
const measurements: Measurement[] = [];
const statements: Record<string, Record<string, [string, number][]>> = {};
const profiles: string[] = [];

function operation(side: Side, endpoint: string): (worker: number) => Promise<void> {
  const rp = relyingParty(side.harness.url);
  const svc = service(side.harness.url);
  const rpAuth = basicAuth(rp.clientId, rp.secret);
  switch (endpoint) {
    case 'refresh':
      return async (worker) => {
        const tokens = await tokenRequest(http, rp, { grant_type: 'refresh_token', refresh_token: side.refresh[worker]! });
        if (!tokens.refresh_token || !tokens.id_token) throw new Error('refresh without a new refresh token or ID token');
        side.refresh[worker] = tokens.refresh_token;
      };
    case 'client_credentials':
      return async () => {
        const tokens = await tokenRequest(http, svc, { grant_type: 'client_credentials' });
        if (!tokens.access_token) throw new Error('no access token');
      };
    case 'introspection':
      return async (worker) => {
        const reply = await http.form(`${side.harness.url}/token/introspection`, { token: side.access[worker]! }, { authorization: rpAuth });
        if (reply.status !== 200 || !reply.body.startsWith('{"active":true')) throw new Error(`introspection: ${reply.status} ${reply.body.slice(0, 200)}`);
      };
    default:
      throw new Error(`unknown endpoint ${endpoint}`);
  }
}

/**
 * Fresh tokens before each endpoint: the bare provider's memory adapter is an LRU of 1,000 entries, so the
 * thousands of tokens a run issues would evict the ones signed in with at the start.
 */
async function signInAll(side: Side): Promise<void> {
  const tokens: Tokens[] = [];
  for (let worker = 0; worker < concurrency; worker += 1) {
    tokens.push(await signIn(http, relyingParty(side.harness.url), UNIT_SCOPE, side.app ? side.handlers[worker] : undefined));
  }
  side.refresh = tokens.map((entry) => entry.refresh_token!);
  side.access = tokens.map((entry) => entry.access_token);
}

try {
  log('starting bare node-oidc-provider (memory) and this provider (PostgreSQL)');
  sides.push({ name: 'bare', harness: await startHarness({ kind: 'bare', certsDir: certs.dir, env: serverEnv }), app: false, handlers: [], refresh: [], access: [] });
  sides.push({
    name: 'ours',
    harness: await startHarness({ kind: 'app', database: 'postgres', certsDir: certs.dir, env: serverEnv }),
    app: true,
    handlers: [],
    refresh: [],
    access: [],
  });
  if (candidateTree) {
    log(`starting the candidate from ${candidateTree}`);
    sides.push({
      name: 'candidate',
      harness: await startHarness({ kind: 'app', database: 'postgres', certsDir: certs.dir, env: serverEnv, tree: candidateTree }),
      app: true,
      handlers: [],
      refresh: [],
      access: [],
    });
  }
  if (withBarePg) {
    log('starting bare node-oidc-provider on PostgreSQL (a plain adapter)');
    sides.push({ name: 'bare-pg', harness: await startHarness({ kind: 'bare-pg', certsDir: certs.dir, env: serverEnv }), app: false, handlers: [], refresh: [], access: [] });
  }
  for (const side of sides) if (side.app) side.handlers = await side.harness.call<Credentials[]>('seed', { handlers: concurrency });

  for (const endpoint of endpoints) {
    for (const side of sides) await signInAll(side);
    log(`${endpoint}: warming up`);
    for (const side of sides) await closedLoop(concurrency, 1000, operation(side, endpoint));
    // Statistics as on a running database (harness `analyze`), for the tables the warm-up has filled.
    for (const side of sides.filter((entry) => entry.app || entry.name === 'bare-pg')) await side.harness.call('analyze');
    for (const side of sides.filter((entry) => entry.app)) {
      await side.harness.call('queries', { action: 'start' });
      for (let index = 0; index < 20; index += 1) await operation(side, endpoint)(0);
      (statements[side.name] ??= {})[endpoint] = (await side.harness.call<[string, number][]>('queries', { action: 'stop' })).map(([sql, count]) => [sql, count / 20]);
    }
    for (let repeat = 1; repeat <= repeats; repeat += 1) {
      // Rotate the order, so that no server always follows the same one.
      const order = sides.map((_, index) => sides[(index + repeat - 1) % sides.length]!);
      const line: string[] = [];
      for (const side of order) {
        const { result, serverMs, databaseMs, rssMb } = await side.harness.cpu(() => closedLoop(concurrency, seconds * 1000, operation(side, endpoint)));
        if (result.errors > 0) log(`${side.name} ${endpoint}: ${result.errors} errors, first: ${result.firstError}`);
        measurements.push({ endpoint, repeat, side: side.name, result, cpu: (serverMs + databaseMs) / result.count, databaseCpu: databaseMs / result.count, rssMb });
        line.push(`${side.name} ${fixed(result.perSecond, 0)}/s (${fixed((serverMs + databaseMs) / result.count, 2)} CPU ms)`);
      }
      log(`${endpoint} #${repeat}: ${line.join(', ')}`);
    }
    if (profile) {
      const ours = sides[1]!;
      const { file, summary } = await ours.harness.profile(`token-${endpoint}`, () => closedLoop(concurrency, seconds * 1000, operation(ours, endpoint)));
      profiles.push(
        [
          `### ${endpoint}: CPU profile of our server's main thread (${seconds} s at C=${concurrency}): ${file}`,
          '',
          table(
            ['module (self time)', 'ms', 'share'],
            summary.byModule.slice(0, 15).map((entry) => [entry.module, fixed(entry.ms, 0), pct(entry.share)]),
          ),
          '',
          table(
            ['function (self time)', 'ms', 'share'],
            summary.byFunction.slice(0, 15).map((entry) => [entry.fn, fixed(entry.ms, 0), pct(entry.share)]),
          ),
        ].join('\n'),
      );
    }
  }
} finally {
  http.close();
  await Promise.all(sides.map((side) => side.harness.stop()));
  certs.remove();
}

const find = (endpoint: string, repeat: number, side: string) => measurements.find((entry) => entry.endpoint === endpoint && entry.repeat === repeat && entry.side === side);
const compared = sides.filter((side) => side.name !== 'bare').map((side) => side.name);
const summaryTable = table(
  [
    'endpoint',
    'server',
    'median req/s',
    'median ratio to bare',
    `target ≥ ${pct(TARGET)}`,
    'median CPU ms/req',
    'CPU ratio to bare',
    'median ratio to bare-pg',
    'CPU ratio to bare-pg',
    'median RSS MiB',
  ],
  endpoints.flatMap((endpoint) => {
    const rowsOf = (side: string) => measurements.filter((entry) => entry.endpoint === endpoint && entry.side === side);
    const bareRow = [
      endpoint,
      'bare',
      fixed(median(rowsOf('bare').map((entry) => entry.result.perSecond)), 0),
      '',
      '',
      fixed(median(rowsOf('bare').map((entry) => entry.cpu)), 2),
      '',
      '',
      '',
      fixed(median(rowsOf('bare').map((entry) => entry.rssMb)), 0),
    ];
    /** Median over the repeats of ours ÷ `to` (throughput) and `to` ÷ ours (CPU per request), same repeat. */
    const against = (side: string, to: string) => {
      if (side === to || !rowsOf(to).length) return ['', ''];
      return [
        pct(median(rowsOf(side).map((entry) => entry.result.perSecond / find(endpoint, entry.repeat, to)!.result.perSecond))),
        pct(median(rowsOf(side).map((entry) => find(endpoint, entry.repeat, to)!.cpu / entry.cpu))),
      ];
    };
    return [
      bareRow,
      ...compared.map((side) => {
        const ratio = median(rowsOf(side).map((entry) => entry.result.perSecond / find(endpoint, entry.repeat, 'bare')!.result.perSecond));
        const [, cpuRatio] = against(side, 'bare');
        return [
          endpoint,
          side,
          fixed(median(rowsOf(side).map((entry) => entry.result.perSecond)), 0),
          pct(ratio),
          ratio >= TARGET ? 'holds' : 'MISSED',
          fixed(median(rowsOf(side).map((entry) => entry.cpu)), 2),
          cpuRatio!,
          ...against(side, 'bare-pg'),
          fixed(median(rowsOf(side).map((entry) => entry.rssMb)), 0),
        ];
      }),
    ];
  }),
);
const rawTable = table(
  ['endpoint', 'repeat', 'server', 'req/s', 'ratio to bare', 'p50 ms', 'p99 ms', 'errors', 'CPU ms/req (of which DB)', 'RSS MiB'],
  measurements.map((entry) => [
    entry.endpoint,
    String(entry.repeat),
    entry.side,
    fixed(entry.result.perSecond, 0),
    entry.side === 'bare' ? '' : pct(entry.result.perSecond / find(entry.endpoint, entry.repeat, 'bare')!.result.perSecond),
    fixed(percentile(entry.result.latencies, 50)),
    fixed(percentile(entry.result.latencies, 99)),
    String(entry.result.errors),
    entry.side === 'bare' ? fixed(entry.cpu, 2) : `${fixed(entry.cpu, 2)} (${fixed(entry.databaseCpu, 2)})`,
    fixed(entry.rssMb, 0),
  ]),
);
console.log(`\nQ-P2 token endpoints: this provider on PostgreSQL vs bare node-oidc-provider (memory), C=${concurrency}\n\n${summaryTable}\n\n${rawTable}\n`);
if (profiles.length) console.log(profiles.join('\n\n'));

const statementSections = Object.entries(statements)
  .flatMap(([side, byEndpoint]) =>
    Object.entries(byEndpoint).map(([endpoint, list]) => {
      const total = list.reduce((sum, [, count]) => sum + count, 0);
      return `### ${side}, ${endpoint}: ${fixed(total, 1)} statements per request\n\n${table(
        ['statement (first 90 characters) [adapter model]', 'per request'],
        list.map(([sql, count]) => [sql.replace(/\|/g, '\\|'), fixed(count, 1)]),
      )}`;
    }),
  )
  .join('\n\n');

const written = writeResult(
  'token-endpoints',
  `# Q-P2 · Token endpoints on PostgreSQL vs bare node-oidc-provider

Target (PRODUCT.md §9 Q-P2): throughput of refresh, client_credentials and introspection ≥ ${pct(TARGET)} of bare
node-oidc-provider with its in-memory adapter, same machine, same run.

- refresh: \`grant_type=refresh_token\` with rotation (each worker follows its own chain); the token comes from a
  handler's sign-in for a unit (scope \`${UNIT_SCOPE}\`), so ours adds the unit claims; answers carry an RS256 ID token.
- client_credentials: \`bench-service\`, no resource (opaque access token, stored by the adapter).
- introspection: \`/token/introspection\` of the worker's user access token by the client it was issued to, without
  \`token_type_hint\`.

\`ratio\` is the spec's measure (ours ÷ bare requests/s, same repeat). \`CPU ratio\` is bare ÷ ours CPU time per
request (server process, all threads, plus our PostgreSQL backends, from /proc): the throughput ratio both would
reach CPU-bound on a machine of their own, and a number that other jobs on a shared machine disturb much less.
\`bare-pg\` is bare node-oidc-provider with a plain PostgreSQL adapter (\`bench/lib/bare-pg-adapter.ts\`: one
parameterised statement per adapter call, on a database of its own): what the round trips to PostgreSQL on this
machine cost the library alone, without any of our work. Its own ratio to bare is the ceiling of Q-P2's measure for
any provider that keeps its artefacts in PostgreSQL here; \`ratio to bare-pg\` is ours against that floor.
Before each endpoint's windows the PostgreSQL sides \`ANALYZE\` their database, as autovacuum does on a running
one (without statistics PostgreSQL re-plans each prepared statement at every execution).
\`RSS MiB\` is the resident set size of the server process right after each window, under that load (issue #15: memory
next to bare node-oidc-provider, whose artefacts all live in that memory).
${candidateTree ? `\n\`candidate\` is the same provider served from ${candidateTree} (a checkout with a change to compare).\n` : ''}
## Machine

${keyValues(info)}

## Parameters

${keyValues({
  concurrency,
  'seconds per window': seconds,
  repeats,
  order: 'rotated each repeat',
  'server env': JSON.stringify({ UV_THREADPOOL_SIZE: '8', ...serverEnv }),
  'database pool': serverEnv.DATABASE_POOL_SIZE ?? '10 (default)',
  database: serverEnv.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres (a fresh database in it)',
})}

## Result

${summaryTable}

## Raw numbers

${rawTable}

## Statements per request

${statementSections}
${profiles.length ? `\n## Profiles\n\n${profiles.join('\n\n')}\n` : ''}`,
);
log(`wrote ${written}`);
