import os from 'node:os';
// Q-P3: token-endpoint latency while a storm of password sign-ins runs (PRODUCT.md §9).
//
// The server is a child process with its own environment, since UV_THREADPOOL_SIZE only counts when set before
// the process starts. A probe sends client-credentials requests for the resource of continuing_education at a
// fixed rate (open loop; each answer is an RS256-signed JWT, i.e. jose's WebCrypto signing on the libuv pool
// that argon2 also uses): first with nothing else running (idle), then during a storm of S browsers posting the
// login form back to back with unknown accounts and wrong passwords (each POST costs one argon2 verification,
// like a real one; random X-Forwarded-For addresses with TRUST_PROXY=true keep the IP lockout from cutting the
// storm short). ratio = p99(storm) ÷ p99(idle); target ≤ 2. Run for the shipped configuration
// (HASH_CONCURRENCY at its default of cores − 1, UV_THREADPOOL_SIZE=8 as `npm start` sets) and without the cap (HASH_CONCURRENCY=16,
// UV_THREADPOOL_SIZE=4), to show what the cap buys.
import crypto from 'node:crypto';
import { HttpClient, openLoop, sleep, type LoadResult } from './lib/http.js';
import { FlowBrowser, tokenRequest } from './lib/flow.js';
import { BENCH_RESOURCE, relyingParty, service } from './lib/clients.js';
import { sharedCerts, startHarness, type Harness } from './lib/servers.js';
import { fixed, keyValues, log, machine, median, option, percentile, table, writeResult } from './lib/report.js';

const TARGET = 2;
const rate = Number(option('rate', 'BENCH_RATE', '100'));
const seconds = Number(option('seconds', 'BENCH_SECONDS', '5'));
const repeats = Number(option('repeats', 'BENCH_REPEATS', '3'));
const stormSize = Number(option('storm', 'BENCH_STORM', '32'));
const database = option('database', 'BENCH_DATABASE', 'postgres') === 'pglite' ? 'pglite' : 'postgres';

interface Configuration {
  name: string;
  env: Record<string, string>;
}
const known: Record<string, Configuration> = {
  shipped: { name: `shipped: HASH_CONCURRENCY default (cores − 1 = ${Math.max(1, os.availableParallelism() - 1)}), UV_THREADPOOL_SIZE=8`, env: { UV_THREADPOOL_SIZE: '8' } },
  uncapped: { name: 'uncapped: HASH_CONCURRENCY=16, UV_THREADPOOL_SIZE=4', env: { HASH_CONCURRENCY: '16', UV_THREADPOOL_SIZE: '4' } },
  // cores − 1 on a 2-core machine: argon2 leaves one core to the event loop (see bench/README.md).
  hash1: { name: 'HASH_CONCURRENCY=1, UV_THREADPOOL_SIZE=8', env: { HASH_CONCURRENCY: '1', UV_THREADPOOL_SIZE: '8' } },
};
const configurations = option('configs', 'BENCH_CONFIGS', 'shipped,uncapped')
  .split(',')
  .map((name) => {
    const found = known[name.trim()];
    if (!found) throw new Error(`unknown configuration ${name}; known: ${Object.keys(known).join(', ')}`);
    return found;
  });

interface Row {
  configuration: string;
  repeat: number;
  idle: LoadResult;
  storm: LoadResult;
  logins: number;
  stormErrors: number;
}
const rows: Row[] = [];

function randomAddress(): string {
  const bytes = crypto.randomBytes(3);
  return `10.${bytes[0]}.${bytes[1]}.${bytes[2]}`;
}

/** S browsers, each on its own login page, posting wrong credentials until stopped. */
async function prepareStorm(harness: Harness, size: number) {
  const http = new HttpClient();
  const rp = relyingParty(harness.url);
  const browsers = await Promise.all(
    Array.from({ length: size }, async () => {
      const browser = new FlowBrowser(http, rp);
      return { browser, form: await browser.loginPage('openid profile') };
    }),
  );
  return {
    start() {
      let running = true;
      let logins = 0;
      let errors = 0;
      const loops = browsers.map(async ({ browser, form }) => {
        while (running) {
          try {
            const reply = await browser.post(
              form.action,
              { _csrf: form.csrf, account: `nobody${crypto.randomBytes(6).toString('hex')}`, password: `wrong password ${crypto.randomBytes(4).toString('hex')}` },
              { 'x-forwarded-for': randomAddress() },
            );
            if (reply.status === 401) logins += 1;
            else errors += 1;
          } catch {
            errors += 1;
          }
        }
      });
      const started = performance.now();
      return {
        /** Stops the storm; returns failed sign-ins per second while it ran and the unexpected answers. */
        async stop() {
          running = false;
          const elapsed = performance.now() - started;
          await Promise.all(loops);
          return { perSecond: (logins * 1000) / elapsed, errors };
        },
      };
    },
    close: () => http.close(),
  };
}

const info = machine();
const certs = await sharedCerts();
try {
  for (const configuration of configurations) {
    log(`starting the provider: ${configuration.name}`);
    const harness = await startHarness({ kind: 'app', database, certsDir: certs.dir, env: { ...configuration.env, TRUST_PROXY: 'true' } });
    const http = new HttpClient();
    const svc = service(harness.url);
    const probe = async () => {
      const tokens = await tokenRequest(http, svc, { grant_type: 'client_credentials', resource: BENCH_RESOURCE, scope: 'biz:continuing_education' });
      if (!tokens.access_token.startsWith('ey')) throw new Error('expected a JWT access token');
    };
    try {
      const storm = await prepareStorm(harness, stormSize);
      await openLoop(rate, 2000, probe); // warm-up
      const warm = storm.start();
      await sleep(1500);
      await warm.stop();
      for (let repeat = 1; repeat <= repeats; repeat += 1) {
        await sleep(500);
        const idle = await openLoop(rate, seconds * 1000, probe);
        const running = storm.start();
        await sleep(1000); // let the queue of sign-ins build up
        const during = await openLoop(rate, seconds * 1000, probe);
        const stormed = await running.stop();
        for (const result of [idle, during]) if (result.errors > 0) log(`probe errors: ${result.errors}, first: ${result.firstError}`);
        rows.push({ configuration: configuration.name, repeat, idle, storm: during, logins: stormed.perSecond, stormErrors: stormed.errors });
        log(
          `#${repeat}: p99 idle ${fixed(percentile(idle.latencies, 99))} ms, storm ${fixed(percentile(during.latencies, 99))} ms, ratio ${fixed(percentile(during.latencies, 99) / percentile(idle.latencies, 99), 2)}; storm ${fixed(stormed.perSecond)} sign-ins/s`,
        );
      }
      storm.close();
    } finally {
      http.close();
      await harness.stop();
    }
  }
} finally {
  certs.remove();
}

const rawTable = table(
  ['configuration', 'repeat', 'idle p50 ms', 'idle p99 ms', 'storm p50 ms', 'storm p99 ms', 'p99 ratio', 'storm sign-ins/s', 'probe answers idle/storm'],
  rows.map((row) => [
    row.configuration,
    String(row.repeat),
    fixed(percentile(row.idle.latencies, 50)),
    fixed(percentile(row.idle.latencies, 99)),
    fixed(percentile(row.storm.latencies, 50)),
    fixed(percentile(row.storm.latencies, 99)),
    fixed(percentile(row.storm.latencies, 99) / percentile(row.idle.latencies, 99), 2),
    fixed(row.logins),
    `${row.idle.count}/${row.storm.count}`,
  ]),
);
const summaryTable = table(
  ['configuration', 'idle p50 / p99 ms', 'storm p50 / p99 ms', 'median p99 ratio', 'pooled p99 ratio', `target ≤ ${TARGET}`, 'storm sign-ins/s'],
  configurations.map(({ name }) => {
    const mine = rows.filter((row) => row.configuration === name);
    const ratios = mine.map((row) => percentile(row.storm.latencies, 99) / percentile(row.idle.latencies, 99));
    const idleAll = mine.flatMap((row) => row.idle.latencies);
    const stormAll = mine.flatMap((row) => row.storm.latencies);
    const ratio = median(ratios);
    return [
      name,
      `${fixed(median(mine.map((row) => percentile(row.idle.latencies, 50))))} / ${fixed(median(mine.map((row) => percentile(row.idle.latencies, 99))))}`,
      `${fixed(median(mine.map((row) => percentile(row.storm.latencies, 50))))} / ${fixed(median(mine.map((row) => percentile(row.storm.latencies, 99))))}`,
      fixed(ratio, 2),
      fixed(percentile(stormAll, 99) / percentile(idleAll, 99), 2),
      ratio <= TARGET ? 'holds' : 'MISSED',
      fixed(median(mine.map((row) => row.logins))),
    ];
  }),
);
console.log(`\nQ-P3 token-endpoint latency during a sign-in storm\n\n${summaryTable}\n\n${rawTable}\n`);

const written = writeResult(
  'token-latency-storm',
  `# Q-P3 · Token-endpoint latency during a password sign-in storm

Target (PRODUCT.md §9 Q-P3): token-endpoint p99 during a storm of password sign-ins ≤ ${TARGET}× its idle p99.

- probe: \`client_credentials\` for the resource ${BENCH_RESOURCE} (an RS256 JWT access token, signed by jose through
  WebCrypto on the libuv pool), open loop at ${rate} requests/s for ${seconds} s, latency from the intended send time;
- storm: ${stormSize} browsers posting the login form back to back (unknown accounts, wrong passwords: one argon2
  verification each, as for a real account); random \`X-Forwarded-For\` addresses with \`TRUST_PROXY=true\` so that
  the per-IP lockout does not end the storm; the storm runs 1 s before and during the probe window;
- idle and storm windows alternate, ${repeats} times per configuration; the server is a child process started
  with the configuration's environment (${database} database).

## Machine

${keyValues(info)}

## Parameters

${keyValues({ 'probe rate': `${rate}/s`, 'seconds per window': seconds, repeats, 'storm browsers': stormSize, database })}

## Result

${summaryTable}

\`median p99 ratio\` is the median over repeats of p99(storm) ÷ p99(idle) of the same repeat; \`pooled\` uses all
samples of a configuration at once.

## Raw numbers

${rawTable}
`,
);
log(`wrote ${written}`);
