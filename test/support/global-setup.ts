import { spawnSync } from 'node:child_process';

/** Process-level tests run the built server (dist/), exactly as `npm start` does: build it once per run. */
export default function globalSetup(): void {
  if (process.env.SKIP_BUILD === '1') return; // when only in-process suites run
  const result = spawnSync(process.execPath, ['tools/build-if-needed.mjs'], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error('build failed');
}
