import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_SECRET, testClientsFile } from '../support/fixtures.js';
import { freePort, startServerProcess, type ServerProcess } from '../support/process.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { startSmsGateway, type SmsGateway } from '../support/sms-gateway.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { introspect, signInAsUnit, startLogoutReceiver, tryRefresh, unitClientsFile, verifyLogoutToken } from '../support/unit-flows.js';

/**
 * Durable effects with real processes killed at chosen moments (S-55, S-56, S-57, R-B1, R-B4, R-B6), including
 * the unit second-factor policy and the notices to persons. The moments are
 * held open deterministically: a test-only hook (TEST_HOLD_TOKEN_COMMIT_MS, refused in production) right after a
 * refresh token is consumed, or a row lock the test holds on PostgreSQL.
 */
const onPostgres = process.env.TEST_DATABASE_URL ? it : it.skip;

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function tempDir(prefix: string, clients: Record<string, unknown>): { dir: string; env: Record<string, string> } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(clients));
  return { dir, env: { CERTS_DIR: path.join(dir, 'certs'), DATA_DIR: path.join(dir, 'data'), CLIENTS_FILE: path.join(dir, 'clients.json') } };
}

async function signInDemo(url: string, dir: string) {
  const password = fs.readFileSync(path.join(dir, 'data', 'demo-password.txt'), 'utf8').trim();
  const config = await discover(url, 'test-rp', TEST_SECRET);
  const browser = new Browser(url);
  const authorization = await authorizationUrl(config);
  const login = await browser.get(authorization.url.toString());
  const signedIn = await browser.submit(login, 'form#person-login', { account: 'zhangsan', password });
  return { config, tokens: await redeem(config, authorization, callbackOf(signedIn)) };
}

const HOOK_LINE = 'test hook: refresh token consumed, holding before the save';

describe('durable effects (S-55, S-56, S-57)', () => {
  it('S-55 when the provider is killed with SIGKILL between the consume and the save of a refresh, then after restart the retry with the same token succeeds once, the chain continues and a replay still revokes', async () => {
    const { dir, env } = tempDir('uop-s55-', testClientsFile());
    const base = { ...env, PORT: String(await freePort()) };
    let running: ServerProcess = await startServerProcess({ ...base, TEST_HOLD_TOKEN_COMMIT_MS: '60000' });
    try {
      const { config, tokens } = await signInDemo(running.url, dir);
      const original = tokens.refresh_token!;
      const lost = client.refreshTokenGrant(config, original).then(
        () => 'answered',
        () => 'failed',
      );
      await until(() => running.stdout().includes(HOOK_LINE), 'the consume of the refresh token');
      running.child.kill('SIGKILL');
      await running.exited;
      expect(await lost).toBe('failed');

      running = await startServerProcess(base);
      const retried = await tryRefresh(config, original);
      if (!retried.ok) throw new Error(`the retry was refused: ${retried.error}`);
      const next = await tryRefresh(config, retried.tokens.refresh_token!);
      if (!next.ok) throw new Error(`the chain did not continue: ${next.error}`);
      expect(next.claims?.sub).toBe(tokens.claims()?.sub);
      // The retry's successor has been used, so the original token is now a replay: the whole grant goes.
      expect(await tryRefresh(config, original)).toMatchObject({ ok: false, error: 'invalid_grant' });
      expect(await tryRefresh(config, next.tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
    } finally {
      await running.stop('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  onPostgres(
    'S-55 when the database connection drops in the middle of a refresh, then the answer is 503 with nothing consumed, and the retry after recovery succeeds',
    async () => {
      const database = await createTestDatabase('postgres');
      const target = new URL(database.url!);
      const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
      const proxied = new URL(database.url!);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(proxy.port);
      const { dir, env } = tempDir('uop-s55-db-', testClientsFile());
      const running = await startServerProcess({ ...env, DATABASE_URL: proxied.toString(), TEST_HOLD_TOKEN_COMMIT_MS: '1500' });
      try {
        const { config, tokens } = await signInDemo(running.url, dir);
        const original = tokens.refresh_token!;
        const token = ((await fetch(`${running.url}/.well-known/openid-configuration`).then((r) => r.json())) as { token_endpoint: string }).token_endpoint;
        const basic = `Basic ${Buffer.from(`test-rp:${TEST_SECRET}`).toString('base64')}`;
        const post = () =>
          fetch(token, {
            method: 'POST',
            headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: original }).toString(),
          });
        const during = post();
        await until(() => running.stdout().includes(HOOK_LINE), 'the consume of the refresh token');
        await proxy.cut();
        const answer = await during;
        expect(answer.status).toBe(503);
        await proxy.restore();
        const stored = await database.db.query<{ consumed_at: Date | null }>("SELECT consumed_at FROM oidc_model WHERE model = 'RefreshToken' AND id = $1", [original]);
        expect(stored.rows).toEqual([{ consumed_at: null }]);
        // The pool notices its dead connections on use; the retry is answered once it has new ones.
        const retried = await until(async () => {
          const response = await post();
          return response.status === 503 ? undefined : response;
        }, 'the provider to reach the database again');
        expect(retried.status).toBe(200);
        const body = (await retried.json()) as { refresh_token?: string };
        expect(body.refresh_token).toBeTruthy();
        expect(await tryRefresh(config, body.refresh_token!)).toMatchObject({ ok: true });
      } finally {
        await running.stop('SIGKILL');
        await proxy.close();
        await database.drop();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );

  describe('revocation with two instances on PostgreSQL', () => {
    let database: TestDatabase;
    let helper: TestApp;
    let dir: string;
    let env: Record<string, string>;
    let logoutPort: number;
    let zhangsan: TestPerson;
    /** The SMS gateway of the provider process; it refuses (503) until a test lets it through. */
    let gateway: SmsGateway;

    beforeAll(async () => {
      if (!process.env.TEST_DATABASE_URL) return;
      database = await createTestDatabase('postgres');
      logoutPort = await freePort();
      ({ dir, env } = tempDir('uop-s57-', unitClientsFile({ backchannelLogoutUri: `http://127.0.0.1:${logoutPort}/backchannel-logout` })));
      gateway = await startSmsGateway();
      gateway.answer = 503;
      env = {
        ...env,
        PORT: String(await freePort()),
        DATABASE_URL: database.url!,
        DEMO_DATA: 'false',
        JOB_RETRY_BASE_MS: '200',
        SWEEP_INTERVAL_SECONDS: '1',
        SMS_GATEWAY_URL: gateway.url,
      };
      // A second instance on the same database and keys, used by the test to change state (as the admin CLI or
      // any other instance would); its own worker is stopped, so deliveries are the provider process's.
      helper = await startTestApp({
        database,
        dir,
        clients: JSON.parse(fs.readFileSync(env.CLIENTS_FILE!, 'utf8')) as Record<string, unknown>,
        env: { ISSUER: `http://127.0.0.1:${env.PORT}` },
      });
      await helper.app.worker.stop();
      zhangsan = await createPerson(helper.app.services, { verified: true, legalName: '张三' });
    }, 120_000);
    afterAll(async () => {
      if (!process.env.TEST_DATABASE_URL) return;
      await helper.close();
      await gateway.close();
      await database.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    async function handlerSignedIn(
      running: ServerProcess,
    ): Promise<{ handler: TestPerson; unit: TestUnit; bindingId: string; config: client.Configuration; tokens: Awaited<ReturnType<typeof redeem>> }> {
      const services = helper.app.services;
      const handler = await createPerson(services, { verified: true, legalName: '李四' });
      const unit = await createUnit(services, zhangsan, { verified: true, name: `单位${Math.random().toString(36).slice(2, 8)}` });
      const bindingId = await bindHandler(services, unit, handler, ['biz:continuing_education']);
      const config = await discover(running.url);
      const { tokens } = await signInAsUnit(config, running.url, handler, unit.id, { scope: 'openid profile unit biz:continuing_education' });
      expect(tokens.claims()).toMatchObject({ sub: handler.id, unit_id: unit.id });
      return { handler, unit, bindingId, config, tokens };
    }

    type SignedIn = Awaited<ReturnType<typeof handlerSignedIn>>;

    /**
     * Kills the provider right after a change that revoked the sign-in has committed (the RP's endpoint is down, so
     * nothing was delivered), checks that the back-channel logout waits as a job, restarts the provider with the RP
     * up, and checks the logout arrives and the tokens stay dead; `more` runs while the RP still listens. Returns the
     * restarted process.
     */
    async function killedBeforeDelivery(running: ServerProcess, { handler, config, tokens }: SignedIn, more: () => Promise<void> = async () => undefined): Promise<ServerProcess> {
      running.child.kill('SIGKILL');
      await running.exited;
      const { rows } = await database.db.query<{ n: string }>("SELECT count(*) AS n FROM job WHERE kind = 'backchannel_logout' AND state <> 'done'");
      expect(Number(rows[0]!.n)).toBe(1);
      const logout = await startLogoutReceiver(logoutPort);
      try {
        const restarted = await startServerProcess(env);
        const payload = await verifyLogoutToken(await logout.next(30_000), restarted.url, 'test-rp');
        expect(payload).toMatchObject({ sub: handler.id, sid: (tokens.claims() as { sid?: string }).sid });
        expect(await tryRefresh(config, tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
        expect((await introspect(config, tokens.access_token)).active).toBe(false);
        await more();
        expect(await logout.quiet(500)).toBe(0);
        return restarted;
      } finally {
        await logout.close();
      }
    }

    onPostgres(
      'S-57 R-B4 when the unbind has committed and the provider is killed before delivering anything, then after restart the tokens are gone, introspection is inactive, the RP receives the back-channel logout, and binding the person again revives nothing',
      async () => {
        let running = await startServerProcess(env);
        try {
          const signedIn = await handlerSignedIn(running);
          const { handler, unit, bindingId, config, tokens } = signedIn;
          // The RP's endpoint is down for now: nothing can be delivered before the kill.
          await helper.app.services.bindings.unbind(unit.id, bindingId, { actor: { type: 'unit', id: unit.id } });
          running = await killedBeforeDelivery(running, signedIn, async () => {
            await bindHandler(helper.app.services, unit, handler, ['biz:continuing_education']);
            expect(await tryRefresh(config, tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
            expect((await introspect(config, tokens.access_token)).active).toBe(false);
          });
        } finally {
          await running.stop('SIGKILL');
        }
      },
      180_000,
    );

    onPostgres(
      'S-57 R-B6 when the provider is killed inside the expiry sweep, then the binding is not marked without its revocation, and after restart it is revoked and the RP logged out',
      async () => {
        let running = await startServerProcess(env);
        const locker = new pg.Client({ connectionString: database.url });
        await locker.connect();
        try {
          const { handler, bindingId, config, tokens } = await handlerSignedIn(running);
          const grantId = (await database.db.query<{ grant_id: string }>("SELECT grant_id FROM oidc_model WHERE model = 'RefreshToken' AND id = $1", [tokens.refresh_token!]))
            .rows[0]!.grant_id;
          // Hold the grant's rows: the sweep's transaction claims the binding, then waits here to delete them.
          await locker.query('BEGIN');
          await locker.query('SELECT 1 FROM oidc_model WHERE grant_id = $1 FOR UPDATE', [grantId]);
          await database.db.query("UPDATE binding SET valid_until = now() - interval '1 second' WHERE id = $1", [bindingId]);
          await until(async () => {
            const { rows } = await database.db.query<{ n: string }>(
              "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'DELETE FROM oidc_model%'",
            );
            return Number(rows[0]!.n) > 0 || undefined;
          }, 'the sweep to wait on the grant rows');
          running.child.kill('SIGKILL');
          await running.exited;
          await locker.query('ROLLBACK');
          const marked = await database.db.query<{ expiry_processed_at: Date | null }>('SELECT expiry_processed_at FROM binding WHERE id = $1', [bindingId]);
          expect(marked.rows).toEqual([{ expiry_processed_at: null }]);
          expect((await database.db.query('SELECT 1 FROM oidc_model WHERE grant_id = $1', [grantId])).rows.length).toBeGreaterThan(0);

          const logout = await startLogoutReceiver(logoutPort);
          try {
            running = await startServerProcess(env);
            const payload = await verifyLogoutToken(await logout.next(30_000), running.url, 'test-rp');
            expect(payload).toMatchObject({ sub: handler.id });
            expect(await tryRefresh(config, tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
            expect((await introspect(config, tokens.access_token)).active).toBe(false);
            const done = await database.db.query<{ expiry_processed_at: Date | null }>('SELECT expiry_processed_at FROM binding WHERE id = $1', [bindingId]);
            expect(done.rows[0]!.expiry_processed_at).toBeInstanceOf(Date);
          } finally {
            await logout.close();
          }
        } finally {
          await locker.end();
          await running.stop('SIGKILL');
        }
      },
      180_000,
    );

    onPostgres(
      'S-56 when a unit turns its second-factor policy on and the provider is killed before delivering anything, then after restart the password-only grant stays revoked and the RP receives the back-channel logout',
      async () => {
        let running = await startServerProcess(env);
        try {
          const signedIn = await handlerSignedIn(running);
          // The policy change revokes, in its transaction, the grants signed in without a second factor (issue #18).
          expect(await helper.app.services.unitMfa.set(signedIn.unit.id, true, { actor: { type: 'unit', id: signedIn.unit.id } })).toBe(true);
          running = await killedBeforeDelivery(running, signedIn);
        } finally {
          await running.stop('SIGKILL');
        }
      },
      180_000,
    );

    onPostgres(
      'S-56 R-B1 when a binding invitation has committed and the provider is killed before its SMS got through, then after restart the person gets the SMS exactly once and has exactly one notice',
      async () => {
        let running = await startServerProcess(env);
        try {
          const unit = await createUnit(helper.app.services, zhangsan, { verified: true, name: '通知崩溃测试有限公司' });
          const invited = await createPerson(helper.app.services, { verified: true, legalName: '王五' });
          const binding = await helper.app.services.bindings.bind(
            unit.id,
            { account: invited.loginName, scopes: ['biz:continuing_education'] },
            { actor: { type: 'unit', id: unit.id } },
          );
          const toInvited = () => gateway.requests.filter((request) => (request.body as { to?: string }).to === invited.mobile);
          // The provider tries and is refused by the gateway, so nothing is delivered before the kill.
          await until(() => toInvited().length > 0 || undefined, 'a refused delivery attempt');
          running.child.kill('SIGKILL');
          await running.exited;
          const pending = await database.db.query<{ id: string; state: string }>("SELECT id, state FROM job WHERE kind = 'notification' AND payload::text LIKE $1", [
            `%${invited.mobile}%`,
          ]);
          expect(pending.rows).toHaveLength(1);
          expect(['pending', 'running']).toContain(pending.rows[0]!.state);
          // Killed in the middle of an attempt, the job waits for its lease (five minutes) to run out: let that time pass.
          await database.db.query("UPDATE job SET locked_until = now() WHERE id = $1 AND state = 'running'", [pending.rows[0]!.id]);

          gateway.answer = 200;
          const refused = toInvited().length;
          running = await startServerProcess(env);
          await until(() => toInvited().length > refused || undefined, 'the SMS to be delivered');
          await until(
            async () => (await database.db.query<{ state: string }>('SELECT state FROM job WHERE id = $1', [pending.rows[0]!.id])).rows[0]?.state === 'done' || undefined,
            'the job to be done',
          );
          await new Promise((resolve) => setTimeout(resolve, 1000));
          expect(
            toInvited()
              .slice(refused)
              .map((request) => (request.body as { text?: string }).text),
          ).toEqual(['【统一身份认证平台】通知崩溃测试有限公司邀请您成为该单位的经办人员。请登录个人中心，在“待确认的单位授权”中同意或拒绝。']);
          const notices = await database.db.query<{ kind: string; binding_id: string }>('SELECT kind, binding_id FROM person_notice WHERE person_id = $1', [invited.id]);
          expect(notices.rows).toEqual([{ kind: 'binding_invited', binding_id: binding.id }]);
        } finally {
          gateway.answer = 503;
          await running.stop('SIGKILL');
        }
      },
      180_000,
    );
  });
});
