import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';
import { startTestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createTestDatabase } from '../support/database.js';
import { testClientsFile, TEST_SECRET } from '../support/fixtures.js';
import { freePort, startServerProcess } from '../support/process.js';
import { createPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { startRoundRobin } from '../support/round-robin.js';

describe('reliability (S-51, S-52)', () => {
  it('S-51 when the process is killed with SIGKILL, then keys, sessions, grants and refresh tokens survive and a half-finished sign-in resumes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-s51-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    // The same port (hence the same issuer) before and after the restart.
    const env = { PORT: String(await freePort()), CERTS_DIR: path.join(dir, 'certs'), DATA_DIR: path.join(dir, 'data'), CLIENTS_FILE: path.join(dir, 'clients.json') };
    let running = await startServerProcess(env);
    try {
      const password = fs.readFileSync(path.join(dir, 'data', 'demo-password.txt'), 'utf8').trim();
      const config = await discover(running.url, 'test-rp', TEST_SECRET);
      const browser = new Browser(running.url);
      const first = await authorizationUrl(config);
      const login = await browser.get(first.url.toString());
      const signedIn = await browser.submit(login, 'form#person-login', { account: 'zhangsan', password });
      const tokens = await redeem(config, first, callbackOf(signedIn));
      const jwks = await (await fetch(`${running.url}/jwks`)).text();

      const second = new Browser(running.url);
      const pending = await second.get((await authorizationUrl(config)).url.toString());
      expect(pending.html.querySelector('form#person-login')).not.toBeNull();

      running.child.kill('SIGKILL');
      await running.exited;
      running = await startServerProcess(env);

      expect(await (await fetch(`${running.url}/jwks`)).text()).toBe(jwks);
      const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(refreshed.claims()?.sub).toBe(tokens.claims()?.sub);
      const silent = await authorizationUrl(config, { prompt: 'none' });
      const again = await browser.get(silent.url.toString());
      expect(callbackOf(again).searchParams.get('code')).toBeTruthy();
      const resumed = await second.submit(pending, 'form#person-login', { account: 'lisi', password });
      expect(callbackOf(resumed).searchParams.get('code')).toBeTruthy();
    } finally {
      await running.stop('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  it('S-52 when two instances share one database behind a load balancer, then a sign-in started on one finishes on the other', async () => {
    const database = await createTestDatabase();
    const balancer = await startRoundRobin();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-s52-'));
    const a = await startTestApp({ database, dir, env: { ISSUER: balancer.url } });
    const b = await startTestApp({ database, dir, env: { ISSUER: balancer.url } });
    balancer.setBackends([a.url, b.url]);
    try {
      const person = await createPerson(a.app.services, { verified: true });
      const config = await discover(balancer.url);
      const browser = new Browser(balancer.url);
      const authorization = await authorizationUrl(config);
      const login = await browser.get(authorization.url.toString());
      const done = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
      const tokens = await redeem(config, authorization, callbackOf(done));
      expect(tokens.claims()?.sub).toBe(person.id);
      expect(new Set(balancer.served)).toEqual(new Set([0, 1]));
    } finally {
      await a.close();
      await b.close();
      await balancer.close();
      await database.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
