import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { metricNames, sampleValue, scrapeMetrics } from '../support/metrics.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { codeOf, codeRequest, fetchMetadata, redeemCode, refresh, signInFor, stringField, TEST_RP, type ProviderMetadata } from '../support/oauth.js';
import { startRpServer, type RpServer } from '../support/rp-server.js';

/** Issue #16: Prometheus metrics, behind a token on the public listener (METRICS_TOKEN without METRICS_PORT). */

const TOKEN = 'metrics-token-0123456789abcdef';

describe('metrics on the public listener behind a token', () => {
  let app: TestApp;
  let receiver: RpServer;
  let metadata: ProviderMetadata;
  let person: TestPerson;
  let victim: TestPerson;
  const metricsUrl = () => `${app.url}/metrics`;

  beforeAll(async () => {
    receiver = await startRpServer();
    app = await startTestApp({ env: { METRICS_TOKEN: TOKEN }, clients: testClientsFile([testClient({ backchannel_logout_uri: `${receiver.url}/backchannel-logout` })]) });
    metadata = await fetchMetadata(app.url);
    person = await createPerson(app.app.services);
    victim = await createPerson(app.app.services);
  });
  afterAll(async () => {
    await app?.close();
    await receiver?.close();
  });

  it('when /metrics is asked without the token or with a wrong one, then it answers 401 with a Bearer challenge', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong-token-0123456789' }, { authorization: `Basic ${TOKEN}` }]) {
      const response = await fetch(metricsUrl(), { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect(await response.text()).not.toContain('uop_');
    }
  });

  it('when real sign-ins, token requests, failures, a lockout and a logout happen, then their series move', async () => {
    const before = await scrapeMetrics(metricsUrl(), TOKEN);

    const browser = new Browser(app.url);
    const request = codeRequest(metadata, { scope: 'openid profile' });
    const tokens = await redeemCode(metadata, TEST_RP, request, codeOf(await signInFor(browser, request, person.loginName, person.password)));
    expect(tokens.status).toBe(200);
    expect((await refresh(metadata, TEST_RP, stringField(tokens, 'refresh_token'))).status).toBe(200);

    for (let attempt = 0; attempt < 6; attempt += 1) {
      const other = new Browser(app.url);
      const login = await other.get(codeRequest(metadata).url);
      const page = await other.submit(login, 'form#person-login', { account: victim.loginName, password: 'not the password at all' });
      expect(page.status).toBeGreaterThanOrEqual(400);
    }

    const end = new URL(metadata.end_session_endpoint);
    end.searchParams.set('id_token_hint', stringField(tokens, 'id_token'));
    const confirm = await browser.get(end.toString());
    await browser.submit(confirm, 'form[id="op.logoutForm"]', {}, { name: 'logout', value: 'yes' });
    await receiver.next(5000);

    const after = await scrapeMetrics(metricsUrl(), TOKEN);
    const delta = (name: string, labels: Record<string, string> = {}) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    expect(delta('uop_sign_in_attempts_total', { kind: 'person', result: 'success' })).toBe(1);
    expect(delta('uop_sign_in_attempts_total', { kind: 'person', result: 'failure' })).toBe(5);
    expect(delta('uop_sign_in_attempts_total', { kind: 'person', result: 'locked' })).toBe(1);
    expect(delta('uop_lockouts_total', { scope: 'login:person' })).toBe(1);
    expect(delta('uop_tokens_issued_total', { grant_type: 'authorization_code', client_id: 'test-rp' })).toBe(1);
    expect(delta('uop_tokens_issued_total', { grant_type: 'refresh_token', client_id: 'test-rp' })).toBe(1);
    expect(delta('uop_backchannel_logout_total', { client_id: 'test-rp', result: 'success' })).toBe(1);
    expect(delta('uop_password_hash_wait_seconds_count')).toBe(6);
    expect(delta('uop_db_query_duration_seconds_count', { outcome: 'ok' })).toBeGreaterThan(20);
    // Route templates, not raw paths: the interaction id never appears in a label.
    expect(delta('uop_http_request_duration_seconds_count', { route: 'oidc:token', method: 'POST', status: '200' })).toBe(2);
    expect(delta('uop_http_request_duration_seconds_count', { route: 'oidc:authorization', method: 'GET' })).toBeGreaterThanOrEqual(7);
    expect(delta('uop_http_request_duration_seconds_count', { route: '/interaction/:uid/login', method: 'POST' })).toBeGreaterThanOrEqual(7);
    expect(after).not.toMatch(/route="\/interaction\/[A-Za-z0-9_-]{10,}/);

    expect(sampleValue(after, 'uop_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(after, 'uop_signing_key_age_seconds', { alg: 'RS256' })).toBeGreaterThanOrEqual(0);
    expect(after).toMatch(/^uop_signing_key_age_seconds\{alg="ES256"\} /m);
    for (const name of [
      'uop_password_hash_queue_length',
      'uop_jobs_queued',
      'uop_jobs_failed_total',
      'uop_jobs_retried_total',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(metricNames(after)).toContain(name);
    }
  });
});

describe('metrics off by default', () => {
  it('when neither METRICS_PORT nor METRICS_TOKEN is set, then the public listener has no /metrics', async () => {
    const app = await startTestApp();
    try {
      const response = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/json' } });
      expect(response.status).toBe(404);
      expect(await response.text()).not.toContain('uop_');
    } finally {
      await app.close();
    }
  });
});
