import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAIN, runScript } from '../support/process.js';
import { testClientsFile } from '../support/fixtures.js';

describe('the notifier configuration at start (PRODUCT.md §8)', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-notifier-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    env = {
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.test',
      HOST: '127.0.0.1',
      PORT: '0',
      KEYS_AUTO_GENERATE: 'true',
      CERTS_DIR: path.join(dir, 'certs'),
      DATA_DIR: path.join(dir, 'data'),
      CLIENTS_FILE: path.join(dir, 'clients.json'),
      CE: 'x',
    };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('when production is started without an SMS gateway, then it refuses to start with one line naming SMS_GATEWAY_URL', async () => {
    const result = await runScript(MAIN, env, [], 80_000);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('SMS_GATEWAY_URL must be set in production');
  }, 90_000);

  it('when an SMTP variable is invalid, then the start stops with one line naming it', async () => {
    const result = await runScript(MAIN, { ...env, NODE_ENV: 'development', ISSUER: 'http://127.0.0.1:1', SMTP_URL: 'smtp://mail.example.test' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('SMTP_FROM must be set when SMTP_URL is');
  }, 60_000);
});
