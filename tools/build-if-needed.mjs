// Builds dist/ with tsc when any source is newer than the last build, so `npm start` works on a fresh clone
// and costs nothing when the build is current. Plain JavaScript: it must run before anything is compiled.
// `--install` (npm's `prepare`, run by `npm install` and `npm ci`): the same build, so that the first `npm start`
// is ready in seconds; skipped where it cannot apply (production-only installs without TypeScript, or a Docker
// layer that has package.json but no sources yet).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'dist', '.build-stamp');
const sources = [
  'src',
  'packages/rp-kit/src',
  'packages/rp-kit/tsconfig.json',
  'migrations',
  'scripts',
  'demo',
  'bench/rp-verify.ts',
  'tsconfig.json',
  'tsconfig.build.json',
  'package.json',
];

function newest(entry) {
  const full = path.join(root, entry);
  if (!fs.existsSync(full)) return 0;
  const stat = fs.statSync(full);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs.readdirSync(full).reduce((max, name) => Math.max(max, newest(path.join(entry, name))), stat.mtimeMs);
}

const install = process.argv.includes('--install');
if (install && (!fs.existsSync(path.join(root, 'node_modules', 'typescript')) || !fs.existsSync(path.join(root, 'src')))) {
  process.exit(0);
}

const built = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
if (sources.some((entry) => newest(entry) > built)) {
  process.stderr.write(
    install ? 'building the provider (tsc, once after install; about half a minute)…\n' : 'building the provider (tsc, after a source change; about half a minute)…\n',
  );
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // The RP kit workspace first: the demo systems and bench/rp-verify import it by its package name.
  const kit = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'packages', 'rp-kit', 'tsconfig.json')], { stdio: 'inherit' });
  if (kit.status !== 0) process.exit(kit.status ?? 1);
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  // The embedded database a fresh DATA_DIR starts from (skips PGlite's initdb at the first start).
  const template = spawnSync(process.execPath, [path.join(root, 'dist', 'scripts', 'pglite-template.js')], { stdio: 'inherit' });
  if (template.status !== 0) process.exit(template.status ?? 1);
  fs.writeFileSync(stamp, new Date().toISOString());
  if (install) process.stderr.write('built: `npm start` is ready to run.\n');
}
