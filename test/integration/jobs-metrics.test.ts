import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { sampleValue, scrapeMetrics } from '../support/metrics.js';
import { mobile } from '../support/people.js';
import { signInOperator } from '../support/security.js';
import { startSmsGateway, type SmsGateway } from '../support/sms-gateway.js';

/**
 * Issue #16 (job queue depth, retries and failures in the metrics; failed jobs on the operator dashboard), S-56.
 * The application's own worker is stopped and run by hand, one batch at a time, so each outcome is known.
 */

const TOKEN = 'metrics-token-jobs-0123456789abcdef';

describe('job queue metrics and failed jobs on the dashboard', () => {
  let app: TestApp;
  let gateway: SmsGateway;

  beforeAll(async () => {
    gateway = await startSmsGateway();
    app = await startTestApp({ env: { METRICS_TOKEN: TOKEN, SMS_GATEWAY_URL: gateway.url, JOB_MAX_ATTEMPTS: '2' } });
    await app.app.worker.stop();
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await gateway?.close();
  });

  const scrape = () => scrapeMetrics(`${app.url}/metrics`, TOKEN);
  const sms = (to: string) => ({ kind: 'notification', payload: { channel: 'sms', to, template: 'test', body: `测试短信（${to}）` } });
  const enqueue = (to: string) => app.db.transaction((tx) => app.app.services.jobs.enqueue(tx, sms(to)));
  /** Runs the worker once a job is due (a retried one waits for its backoff of some tens of milliseconds). */
  async function runDue(): Promise<void> {
    for (let round = 0; round < 200; round += 1) {
      if ((await app.app.worker.runOnce()) > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('no job became due');
  }
  const failedChart = (page: Page) => {
    const section = page.html.querySelector('#chart-failed_jobs');
    if (!section) throw new Error(`no failed-jobs chart:\n${Browser.text(page).slice(0, 600)}`);
    return { total: Number(section.querySelector('.total')?.text), values: section.querySelectorAll('rect').map((rect) => Number(rect.getAttribute('data-value'))) };
  };

  it('when a job completes, one is retried and then delivered, and one parks, then the counters and the depth by kind and state move on the scrape, and the dashboard shows the failed job', async () => {
    const browser = new Browser(app.url);
    await signInOperator(app, browser);
    const dashboardBefore = failedChart(await browser.get('/operator/dashboard'));
    const before = await scrape();
    const delta = (text: string, name: string) => sampleValue(text, name, { kind: 'notification' }) - sampleValue(before, name, { kind: 'notification' });

    // Completes at the first attempt.
    gateway.answer = 200;
    await enqueue(mobile());
    await runDue();
    let now = await scrape();
    expect(delta(now, 'uop_jobs_completed_total')).toBe(1);
    expect(delta(now, 'uop_jobs_retried_total')).toBe(0);

    // Fails once, is retried, then is delivered.
    gateway.answer = 500;
    await enqueue(mobile());
    await runDue();
    now = await scrape();
    expect(delta(now, 'uop_jobs_retried_total')).toBe(1);
    expect(sampleValue(now, 'uop_jobs_queued', { kind: 'notification', state: 'pending' })).toBe(1);
    gateway.answer = 200;
    await runDue();
    now = await scrape();
    expect(delta(now, 'uop_jobs_completed_total')).toBe(2);
    expect(sampleValue(now, 'uop_jobs_queued', { kind: 'notification', state: 'pending' })).toBe(0);

    // Fails at both of its attempts and is parked for an operator.
    gateway.answer = 500;
    const failedBefore = sampleValue(before, 'uop_jobs_queued', { kind: 'notification', state: 'failed' });
    await enqueue(mobile());
    await runDue();
    await runDue();
    now = await scrape();
    expect(delta(now, 'uop_jobs_retried_total')).toBe(2);
    expect(delta(now, 'uop_jobs_failed_total')).toBe(1);
    expect(delta(now, 'uop_jobs_completed_total')).toBe(2);
    expect(sampleValue(now, 'uop_jobs_queued', { kind: 'notification', state: 'failed' })).toBe(failedBefore + 1);
    expect(sampleValue(now, 'uop_jobs_queued', { kind: 'notification', state: 'done' })).toBeGreaterThanOrEqual(2);

    const page = await browser.get('/operator/dashboard');
    expect(page.status).toBe(200);
    const chart = failedChart(page);
    expect(chart.total - dashboardBefore.total).toBe(1);
    expect(chart.values).toHaveLength(24);
    expect(chart.values.at(-1)).toBeGreaterThanOrEqual(1);
    const { failed } = await app.app.services.jobs.counts();
    expect(page.html.querySelector('#failed-jobs')?.text).toContain(`待运维处理的失败任务：${failed} 个`);
    expect(page.html.querySelector('#failed-jobs a')?.getAttribute('href')).toBe('/operator/jobs');
    expect(page.body).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
    const english = await browser.get('/operator/dashboard?lang=en');
    expect(Browser.text(english)).toContain(`Failed jobs waiting for an operator: ${failed}`);
  });
});
