import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.dirname(BENCH_DIR);
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile (p in 0–100) of unsorted samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function fixed(value: number, digits = 1): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

export function pct(ratio: number): string {
  return Number.isFinite(ratio) ? `${(ratio * 100).toFixed(1)}%` : '–';
}

/** A Markdown table whose columns are padded, so that it also reads well in a terminal. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, index) => Math.max(cell.length, ...rows.map((row) => (row[index] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, index) => cell.padEnd(widths[index]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

/** What the numbers were measured on: they only compare with numbers from the same machine and run. */
export function machine(): Record<string, string> {
  const cpus = os.cpus();
  const status = git(['status', '--porcelain', '--', 'src', 'migrations', 'views']);
  const dirty = status && status !== '?' ? ' (src/ has uncommitted changes)' : '';
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: `${cpus[0]?.model ?? '?'} × ${cpus.length} (available parallelism ${os.availableParallelism()})`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    commit: `${git(['rev-parse', '--short', 'HEAD'])}${dirty}`,
    'load average at start': os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(' '),
  };
}

export function keyValues(entries: Record<string, string | number>): string {
  return Object.entries(entries)
    .map(([key, value]) => `- ${key}: ${value}`)
    .join('\n');
}

/** Writes bench/results/<name>.md (or the name given with --out, e.g. for a variant's run) and says where. */
export function writeResult(name: string, markdown: string): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${option('out', 'BENCH_OUT', name).replace(/[^A-Za-z0-9._-]/g, '_')}.md`);
  const end = `- load average at end: ${os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(' ')}`;
  const text = markdown.replace(/^(- load average at start: .*)$/m, `$1\n${end}`);
  fs.writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
  return file;
}

/** `--name value` or `--name=value` from the command line, else the environment variable, else the default. */
export function option(name: string, env: string, fallback: string): string {
  const args = process.argv.slice(2);
  for (let index = 0; index < args.length; index += 1) {
    const arg = args[index]!;
    if (arg === `--${name}` && args[index + 1] !== undefined) return args[index + 1]!;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return process.env[env] || fallback;
}

export function flagOption(name: string, env: string): boolean {
  return process.argv.slice(2).includes(`--${name}`) || ['1', 'true', 'yes'].includes((process.env[env] ?? '').toLowerCase());
}

export function numbers(raw: string): number[] {
  return raw
    .split(',')
    .map((part) => Number(part.trim()))
    .filter((value) => Number.isFinite(value) && value > 0);
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
