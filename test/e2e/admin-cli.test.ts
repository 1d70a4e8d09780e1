import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runScript } from '../support/process.js';
import { testClientsFile } from '../support/fixtures.js';

const ADMIN = path.resolve('dist/scripts/admin.js');

describe('the operator CLI (npm run admin)', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-admin-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    env = { CERTS_DIR: path.join(dir, 'certs'), DATA_DIR: path.join(dir, 'data'), CLIENTS_FILE: path.join(dir, 'clients.json'), DEMO_DATA: 'false' };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('when an operator is created, listed, reset and disabled, then each command says what it did and bad input exits non-zero', async () => {
    const created = await runScript(ADMIN, env, ['operator:create', '--login', 'counter7', '--name', '第七窗口']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/created operator counter7 \([0-9a-f-]{36}\)/);
    expect(created.stdout).toMatch(/initial password \(shown once\): \S{20}/);

    const listed = await runScript(ADMIN, env, ['operator:list']);
    expect(listed.stdout).toContain('counter7\t第七窗口\tactive\ttotp:pending');

    expect((await runScript(ADMIN, env, ['operator:reset-totp', '--login', 'counter7'])).code).toBe(0);
    const disabled = await runScript(ADMIN, env, ['operator:disable', '--login', 'counter7']);
    expect(disabled.code).toBe(0);
    expect((await runScript(ADMIN, env, ['operator:list'])).stdout).toContain('counter7\t第七窗口\tdisabled');

    const duplicate = await runScript(ADMIN, env, ['operator:create', '--login', 'counter7', '--name', 'again']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('This account name is already taken');
    const unknown = await runScript(ADMIN, env, ['operator:frobnicate']);
    expect(unknown.code).toBe(2);
    const missing = await runScript(ADMIN, env, ['operator:create', '--login', 'x1']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('operator:create needs --login and --name');
  }, 120_000);
});
