import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import * as jose from 'jose';
import { runScript, startServerProcess, MAIN, type ServerProcess } from '../support/process.js';
import { testClient, testClientsFile, TEST_SECRET } from '../support/fixtures.js';

const ROTATE = path.resolve('dist/scripts/keys-rotate.js');

describe('the provider as a process (npm start)', () => {
  let dir: string;
  let env: Record<string, string>;
  let running: ServerProcess | undefined;

  const kids = async (url: string) => ((await (await fetch(`${url}/jwks`)).json()) as { keys: jose.JWK[] }).keys.map((k) => `${k.alg}:${k.kid}`);

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-proc-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    env = { CERTS_DIR: path.join(dir, 'certs'), DATA_DIR: path.join(dir, 'data'), CLIENTS_FILE: path.join(dir, 'clients.json') };
  });
  afterEach(async () => {
    await running?.stop('SIGKILL');
    running = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('when started fresh, then it generates keys (0600), serves discovery that openid-client accepts, and the JWKS', async () => {
    running = await startServerProcess(env);
    const config = await client.discovery(new URL(running.url), 'test-rp', TEST_SECRET, undefined, { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata().issuer).toBe(running.url);
    expect(await kids(running.url)).toHaveLength(3);
    for (const file of ['jwks.json', 'cookie-keys.json', 'jwks-state.json']) {
      expect(fs.statSync(path.join(dir, 'certs', file)).mode & 0o777).toBe(0o600);
    }
    expect((await fetch(`${running.url}/readyz`)).status).toBe(200);
  });

  it('when restarted, then it reuses the same key ids; after keys:rotate both generations are published', async () => {
    running = await startServerProcess(env);
    const first = await kids(running.url);
    expect(await running.stop()).toBe(0);
    running = await startServerProcess(env);
    expect(await kids(running.url)).toEqual(first);
    expect(await running.stop()).toBe(0);

    const rotation = await runScript(ROTATE, env);
    expect(rotation.code).toBe(0);
    expect(rotation.stdout).toContain('added and promoted');
    running = await startServerProcess(env);
    const after = await kids(running.url);
    expect(after).toHaveLength(6);
    expect(after).toEqual(expect.arrayContaining(first));
    expect(after[0]).toMatch(/^RS256:/);
    expect(first).not.toContain(after[0]);
  });

  it('when SIGTERM arrives during a request, then the request finishes and the process exits 0', async () => {
    running = await startServerProcess(env);
    const { port } = new URL(running.url);
    const body = 'grant_type=client_credentials';
    const response = new Promise<number>((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/token',
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
            authorization: `Basic ${Buffer.from(`test-rp:${TEST_SECRET}`).toString('base64')}`,
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.write(body.slice(0, 5)); // the request is in flight: headers sent, body incomplete
      setTimeout(() => {
        running?.child.kill('SIGTERM');
        setTimeout(() => request.end(body.slice(5)), 300);
      }, 300);
    });
    expect(await response).toBeGreaterThanOrEqual(200);
    expect(await running.exited).toBe(0);
    expect(running.stdout()).toContain('shutting down');
  });

  describe('when the start cannot succeed, then it prints one line saying what to fix and exits non-zero', () => {
    it('for a bad clients.json, naming the client and the field, and writes nothing', async () => {
      fs.writeFileSync(env.CLIENTS_FILE!, JSON.stringify(testClientsFile([testClient({ redirect_uris: ['not-a-url'] })])));
      const result = await runScript(MAIN, env);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('client "test-rp": redirect_uris must be absolute');
      expect(fs.existsSync(env.CERTS_DIR!)).toBe(false);
      expect(fs.existsSync(env.DATA_DIR!)).toBe(false);
    });

    it('for an unreadable signing key file', async () => {
      fs.mkdirSync(env.CERTS_DIR!, { mode: 0o700 });
      fs.writeFileSync(path.join(env.CERTS_DIR!, 'jwks.json'), '{"keys": [', { mode: 0o600 });
      const result = await runScript(MAIN, env);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('jwks.json is not valid JSON');
    });

    it('for missing keys in production without KEYS_AUTO_GENERATE', async () => {
      const result = await runScript(MAIN, { ...env, NODE_ENV: 'production', ISSUER: 'https://id.example.test', CE: 'x' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('jwks.json not found');
    });

    it('for an unreachable DATABASE_URL', async () => {
      const result = await runScript(MAIN, { ...env, DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('cannot connect to the database at postgres://nobody@127.0.0.1:1/none (ECONNREFUSED)');
    });

    it('for an embedded database already used by another running instance', async () => {
      running = await startServerProcess(env);
      const result = await runScript(MAIN, { ...env, PORT: '0' });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`is in use by process ${running.child.pid}`);
    });
  });
});
