import crypto from 'node:crypto';
import { JobQueue } from '../../src/modules/jobs/queue.js';
import { JobWorker } from '../../src/modules/jobs/worker.js';
import { HttpSmsNotifier } from '../../src/shared/notifier/http-sms.js';
import { createLogger } from '../../src/shared/logger.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';
import { jobsSettled } from '../support/jobs.js';
import { createPerson, mobile } from '../support/people.js';
import { startSmsGateway, type SmsGateway } from '../support/sms-gateway.js';
import { signInOperator } from '../support/security.js';

const logger = createLogger('silent');

/** S-56: the job queue in the database, on both databases (PGlite: one connection). */
describe.each(databaseKinds())('job queue on %s', (kind) => {
  let test: TestDatabase;
  let gateway: SmsGateway;

  beforeAll(async () => {
    test = await createTestDatabase(kind);
    gateway = await startSmsGateway();
  });
  afterAll(async () => {
    await gateway.close();
    await test.drop();
  });
  beforeEach(async () => {
    await test.db.query('DELETE FROM job');
    gateway.answer = 200;
    gateway.requests.length = 0;
  });

  const sms = (to: string) => ({ kind: 'notification', payload: { channel: 'sms', to, template: 'test', body: `您的验证码是 123456（${to}）` } });

  it('S-56 when the enqueuing transaction rolls back, then there is no job; when it commits, there is one and the worker is woken after the commit', async () => {
    const queue = new JobQueue(test.db, { maxAttempts: 3, retryBaseMs: 1 });
    let woken = 0;
    queue.onEnqueued(() => {
      woken += 1;
    });
    await expect(
      test.db.transaction(async (tx) => {
        await queue.enqueue(tx, sms('13800000001'));
        throw new Error('state change refused');
      }),
    ).rejects.toThrow('state change refused');
    expect(await queue.counts()).toMatchObject({ pending: 0 });
    expect(woken).toBe(0);
    await test.db.transaction((tx) => queue.enqueue(tx, [sms('13800000002'), sms('13800000003')]));
    expect(await queue.counts()).toMatchObject({ pending: 2 });
    expect(woken).toBe(1);
  });

  it('S-56 when the gateway fails twice and then accepts, then the message is sent once, after three attempts, and its text is no longer stored', async () => {
    const queue = new JobQueue(test.db, { maxAttempts: 5, retryBaseMs: 1 });
    const notifier = new HttpSmsNotifier({ url: gateway.url, token: undefined, timeoutMs: 2000, logger });
    const worker = new JobWorker(queue, { notification: (payload) => notifier.send(payload as never) }, logger, { pollMs: 10 });
    const to = mobile();
    let answers = [503, 500];
    gateway.answer = answers[0]!;
    await test.db.transaction((tx) => queue.enqueue(tx, sms(to)));
    for (let round = 0; round < 200 && (await queue.counts()).done === 0; round += 1) {
      const attempted = gateway.requests.length;
      await worker.runOnce();
      if (gateway.requests.length > attempted) {
        answers = answers.slice(1);
        gateway.answer = answers[0] ?? 200;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const delivered = gateway.requests.filter((request) => (request.body as { to?: string }).to === to);
    expect(delivered).toHaveLength(3);
    expect(gateway.lastText(to)).toContain('123456');
    const { rows } = await test.db.query<{ state: string; attempts: number; payload: unknown }>('SELECT state, attempts, payload FROM job');
    expect(rows).toEqual([{ state: 'done', attempts: 3, payload: {} }]);
  });

  it('S-56 when the gateway always fails, then the job is parked as failed after its attempts, listed for operators, and a retry delivers it', async () => {
    const queue = new JobQueue(test.db, { maxAttempts: 3, retryBaseMs: 1 });
    const notifier = new HttpSmsNotifier({ url: gateway.url, token: undefined, timeoutMs: 2000, logger });
    const worker = new JobWorker(queue, { notification: (payload) => notifier.send(payload as never) }, logger, { pollMs: 10 });
    gateway.answer = 500;
    const to = mobile();
    await test.db.transaction((tx) => queue.enqueue(tx, sms(to)));
    for (let round = 0; round < 200 && (await queue.counts()).failed === 0; round += 1) {
      await worker.runOnce();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(gateway.requests).toHaveLength(3);
    expect(await queue.counts()).toMatchObject({ failed: 1, pending: 0, running: 0 });
    const [failed] = await queue.listFailed();
    expect(failed).toMatchObject({ kind: 'notification', attempts: 3, summary: `sms ${to.slice(0, 3)}****${to.slice(-4)} (test)` });
    expect(failed!.lastError).toBeTruthy();
    expect(JSON.stringify(failed)).not.toContain('123456');
    // Nothing more happens by itself.
    await worker.runOnce();
    expect(gateway.requests).toHaveLength(3);

    gateway.answer = 200;
    expect(await queue.retry(failed!.id)).toBe(true);
    expect(await queue.retry(failed!.id)).toBe(false);
    await worker.runOnce();
    expect(await queue.counts()).toMatchObject({ failed: 0, done: 1 });
    expect(gateway.requests).toHaveLength(4);
  });

  it('S-56 when workers claim side by side, then no job is claimed twice; a job whose worker died is claimed again after its lease', async () => {
    let at = new Date();
    const queue = new JobQueue(test.db, { maxAttempts: 3, retryBaseMs: 1, now: () => at });
    await test.db.transaction((tx) =>
      queue.enqueue(
        tx,
        Array.from({ length: 30 }, (_, index) => sms(`1380000${String(index).padStart(4, '0')}`)),
      ),
    );
    const claims = await Promise.all([queue.claim(10), queue.claim(10), queue.claim(10), queue.claim(10)]);
    const ids = claims.flat().map((job) => job.id);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    expect(await queue.claim(10)).toHaveLength(0);
    at = new Date(at.getTime() + 6 * 60 * 1000);
    expect(await queue.claim(50)).toHaveLength(30);
  });

  it('S-57 when the sweep runs, then delivered jobs go after a day and parked ones after 30 days, in batches; pending ones stay', async () => {
    let at = new Date();
    const queue = new JobQueue(test.db, { maxAttempts: 1, retryBaseMs: 1, now: () => at });
    const worker = new JobWorker(
      queue,
      {
        ok: async () => undefined,
        broken: async () => {
          throw new Error('down');
        },
      },
      logger,
      { pollMs: 10 },
    );
    await test.db.transaction((tx) => queue.enqueue(tx, [...Array.from({ length: 5 }, () => ({ kind: 'ok', payload: {} })), { kind: 'broken', payload: {} }]));
    while ((await worker.runOnce()) > 0) {
      /* deliver all */
    }
    await test.db.transaction((tx) => queue.enqueue(tx, { kind: 'ok', payload: {} }));
    expect(await queue.counts()).toMatchObject({ done: 5, failed: 1, pending: 1 });
    at = new Date(at.getTime() + 25 * 3600 * 1000);
    expect(await queue.sweep(2)).toBe(5);
    expect(await queue.counts()).toMatchObject({ done: 0, failed: 1, pending: 1 });
    at = new Date(at.getTime() + 30 * 24 * 3600 * 1000);
    expect(await queue.sweep()).toBe(1);
    expect(await queue.counts()).toMatchObject({ failed: 0, pending: 1 });
  });

  it('S-56 when a job kind has no handler, then it is retried and parked rather than lost', async () => {
    const queue = new JobQueue(test.db, { maxAttempts: 2, retryBaseMs: 1 });
    const worker = new JobWorker(queue, {}, logger, { pollMs: 10 });
    await test.db.transaction((tx) => queue.enqueue(tx, { kind: 'unknown_effect', payload: {} }));
    for (let round = 0; round < 100 && (await queue.counts()).failed === 0; round += 1) {
      await worker.runOnce();
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await queue.listFailed())[0]).toMatchObject({ kind: 'unknown_effect', lastError: 'no handler for job kind unknown_effect' });
  });
});

describe('job queue in the application', () => {
  let app: TestApp;
  let gateway: SmsGateway;

  beforeAll(async () => {
    gateway = await startSmsGateway();
    app = await startTestApp({ env: { SMS_GATEWAY_URL: gateway.url, JOB_MAX_ATTEMPTS: '2' } });
  }, 60_000);
  afterAll(async () => {
    await app.close();
    await gateway.close();
  });

  it('S-56 when a code is requested and the worker is not running, then the request has written its SMS job and called no gateway; a decoy request writes a decoy job the same way (S-22)', async () => {
    await app.app.worker.stop();
    try {
      const person = await createPerson(app.app.services, { verified: true });
      const before = gateway.requests.length;
      const real = await app.app.services.persons.startPasswordReset(person.loginName, 'zh-CN', '127.0.0.1');
      const decoy = await app.app.services.persons.startPasswordReset(`nobody${crypto.randomBytes(3).toString('hex')}`, 'zh-CN', '127.0.0.2');
      expect(real).toMatch(/^[0-9a-f-]{36}$/);
      expect(decoy).toMatch(/^[0-9a-f-]{36}$/);
      expect(gateway.requests.length).toBe(before);
      const { rows } = await app.db.query<{ kind: string }>("SELECT kind FROM job WHERE state = 'pending' ORDER BY created_at");
      expect(rows.map((row) => row.kind)).toEqual(['notification', 'notification_decoy']);
    } finally {
      app.app.worker.start();
    }
    await jobsSettled(app.db);
    expect(await app.app.services.jobs.counts()).toMatchObject({ pending: 0, running: 0, failed: 0 });
  });

  it('S-56 when the SMS gateway always fails, then the operator console lists the parked job without its text and its retry button queues it again (audited)', async () => {
    await app.db.query('DELETE FROM rate_limit');
    gateway.answer = 500;
    const person = await createPerson(app.app.services, { verified: true });
    await app.app.services.persons.startPasswordReset(person.loginName, 'zh-CN', '127.0.0.3');
    for (let round = 0; round < 200 && (await app.app.services.jobs.counts()).failed === 0; round += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const browser = new Browser(app.url);
    await signInOperator(app, browser);
    const page = await browser.get('/operator/jobs');
    expect(page.status).toBe(200);
    const row = page.html.querySelector('#failed-jobs tbody tr');
    expect(row?.text).toContain(`${person.mobile.slice(0, 3)}****${person.mobile.slice(-4)}`);
    expect(page.html.querySelector('#job-counts')?.text).toContain('失败 1');
    expect(page.html.toString()).not.toMatch(/验证码/);

    gateway.answer = 200;
    const jobId = row!.getAttribute('data-job')!;
    const retried = await browser.submit(page, `tr[data-job="${jobId}"] form`);
    expect(retried.status).toBe(200);
    expect(retried.html.querySelector('#retried')).not.toBeNull();
    await jobsSettled(app.db);
    expect(gateway.lastText(person.mobile)).toMatch(/\d{6}/);
    expect(await app.app.services.jobs.counts()).toMatchObject({ failed: 0 });
    const { rows } = await app.db.query("SELECT 1 FROM audit_event WHERE action = 'job.retry' AND target_id = $1", [jobId]);
    expect(rows).toHaveLength(1);
    const again = await browser.submit(page, `tr[data-job="${jobId}"] form`);
    expect(again.status).toBe(404);
  });
});
