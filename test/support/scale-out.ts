import * as jose from 'jose';
import { migrations } from '../../migrations/index.js';
import { Browser, type Page } from './browser.js';
import { CC_CLIENT, METRICS_TOKEN, startCluster, startLoad, whileLoad, type Cluster, type LoadResult } from './cluster.js';
import { createPostgresDatabase } from './database.js';
import { sampleValue, scrapeMetrics } from './metrics.js';
import { createPerson, mobile } from './people.js';
import { basicAuthorization, codeOf, codeRequest, fetchMetadata, postForm, redeemCode, signInFor, stringField, TEST_RP, type ProviderMetadata } from './oauth.js';
import { MAIN, runScript } from './process.js';

/**
 * Issue #16: three instances (real processes) on one PostgreSQL database behind Debian's HAProxy, round robin
 * without stickiness (S-52). Needs PostgreSQL: PGlite is one process's database.
 */

const KEYS_ROTATE = MAIN.replace(/src\/main\.js$/, 'scripts/keys-rotate.js');

/** Records which instance served each request (HAProxy's X-Served-By). */
class TracingBrowser extends Browser {
  readonly served: (string | null)[] = [];
  override async request(url: string, init: RequestInit = {}): Promise<Page> {
    const page = await super.request(url, init);
    this.served.push(page.headers.get('x-served-by'));
    return page;
  }
}

export interface ScaleOutOptions {
  env?: Record<string, string>;
  /** Puts something between the instances and PostgreSQL (a pooler); returns the URL to use instead. */
  through?: (url: string) => Promise<{ url: string; stop(): Promise<void> }>;
  /** Run the staged key rotation with rolling restarts (independent of the database path, so run once). */
  rotation?: boolean;
}

/** The scale-out suite; run directly (test/e2e/scale-out.test.ts) and through PgBouncer. */
export function describeScaleOut(title: string, { env = {}, through, rotation = true }: ScaleOutOptions = {}): void {
  (process.env.TEST_DATABASE_URL ? describe : describe.skip)(title, () => {
    let database: Awaited<ReturnType<typeof createPostgresDatabase>>;
    let pooler: { url: string; stop(): Promise<void> } | undefined;
    let cluster: Cluster;
    let metadata: ProviderMetadata;

    beforeAll(async () => {
      database = await createPostgresDatabase();
      pooler = through ? await through(database.url) : undefined;
      cluster = await startCluster({ databaseUrl: pooler?.url ?? database.url, env });
      metadata = await fetchMetadata(cluster.balancer.url);
    }, 120_000);
    afterAll(async () => {
      await cluster?.close();
      await pooler?.stop();
      await database?.drop();
    });

    const clientCredentials = async (): Promise<LoadResult> => {
      const response = await fetch(metadata.token_endpoint, {
        method: 'POST',
        headers: { authorization: basicAuthorization(CC_CLIENT.clientId, CC_CLIENT.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const body = (await response.json()) as { access_token?: string };
      return { ok: response.status === 200 && typeof body.access_token === 'string', status: response.status, servedBy: response.headers.get('x-served-by') };
    };

    it('S-52 when three instances start together on an empty database, then the migrations are applied once and all three are up', async () => {
      const { rows } = await cluster.helper.db.query<{ name: string }>('SELECT name FROM schema_migrations');
      expect(rows.map((row) => row.name).sort()).toEqual(migrations.map((migration) => migration.name).sort());
      expect(Object.values(await cluster.balancer.states())).toEqual(['UP', 'UP', 'UP']);
    });

    it('S-52 when a sign-in starts on one instance, then it finishes on another (no stickiness) and the tokens work on the third', async () => {
      const person = await createPerson(cluster.helper.app.services);
      const browser = new TracingBrowser(cluster.balancer.url);
      const request = codeRequest(metadata);
      const callback = await signInFor(browser, request, person.loginName, person.password);
      const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(callback));
      expect(tokens.status).toBe(200);
      expect(new Set(browser.served).size).toBeGreaterThanOrEqual(2);
      // The sign-in page and the form it posted were answered by different instances.
      const loginPage = browser.served.findIndex((_, index) => index > 0);
      expect(browser.served[loginPage]).not.toBe(browser.served[loginPage + 1]);
      const userinfo = await Promise.all([1, 2, 3].map(() => fetch(metadata.userinfo_endpoint, { headers: { authorization: `Bearer ${stringField(tokens, 'access_token')}` } })));
      expect(userinfo.map((response) => response.status)).toEqual([200, 200, 200]);
      expect(new Set(userinfo.map((response) => response.headers.get('x-served-by'))).size).toBe(3);
    });

    it('S-21 S-52 when wrong passwords arrive at different instances, then the lockout is shared, and so is a rate limit', async () => {
      const person = await createPerson(cluster.helper.app.services);
      const served: (string | null)[] = [];
      const statuses: number[] = [];
      for (let attempt = 0; attempt < 6; attempt += 1) {
        await fetch(`${cluster.balancer.url}/healthz`); // shifts the round robin, so the posts land on each instance
        const browser = new TracingBrowser(cluster.balancer.url);
        const login = await browser.get(codeRequest(metadata).url);
        const page = await browser.submit(login, 'form#person-login', { account: person.loginName, password: 'wrong password, attempt' });
        served.push(browser.served.at(-1) ?? null);
        statuses.push(page.status);
        if (attempt === 5) expect(Browser.text(page)).toContain('登录失败次数过多');
      }
      expect(statuses.slice(0, 5).every((status) => status === 400 || status === 401)).toBe(true);
      expect(statuses[5]).toBe(429);
      expect(new Set(served).size).toBe(3);

      // One SMS code a minute per number, whichever instance is asked.
      const number = mobile();
      const answers: { status: number; servedBy: string | null }[] = [];
      for (let round = 0; round < 2; round += 1) {
        const browser = new TracingBrowser(cluster.balancer.url);
        const form = await browser.get('/register');
        const page = await browser.submit(form, 'form[action="/register/code"]', { mobile: number });
        answers.push({ status: page.status, servedBy: browser.served.at(-1) ?? null });
      }
      expect(answers.map((answer) => answer.status)).toEqual([200, 429]);
      expect(answers[0]!.servedBy).not.toBe(answers[1]!.servedBy);
    });

    if (rotation)
      it("S-12 when keys are staged, promoted and the instances restarted one by one under steady token load, then no request fails and every token's key is published by whichever instance is asked", async () => {
        const workers = 3;
        const chains: string[] = [];
        for (let worker = 0; worker < workers; worker += 1) {
          const person = await createPerson(cluster.helper.app.services);
          const request = codeRequest(metadata);
          const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(await signInFor(new Browser(cluster.balancer.url), request, person.loginName, person.password)));
          chains.push(stringField(tokens, 'refresh_token'));
        }
        const idTokens: string[] = [];
        let unpublished = 0;
        const load = startLoad(workers, async (worker) => {
          const response = await postForm(metadata.token_endpoint, { grant_type: 'refresh_token', refresh_token: chains[worker]! }, TEST_RP);
          if (response.status !== 200) return { ok: false, status: response.status, servedBy: response.headers.get('x-served-by') };
          chains[worker] = stringField(response, 'refresh_token');
          const idToken = stringField(response, 'id_token');
          idTokens.push(idToken);
          // An RP meeting this kid fetches the JWKS once: whichever instance answers must publish it.
          const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: { kid: string }[] };
          if (!jwks.keys.some((key) => key.kid === jose.decodeProtectedHeader(idToken).kid)) unpublished += 1;
          return { ok: true, status: 200, servedBy: response.headers.get('x-served-by') };
        });
        try {
          await whileLoad(load, 10);
          const keyEnv = { CERTS_DIR: cluster.certsDir, CLIENTS_FILE: cluster.env.CLIENTS_FILE!, DEMO_DATA: 'false' };
          const staged = await runScript(KEYS_ROTATE, keyEnv, ['--stage']);
          expect(staged.code).toBe(0);
          for (const instance of cluster.instances) {
            await cluster.restart(instance);
            await whileLoad(load, 5);
          }
          const promoted = await runScript(KEYS_ROTATE, keyEnv, ['--promote']);
          expect(promoted.code).toBe(0);
          for (const instance of cluster.instances) {
            await cluster.restart(instance);
            await whileLoad(load, 5);
          }
        } finally {
          await load.stop();
        }
        expect(load.results.filter((result) => !result.ok)).toEqual([]);
        expect(unpublished).toBe(0);
        const kids = idTokens.map((token) => jose.decodeProtectedHeader(token).kid);
        expect(new Set(kids).size).toBe(2); // signed with the old key, then with the promoted one
        const finalJwks = jose.createLocalJWKSet((await (await fetch(metadata.jwks_uri)).json()) as jose.JSONWebKeySet);
        for (const token of idTokens) await jose.jwtVerify(token, finalJwks, { issuer: metadata.issuer, audience: 'test-rp' });
      }, 120_000);

    it('S-51 when one instance is killed under load, then only the requests in flight on it fail and the others carry on', async () => {
      const load = startLoad(4, clientCredentials);
      const victim = cluster.instances[1]!;
      let inFlightAtKill = 0;
      let before = 0;
      try {
        await whileLoad(load, 40);
        before = load.results.length;
        inFlightAtKill = load.inFlight();
        victim.process!.child.kill('SIGKILL');
        await victim.process!.exited;
        await cluster.balancer.waitFor(victim.name, 'DOWN');
        await whileLoad(load, 40);
      } finally {
        await load.stop();
      }
      expect(load.results.slice(0, before).every((result) => result.ok)).toBe(true);
      const failed = load.results.filter((result) => !result.ok);
      expect(failed.length).toBeLessThanOrEqual(inFlightAtKill);
      expect(load.results.slice(-20).every((result) => result.ok && result.servedBy !== victim.name)).toBe(true);
      await cluster.start(victim);
      expect((await clientCredentials()).ok).toBe(true);
    }, 60_000);

    it('when metrics are scraped, then each instance serves them on its metrics port with the token and never on the public listener', async () => {
      const publicMetrics = await fetch(`${cluster.balancer.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}`, accept: 'application/json' } });
      expect(publicMetrics.status).toBe(404);
      for (const instance of cluster.instances) {
        const url = `http://127.0.0.1:${instance.metricsPort}/metrics`;
        expect((await fetch(url)).status).toBe(401);
        const before = await scrapeMetrics(url, METRICS_TOKEN);
        for (let i = 0; i < 3; i += 1) expect((await clientCredentials()).ok).toBe(true);
        const after = await scrapeMetrics(url, METRICS_TOKEN);
        const labels = { grant_type: 'client_credentials', client_id: CC_CLIENT.clientId };
        expect(sampleValue(after, 'uop_tokens_issued_total', labels) - sampleValue(before, 'uop_tokens_issued_total', labels)).toBe(1);
        expect(sampleValue(after, 'uop_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
        expect(sampleValue(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      }
    });
  });
}
