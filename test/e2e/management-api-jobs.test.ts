import { startTestApp, type TestApp } from '../support/app.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { jobsSettled } from '../support/jobs.js';
import { createPerson, mobile } from '../support/people.js';
import { manageTokenFor } from '../support/rp.js';
import { startSmsGateway, type SmsGateway } from '../support/sms-gateway.js';
import { createUnit } from '../support/units.js';
import { base32Decode, currentStep, hotp } from '../../src/shared/security/totp.js';

/**
 * Issue #17: failed jobs in the management API (S-56): an operator token lists the parked jobs (never their
 * message text) and retries one (audited); other account kinds are refused (S-45, S-47). Through the real HTTP app.
 */

describe('the management API: failed jobs (issue #17)', () => {
  let app: TestApp;
  let gateway: SmsGateway;
  let operatorToken: string;
  let unitToken: string;
  let operatorId: string;

  const call = (token: string | undefined, path: string, init: RequestInit = {}) =>
    fetch(`${app.url}/api/v1${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) } });

  const tokenFor = (clientId: string, signIn: Parameters<typeof manageTokenFor>[3]) => manageTokenFor(app.issuer, app.url, clientId, signIn);

  beforeAll(async () => {
    gateway = await startSmsGateway();
    app = await startTestApp({
      env: { SMS_GATEWAY_URL: gateway.url, JOB_MAX_ATTEMPTS: '2' },
      clients: testClientsFile([
        testClient(),
        testClient({ client_id: 'unit-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'unit' }),
        testClient({ client_id: 'counter-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'operator' }),
      ]),
    });
    const contact = await createPerson(app.app.services, { verified: true });
    const unit = await createUnit(app.app.services, contact);
    const operator = await app.app.services.operators.create(`opjobs${Date.now().toString(36)}`, '接口窗口', 'Operator-jobs-password-0123');
    operatorId = operator.operator.id;
    operatorToken = await tokenFor('counter-admin', async (browser, login) => {
      const second = await browser.submit(login, 'form[action$="/operator-login"]', { account: operator.operator.loginName, password: 'Operator-jobs-password-0123' });
      const secret = second.html.querySelector('code')?.text.replace(/\s+/g, '') ?? '';
      return browser.submit(second, 'form[action$="/totp"]', { totp: hotp(base32Decode(secret), currentStep(new Date())) });
    });
    unitToken = await tokenFor('unit-admin', (browser, login) => browser.submit(login, 'form#unit-login', { account: unit.loginName, password: unit.password }));
    await jobsSettled(app.db);
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await gateway?.close();
  });

  it('when the OpenAPI document is fetched, then it describes the failed-jobs list and the retry', async () => {
    const document = (await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, unknown> };
    };
    expect(document.paths['/counter/jobs/failed']?.get).toBeDefined();
    expect(document.paths['/counter/jobs/{id}/retry']?.post).toBeDefined();
    expect(document.components.schemas.FailedJob).toBeDefined();
  });

  it('S-56 when an SMS fails for good, then the operator lists it without its text and a retry through the API delivers it (audited); a second retry is 404', async () => {
    gateway.answer = 500;
    const to = mobile();
    await app.db.transaction((tx) =>
      app.app.services.jobs.enqueue(tx, { kind: 'notification', payload: { channel: 'sms', to, template: 'test', body: `您的验证码是 654321（接口测试）` } }),
    );
    for (let round = 0; round < 300 && (await app.app.services.jobs.counts()).failed === 0; round += 1) await new Promise((resolve) => setTimeout(resolve, 20));

    const listed = await call(operatorToken, '/counter/jobs/failed');
    expect(listed.status).toBe(200);
    expect(listed.headers.get('cache-control')).toBe('no-store');
    const text = await listed.text();
    expect(text).not.toContain('654321');
    const body = JSON.parse(text) as { counts: { failed: number }; jobs: { id: string; kind: string; summary: string; attempts: number; lastError: string; failedAt: string }[] };
    expect(body.counts.failed).toBeGreaterThanOrEqual(1);
    const job = body.jobs.find((entry) => entry.summary.includes(`${to.slice(0, 3)}****${to.slice(-4)}`))!;
    expect(job).toMatchObject({ kind: 'notification', attempts: 2 });
    expect(job.lastError).toBe('notifier_failed');
    expect(Date.parse(job.failedAt)).not.toBeNaN();

    gateway.answer = 200;
    const retried = await call(operatorToken, `/counter/jobs/${job.id}/retry`, { method: 'POST' });
    expect(retried.status).toBe(204);
    await jobsSettled(app.db);
    expect(gateway.lastText(to)).toContain('654321');
    const audit = await app.db.query("SELECT 1 FROM audit_event WHERE action = 'job.retry' AND target_id = $1 AND actor_id = $2", [job.id, operatorId]);
    expect(audit.rows).toHaveLength(1);
    const again = await call(operatorToken, `/counter/jobs/${job.id}/retry`, { method: 'POST' });
    expect(again.status).toBe(404);
    expect(((await again.json()) as { error: string }).error).toBe('not_found');
  });

  it('S-45 S-53 when a unit token asks for the failed jobs, or the id is not a job id, then 403 and 404, never a 500', async () => {
    expect((await call(unitToken, '/counter/jobs/failed')).status).toBe(403);
    expect((await call(unitToken, '/counter/jobs/00000000-0000-4000-8000-000000000000/retry', { method: 'POST' })).status).toBe(403);
    expect((await call(undefined, '/counter/jobs/failed')).status).toBe(401);
    for (const id of ['not-a-uuid', "1' OR '1'='1", '00000000-0000-4000-8000-000000000000']) {
      const answer = await call(operatorToken, `/counter/jobs/${encodeURIComponent(id)}/retry`, { method: 'POST' });
      expect([id, answer.status]).toEqual([id, 404]);
    }
  });
});
