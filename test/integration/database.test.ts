import { openDatabase, migrate } from '../../src/shared/db/database.js';
import { migrations } from '../../migrations/index.js';
import { createPostgresDatabase } from '../support/database.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { startTestApp } from '../support/app.js';

const withPostgres = process.env.TEST_DATABASE_URL ? describe : describe.skip;

describe('embedded database', () => {
  it('when migrations run twice, then the second run applies nothing', async () => {
    const db = await openDatabase({ url: undefined });
    try {
      expect(await migrate(db)).toEqual(migrations.map((Migration) => new Migration().name));
      expect(await migrate(db)).toEqual([]);
    } finally {
      await db.close();
    }
  });
});

withPostgres('PostgreSQL', () => {
  it('when two instances start together on one database, then the migrations are applied exactly once', async () => {
    const created = await createPostgresDatabase();
    const [a, b] = await Promise.all([openDatabase({ url: created.url }), openDatabase({ url: created.url })]);
    try {
      const applied = await Promise.all([migrate(a), migrate(b)]);
      expect(applied.flat()).toEqual(migrations.map((Migration) => new Migration().name));
      const { rows } = await a.query<{ count: string }>('SELECT count(*) AS count FROM schema_migrations');
      expect(Number(rows[0]?.count)).toBe(migrations.length);
    } finally {
      await a.close();
      await b.close();
      await created.drop();
    }
  });

  it('S-50 when the database goes away while running, then /readyz and the provider answer 503, and serve again once it is back', async () => {
    const created = await createPostgresDatabase();
    const target = new URL(created.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(created.url);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const db = await openDatabase({ url: viaProxy.toString(), poolSize: 2 });
    await migrate(db);
    const app = await startTestApp({ database: { db, url: viaProxy.toString(), drop: async () => undefined } });
    try {
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      await proxy.cut();
      const ready = await fetch(`${app.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'unavailable' });
      const token = await fetch(`${app.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=refresh_token&refresh_token=abc&client_id=test-rp&client_secret=x',
      });
      expect([400, 401, 503]).toContain(token.status);
      const auth = await fetch(
        `${app.url}/auth?client_id=test-rp&response_type=code&scope=openid&redirect_uri=http://rp.test/cb&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`,
        { redirect: 'manual' },
      );
      expect(auth.status).toBe(503);
      const page = await auth.text();
      expect(page).toContain('服务暂时不可用');
      expect(page).not.toMatch(/ECONNREFUSED|at .*\.js/);
      await proxy.restore();
      let status = 0;
      for (let attempt = 0; attempt < 20 && status !== 200; attempt += 1) {
        status = (await fetch(`${app.url}/readyz`)).status;
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(status).toBe(200);
    } finally {
      await app.close();
      await db.close();
      await proxy.close();
      await created.drop();
    }
  });
});
