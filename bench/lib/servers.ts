import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadKeys } from '../../src/oidc/keys.js';
import { BENCH_DIR } from './report.js';
import { summarize, type CpuProfile, type ProfileSummary } from './profile.js';

/** The WAL the server's own database wrote during a window (bench/lib/harness.ts `walBetween`; PostgreSQL only). */
export interface WalStats {
  bytes: number;
  records: number;
  /** Full-page images. */
  fpi: number;
  fpiBytes: number;
  byRelation: Record<string, { bytes: number; fpi: number; records: number }>;
  /** A checkpoint began during the window (after it, each page's first change is logged whole). */
  checkpointDuring: boolean;
}

export interface HarnessSpec {
  kind: 'app' | 'bare' | 'bare-pg';
  database?: 'postgres' | 'pglite';
  certsDir: string;
  /** Environment of the server process on top of ours (UV_THREADPOOL_SIZE, HASH_CONCURRENCY, TRUST_PROXY, …). */
  env?: Record<string, string>;
  /**
   * Another checkout to serve from (its bench/lib/harness.ts and src/), e.g. a worktree with a candidate fix,
   * to compare it with this one in the same run. Default: this checkout.
   */
  tree?: string;
}

export interface Harness {
  url: string;
  pid: number;
  call<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  /**
   * Runs `work` and measures the CPU it made the server use: its process (all threads) and its PostgreSQL
   * backends. Unlike throughput, CPU per operation hardly changes when other jobs compete for the machine.
   */
  /** Also the server's resident set size (MiB) when `work` ends, i.e. right after the load. */
  /** With `{ wal: true }` (PostgreSQL), also the WAL its database wrote meanwhile, read after the CPU sample. */
  cpu<T>(work: () => Promise<T>, options?: { wal?: boolean }): Promise<{ result: T; serverMs: number; databaseMs: number; rssMb: number; wal?: WalStats }>;
  /** Profiles the server's main thread while `work` runs; returns the summary and where the profile is. */
  profile(label: string, work: () => Promise<unknown>): Promise<{ file: string; summary: ProfileSummary }>;
  stop(): Promise<void>;
}

/** Signing and cookie keys generated once per benchmark run and shared by every server it starts. */
export async function sharedCerts(): Promise<{ dir: string; remove(): void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-bench-certs-'));
  await loadKeys({ dir, generate: true });
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Forks bench/lib/harness.ts (TypeScript run through bench/register.mjs) and waits until it serves. */
export async function startHarness(spec: HarnessSpec): Promise<Harness> {
  const benchDir = spec.tree ? path.join(path.resolve(spec.tree), 'bench') : BENCH_DIR;
  const child: ChildProcess = fork(path.join(benchDir, 'lib', 'harness.ts'), [], {
    cwd: path.dirname(benchDir),
    execArgv: ['--import', pathToFileURL(path.join(benchDir, 'register.mjs')).href],
    env: {
      ...process.env,
      UV_THREADPOOL_SIZE: '8', // what `npm start` sets
      ...spec.env,
      BENCH_HARNESS: JSON.stringify({ kind: spec.kind, database: spec.database, certsDir: spec.certsDir }),
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  });
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      for (const waiter of pending.values()) waiter.reject(new Error(`server exited with ${code}:\n${output}`));
      resolve(code);
    }),
  );
  const ready = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
    child.on('message', (message: { ready?: boolean; url?: string; pid?: number; id?: number; ok?: boolean; result?: unknown; error?: string }) => {
      if (message.ready) {
        resolve({ url: message.url!, pid: message.pid! });
        return;
      }
      const waiter = pending.get(message.id ?? -1);
      if (!waiter) return;
      pending.delete(message.id!);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(message.error));
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before it was ready:\n${output}`)));
  });
  const call = <T>(cmd: string, args: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId;
      nextId += 1;
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      child.send({ id, cmd, args });
    });
  return {
    ...ready,
    call,
    async cpu(work, options = {}) {
      type Sample = { processMs: number; backends: Record<string, number>; rssMb: number; walLsn?: string };
      const before = await call<Sample>('cpu');
      const result = await work();
      const after = await call<Sample>('cpu');
      let databaseMs = 0;
      for (const [pid, ms] of Object.entries(after.backends)) databaseMs += ms - (before.backends[pid] ?? 0);
      // Read after the CPU sample, so that reading the WAL is not counted as the window's CPU.
      // A window whose WAL could not be read (removed after a checkpoint, see harness.ts) is left without it.
      const wal =
        options.wal && before.walLsn && after.walLsn
          ? await call<WalStats>('wal', { from: before.walLsn, to: after.walLsn }).catch((error: unknown) => {
              process.stderr.write(`WAL of the window not read: ${String(error)}\n`);
              return undefined;
            })
          : undefined;
      return { result, serverMs: after.processMs - before.processMs, databaseMs, rssMb: after.rssMb, wal };
    },
    async profile(label, work) {
      await call('profile', { action: 'start' });
      let failure: unknown;
      await work().catch((error: unknown) => {
        failure = error;
      });
      const file = await call<string>('profile', { action: 'stop', file: path.join(os.tmpdir(), `uop-bench-${label}-${Date.now()}.cpuprofile`) });
      if (failure) throw failure;
      return { file, summary: summarize(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile) };
    },
    async stop() {
      if (child.exitCode !== null) return;
      await Promise.race([call('stop').catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
