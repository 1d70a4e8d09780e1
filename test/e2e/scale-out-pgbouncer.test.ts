import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPostgresDatabase } from '../support/database.js';
import { testClientsFile } from '../support/fixtures.js';
import { startPgbouncer } from '../support/pgbouncer.js';
import { freePort, runScript, MAIN, startServerProcess } from '../support/process.js';
import { describeScaleOut } from '../support/scale-out.js';

/**
 * Issue #16: the same three instances through Debian's PgBouncer (1.18) in transaction pooling, which forgets
 * named prepared statements between transactions and cannot hold session advisory locks:
 * DATABASE_POOL_MODE=transaction is required, and the start refuses to run without it.
 */
describeScaleOut('scale-out behind HAProxy through PgBouncer transaction pooling (issue #16)', {
  env: { DATABASE_POOL_MODE: 'transaction' },
  through: (url) => startPgbouncer(url, 'transaction'),
  rotation: false,
});

(process.env.TEST_DATABASE_URL ? describe : describe.skip)('PgBouncer pool modes at start (issue #16)', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-pgb-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    env = { CERTS_DIR: path.join(dir, 'certs'), CLIENTS_FILE: path.join(dir, 'clients.json'), DATA_DIR: path.join(dir, 'data'), DEMO_DATA: 'false' };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('when the start meets transaction pooling without DATABASE_POOL_MODE=transaction, then it refuses with one line naming the setting', async () => {
    const database = await createPostgresDatabase();
    const pooler = await startPgbouncer(database.url, 'transaction');
    try {
      const run = await runScript(MAIN, { ...env, PORT: String(await freePort()), DATABASE_URL: pooler.url });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(
        'cannot start: the database connection is pooled per transaction (PgBouncer pool_mode=transaction?): set DATABASE_POOL_MODE=transaction, or use pool_mode=session',
      );
      expect(run.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await pooler.stop();
      await database.drop();
    }
  });

  it('when npm run migrate runs twice through transaction pooling, then it applies every migration once under the transaction lock', async () => {
    const database = await createPostgresDatabase();
    const pooler = await startPgbouncer(database.url, 'transaction');
    const script = MAIN.replace(/src\/main\.js$/, 'scripts/migrate.js');
    try {
      const runEnv = { DATABASE_URL: pooler.url, DATABASE_POOL_MODE: 'transaction' };
      const [first, second] = await Promise.all([runScript(script, runEnv), runScript(script, runEnv)]);
      expect([first.code, second.code]).toEqual([0, 0]);
      expect([first.stdout, second.stdout].filter((out) => out.startsWith('applied: '))).toHaveLength(1);
      expect((await runScript(script, runEnv)).stdout).toContain('the schema is up to date');
      expect((await runScript(script, { DATABASE_URL: pooler.url })).stderr).toContain('cannot migrate: the database connection is pooled per transaction');
    } finally {
      await pooler.stop();
      await database.drop();
    }
  });

  it('when PgBouncer pools per session, then the default mode (named prepared statements) works', async () => {
    const database = await createPostgresDatabase();
    const pooler = await startPgbouncer(database.url, 'session');
    const running = await startServerProcess({ ...env, DATABASE_URL: pooler.url });
    try {
      for (let i = 0; i < 5; i += 1) expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
      const discovery = await fetch(`${running.url}/.well-known/openid-configuration`);
      expect(discovery.status).toBe(200);
    } finally {
      await running.stop();
      await pooler.stop();
      await database.drop();
    }
  });
});
