// Q-P5: `npm start` to a ready discovery document on the embedded database (PRODUCT.md §9), an absolute bar.
//
// After a build (tools/build-if-needed.mjs), each run starts the server four ways, in turn:
//   main.js, fresh:    node dist/src/main.js (what `npm start` runs after its build check) with empty DATA_DIR and
//                      CERTS_DIR: PGlite initdb, key generation, migrations, demo data;
//   main.js, existing: the same directories again;
//   npm start, fresh / existing: the same through `npm start` (npm itself, the build check, then main.js).
// Time = from spawning the process to the first 200 of /.well-known/openid-configuration. The server's own log
// lines (keys generated, migrations applied, ready) give where the time went. Median of N runs; target ≤ 3 s.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { fixed, flagOption, keyValues, log, machine, median, option, ROOT, table, writeResult } from './lib/report.js';
import { summarize, type CpuProfile } from './lib/profile.js';

const TARGET_MS = 3000;
const runs = Number(option('runs', 'BENCH_RUNS', '3'));
const profile = flagOption('profile', 'BENCH_PROFILE');
const variants = option('variants', 'BENCH_VARIANTS', 'main-fresh,main-existing,npm-fresh,npm-existing').split(',');
const phasesToo = flagOption('phases', 'BENCH_PHASES');
/** Extra environment for the server, to try a fix without editing src/: --env NAME=value,NAME=value. */
const extraEnv = Object.fromEntries(
  option('env', 'BENCH_START_ENV', '')
    .split(',')
    .filter((pair) => pair.includes('='))
    .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
);

interface Start {
  variant: string;
  run: number;
  readyMs: number;
  /** From spawn to the server's log lines, ms. */
  keysMs?: number;
  migrationsMs?: number;
  readyLogMs?: number;
  /** CPU time (user + system, all threads) the start used until ready: barely affected by other jobs. */
  cpuMs: number;
}

/** user + system time of the process group (live members and the children they reaped), ms; ticks are 10 ms. */
function groupCpuMs(leader: number): number {
  let ticks = 0;
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[2] is the process group; [11..14] utime, stime, cutime, cstime
      if (Number(name) === leader || Number(fields[2]) === leader) {
        ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
      }
    } catch {
      // gone meanwhile
    }
  }
  return ticks * 10;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function discovery(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/.well-known/openid-configuration', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.setTimeout(5000, () => req.destroy());
  });
}

function logTimes(output: string, spawnedAt: number): Pick<Start, 'keysMs' | 'migrationsMs' | 'readyLogMs'> {
  const times: Pick<Start, 'keysMs' | 'migrationsMs' | 'readyLogMs'> = {};
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { time?: string; msg?: string };
      const at = entry.time ? Date.parse(entry.time) - spawnedAt : undefined;
      if (at === undefined) continue;
      if (entry.msg === 'generated signing and cookie keys') times.keysMs = at;
      else if (entry.msg === 'applied database migrations') times.migrationsMs = at;
      else if (entry.msg?.startsWith('ready:')) times.readyLogMs = at;
    } catch {
      // not a log line
    }
  }
  return times;
}

type DatabaseModule = typeof import('../src/shared/db/database.js');

/**
 * The suggested fix for fresh starts, simulated without touching src/: an embedded database initialised and
 * migrated once (as a build step would), copied into an empty DATA_DIR before the start. Returns the template.
 */
async function pgliteTemplate(): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-pgdata-template-'));
  const { openDatabase, migrate } = (await import(pathToFileURL(path.join(ROOT, 'dist/src/shared/db/database.js')).href)) as DatabaseModule;
  const db = await openDatabase({ url: undefined, dataDir: dir });
  await migrate(db);
  await db.close();
  fs.rmSync(path.join(dir, 'pgdata', 'postmaster.pid'), { force: true });
  return dir;
}

async function start(variant: string, run: number, dirs: { data: string; certs: string }, extraArgs: string[] = [], template?: string): Promise<Start> {
  let copyMs = 0;
  if (template) {
    const copyStart = performance.now();
    fs.mkdirSync(dirs.data, { recursive: true, mode: 0o700 });
    fs.cpSync(path.join(template, 'pgdata'), path.join(dirs.data, 'pgdata'), { recursive: true });
    copyMs = performance.now() - copyStart;
  }
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.homedir(),
    TMPDIR: os.tmpdir(),
    PORT: String(port),
    DATA_DIR: dirs.data,
    CERTS_DIR: dirs.certs,
    ...extraEnv,
  };
  const viaNpm = variant.startsWith('npm');
  const spawnedAt = Date.now() - copyMs;
  const began = performance.now() - copyMs;
  const child: ChildProcess = viaNpm
    ? spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, ['--enable-source-maps', ...extraArgs, 'dist/src/main.js'], {
        cwd: ROOT,
        env: { ...env, UV_THREADPOOL_SIZE: '8' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.on('exit', () => {
      exited = true;
      resolve();
    }),
  );
  let readyMs = Number.NaN;
  let cpuMs = Number.NaN;
  for (;;) {
    if (exited) throw new Error(`${variant}: the server exited before it was ready:\n${output}`);
    if (performance.now() - began > 60_000) break;
    if ((await discovery(port)) === 200) {
      readyMs = performance.now() - began;
      cpuMs = groupCpuMs(child.pid!);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Stop it as an operator would (SIGTERM; npm: the whole process group) and wait until it is gone.
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, name);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const killer = setTimeout(() => signal('SIGKILL'), 15_000);
  await exit;
  clearTimeout(killer);
  if (Number.isNaN(readyMs)) throw new Error(`${variant}: not ready within 60 s:\n${output}`);
  return { variant, run, readyMs, cpuMs, ...logTimes(output, spawnedAt) };
}

const info = machine();
log('build check (tools/build-if-needed.mjs)');
const buildStart = performance.now();
const build = spawnSync(process.execPath, ['tools/build-if-needed.mjs'], { cwd: ROOT, encoding: 'utf8' });
if (build.status !== 0) throw new Error(`build failed:\n${build.stderr}`);
const buildMs = performance.now() - buildStart;
const built = build.stderr.includes('building');
log(built ? `built dist/ in ${fixed(buildMs / 1000)} s` : 'dist/ is current');
const checkStart = performance.now();
spawnSync(process.execPath, ['tools/build-if-needed.mjs'], { cwd: ROOT });
const checkMs = performance.now() - checkStart;

const starts: Start[] = [];
const temp: string[] = [];
const profiles: string[] = [];
const phaseRuns: { when: string; phases: { phase: string; wallMs: number; cpuMs: number }[] }[] = [];
try {
  if (variants.includes('main-fresh-template')) {
    log('making the pgdata template (initdb + migrations) for main-fresh-template');
    temp.push(await pgliteTemplate());
  }
  const template = temp[0];
  for (let run = 1; run <= runs; run += 1) {
    if (template) {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-start-'));
      temp.push(base);
      const result = await start('main-fresh-template', run, { data: path.join(base, 'data'), certs: path.join(base, 'certs') }, [], template);
      starts.push(result);
      log(`main-fresh-template #${run}: ready in ${fixed(result.readyMs, 0)} ms (copy included)`);
    }
    for (const kind of ['main', 'npm']) {
      if (!variants.some((variant) => variant.startsWith(`${kind}-fresh`) || variant === `${kind}-existing`)) continue;
      const base = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-start-'));
      temp.push(base);
      const dirs = { data: path.join(base, 'data'), certs: path.join(base, 'certs') };
      for (const when of ['fresh', 'existing']) {
        const variant = `${kind}-${when}`;
        const wanted = variants.includes(variant);
        // An existing-data start needs the fresh one before it, timed or not.
        if (!wanted && !(when === 'fresh' && variants.includes(`${kind}-existing`))) continue;
        const result = await start(variant, run, dirs);
        if (!wanted) continue;
        starts.push(result);
        log(`${variant} #${run}: ready in ${fixed(result.readyMs, 0)} ms`);
      }
    }
  }
  if (phasesToo) {
    for (let run = 1; run <= runs; run += 1) {
      const base = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-start-'));
      temp.push(base);
      for (const when of ['fresh', 'existing']) {
        const env = {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? os.homedir(),
          TMPDIR: os.tmpdir(),
          UV_THREADPOOL_SIZE: '8',
          PORT: String(await freePort()),
          DATA_DIR: path.join(base, 'data'),
          CERTS_DIR: path.join(base, 'certs'),
          ...extraEnv,
        };
        // Node's own type stripping runs this file: it has no decorators or parameter properties.
        const result = spawnSync(process.execPath, [path.join(ROOT, 'bench/lib/start-phases.ts')], { cwd: ROOT, env, encoding: 'utf8' });
        if (result.status !== 0) throw new Error(`start-phases failed:\n${result.stderr}`);
        phaseRuns.push({ when, phases: (JSON.parse(result.stdout.trim().split('\n').pop()!) as { phases: { phase: string; wallMs: number; cpuMs: number }[] }).phases });
      }
      log(`phases #${run} done`);
    }
  }
  if (profile) {
    for (const when of ['fresh', 'existing']) {
      const base = temp.find((dir) => fs.existsSync(path.join(dir, 'data')))!;
      const dirs =
        when === 'fresh' ? { data: path.join(base, 'profile-data'), certs: path.join(base, 'profile-certs') } : { data: path.join(base, 'data'), certs: path.join(base, 'certs') };
      const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-start-profile-'));
      const result = await start(`main-${when}`, 0, dirs, ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
      const file = path.join(
        profileDir,
        fs.readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'))!,
      );
      const summary = summarize(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile);
      profiles.push(
        [
          `### main.js, ${when} data (ready in ${fixed(result.readyMs, 0)} ms under the profiler): ${file}`,
          '',
          table(
            ['module (self time, main thread)', 'ms', 'share'],
            summary.byModule.slice(0, 15).map((entry) => [entry.module, fixed(entry.ms, 0), `${fixed(entry.share * 100)}%`]),
          ),
          '',
          table(
            ['function (self time)', 'ms', 'share'],
            summary.byFunction.slice(0, 15).map((entry) => [entry.fn, fixed(entry.ms, 0), `${fixed(entry.share * 100)}%`]),
          ),
        ].join('\n'),
      );
    }
  }
} finally {
  for (const dir of temp) fs.rmSync(dir, { recursive: true, force: true });
}

const summaryTable = table(
  ['variant', 'median ready ms', 'min', 'max', `target ≤ ${TARGET_MS} ms`, 'CPU ms to ready', 'keys generated at', 'migrations applied at', '"ready" logged at'],
  variants.map((variant) => {
    const mine = starts.filter((entry) => entry.variant === variant);
    const ready = median(mine.map((entry) => entry.readyMs));
    const at = (key: 'keysMs' | 'migrationsMs' | 'readyLogMs') => {
      const values = mine.map((entry) => entry[key]).filter((value): value is number => value !== undefined);
      return values.length ? fixed(median(values), 0) : '–';
    };
    return [
      variant,
      fixed(ready, 0),
      fixed(Math.min(...mine.map((entry) => entry.readyMs)), 0),
      fixed(Math.max(...mine.map((entry) => entry.readyMs)), 0),
      ready <= TARGET_MS ? 'holds' : 'MISSED',
      fixed(median(mine.map((entry) => entry.cpuMs)), 0),
      at('keysMs'),
      at('migrationsMs'),
      at('readyLogMs'),
    ];
  }),
);
const rawTable = table(
  ['variant', 'run', 'ready ms', 'CPU ms to ready', 'keys generated at', 'migrations applied at', '"ready" logged at'],
  starts.map((entry) => [
    entry.variant,
    String(entry.run),
    fixed(entry.readyMs, 0),
    fixed(entry.cpuMs, 0),
    entry.keysMs === undefined ? '–' : fixed(entry.keysMs, 0),
    entry.migrationsMs === undefined ? '–' : fixed(entry.migrationsMs, 0),
    entry.readyLogMs === undefined ? '–' : fixed(entry.readyLogMs, 0),
  ]),
);
const phaseTable =
  phaseRuns.length === 0
    ? ''
    : table(
        ['phase (startServer steps, dist/)', 'fresh: wall ms', 'fresh: CPU ms', 'existing: wall ms', 'existing: CPU ms'],
        [...new Set(phaseRuns.flatMap((entry) => entry.phases.map((phase) => phase.phase.replace(/ \(.*\)$/, ''))))].map((name) => {
          const of = (when: string, key: 'wallMs' | 'cpuMs') => {
            const values = phaseRuns
              .filter((entry) => entry.when === when)
              .map((entry) => entry.phases.find((phase) => phase.phase.replace(/ \(.*\)$/, '') === name)?.[key])
              .filter((value): value is number => value !== undefined);
            return values.length ? fixed(median(values), 0) : '–';
          };
          return [name, of('fresh', 'wallMs'), of('fresh', 'cpuMs'), of('existing', 'wallMs'), of('existing', 'cpuMs')];
        }),
      );
console.log(`\nQ-P5 start to a ready discovery document (embedded database)\n\n${summaryTable}\n\n${rawTable}\n${phaseTable ? `\n${phaseTable}\n` : ''}`);
if (profiles.length) console.log(profiles.join('\n\n'));

const written = writeResult(
  'startup',
  `# Q-P5 · \`npm start\` to a ready discovery document (embedded database)

Target (PRODUCT.md §9 Q-P5): ≤ ${TARGET_MS} ms from \`npm start\` to a discovery document that answers 200, on the
embedded database (PGlite), after install. An absolute bar, unlike the other benchmarks: the machine matters.

- \`main-*\`: \`node --enable-source-maps dist/src/main.js\` with \`UV_THREADPOOL_SIZE=8\`, as \`npm start\` runs it after
  its build check; \`npm-*\`: \`npm start --silent\` itself (npm, \`tools/build-if-needed.mjs\`, then main.js).
- \`fresh\`: empty temporary DATA_DIR and CERTS_DIR (PGlite initdb, key generation, migrations, demo data);
  \`existing\`: the same directories started again.
- \`main-fresh-template\` (only when asked for, \`--variants main-fresh-template,…\`): simulates the suggested fix for
  fresh starts: an embedded database initialised and migrated once beforehand is copied into the empty DATA_DIR
  (the copy is included in the time), so the start skips PGlite's initdb.
- Environment: PATH, HOME, PORT, DATA_DIR, CERTS_DIR only (development mode, demo data, \`info\` logs).
- Times are from spawning the process; "at" columns are the server's own log lines, relative to the spawn.
- \`CPU ms to ready\`: user + system time of the process group (all threads, npm and the build check included)
  until ready, from /proc. Other jobs on a shared machine stretch the wall-clock time but hardly this, so it shows
  whether a change made the start cheaper even when the machine is busy. It exceeds the wall-clock time on an idle
  machine, since V8 compiles WebAssembly and collects garbage on other threads meanwhile.

## Machine

${keyValues(info)}

## Parameters

${keyValues({
  runs,
  variants: variants.join(', '),
  'extra environment': Object.keys(extraEnv).length ? JSON.stringify(extraEnv) : 'none',
  build: built ? `dist/ rebuilt before the runs in ${fixed(buildMs / 1000)} s` : 'dist/ was current',
  'build check when current (part of npm start)': `${fixed(checkMs, 0)} ms`,
})}

## Result

${summaryTable}

## Raw numbers

${rawTable}
${phaseTable ? `\n## Where the time goes (--phases; medians of ${runs} runs; bench/lib/start-phases.ts times the steps of startServer())\n\n${phaseTable}\n` : ''}${profiles.length ? `\n## Profiles\n\n${profiles.join('\n\n')}\n` : ''}`,
);
log(`wrote ${written}`);
