import { AuditLog } from '../../src/modules/audit/audit-log.js';
import { barChart } from '../../src/modules/operators/dashboard.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, mobile, type TestPerson } from '../support/people.js';
import { browserCsrf, pdf, uploadAppeal } from '../support/recovery.js';
import { signInOperator } from '../support/security.js';
import { uscc } from '../support/units.js';

/** Issue #16: the operator console's dashboard of the last 24 h, drawn as server-rendered SVG (CSP stays strict). */

const HOUR = 3600 * 1000;

function chartOf(page: Page, series: string) {
  const section = page.html.querySelector(`#chart-${series}`);
  if (!section) throw new Error(`no chart ${series}:\n${Browser.text(page).slice(0, 600)}`);
  return { total: Number(section.querySelector('.total')?.text), values: section.querySelectorAll('rect').map((rect) => Number(rect.getAttribute('data-value'))) };
}

describe('operator dashboard of the last 24 hours', () => {
  let app: TestApp;
  let person: TestPerson;
  let victim: TestPerson;
  let browser: Browser;

  beforeAll(async () => {
    app = await startTestApp();
    person = await createPerson(app.app.services);
    victim = await createPerson(app.app.services);
    browser = new Browser(app.url);
    await signInOperator(app, browser);
  });
  afterAll(() => app?.close());

  it('when sign-ins, failures, a lockout, codes and an appeal happened, then each chart counts them in their hour and the page has no script', async () => {
    const { persons } = app.app.services;
    const context = { actor: { type: 'anonymous' as const }, ip: '198.51.100.7' };
    const before = await browser.get('/operator/dashboard');
    expect(before.status).toBe(200);
    const base = Object.fromEntries(['sign_ins', 'failures', 'lockouts', 'codes', 'appeals'].map((series) => [series, chartOf(before, series).total]));

    await persons.authenticate(person.loginName, person.password, context);
    for (let attempt = 0; attempt < 5; attempt += 1) {
      await expect(persons.authenticate(victim.loginName, 'not the password', context)).rejects.toMatchObject({ code: 'credentials_invalid' });
    }
    // Codes issued three hours ago and 25 hours ago (outside the window), written as the counter writes them.
    const at = (ago: number) => new AuditLog(app.db, () => new Date(Date.now() - ago));
    await at(3 * HOUR + 60_000).record({ actor: { type: 'operator', id: 'op' } }, { action: 'unit.code_issue' });
    await at(25 * HOUR).record({ actor: { type: 'operator', id: 'op' } }, { action: 'unit.code_issue' });
    const applicant = new Browser(app.url);
    const filed = await uploadAppeal(
      applicant,
      await browserCsrf(applicant, '/recover/unit/appeal'),
      { certType: 'uscc', certNo: uscc(), kind: 'account', applicantName: '李申诉', contact: mobile() },
      [{ name: '营业执照.pdf', type: 'application/pdf', content: pdf() }],
    );
    expect(filed.status).toBeLessThan(400);

    const page = await browser.get('/operator/dashboard');
    expect(page.status).toBe(200);
    const delta = (series: string) => chartOf(page, series).total - base[series]!;
    expect(delta('sign_ins')).toBeGreaterThanOrEqual(1); // the operator's own sign-in counts as well
    expect(chartOf(page, 'sign_ins').values.at(-1)).toBeGreaterThanOrEqual(1);
    expect(delta('failures')).toBe(5);
    expect(delta('lockouts')).toBe(1);
    expect(delta('codes')).toBe(1);
    expect(chartOf(page, 'codes').values[24 - 1 - 3]).toBeGreaterThanOrEqual(1);
    expect(delta('appeals')).toBe(1);
    expect(page.html.querySelector('#pending-appeals')?.text).toMatch(/待处理申诉：[1-9]\d* 件/);
    for (const series of ['sign_ins', 'failures', 'lockouts', 'codes', 'appeals']) expect(chartOf(page, series).values).toHaveLength(24);

    expect(page.body).not.toMatch(/<script|\sstyle=|\son[a-z]+=/i);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(page.html.querySelectorAll('nav.section-nav a').map((link) => link.getAttribute('href'))).toContain('/operator/dashboard');
  });

  it('when the dashboard is asked for in English, then its labels are English', async () => {
    const page = await browser.get('/operator/dashboard?lang=en');
    expect(Browser.text(page)).toContain('Failed sign-ins');
    expect(Browser.text(page)).toContain('Pending appeals:');
  });

  it('when someone who is not an operator asks for the dashboard, then it is not shown', async () => {
    const stranger = new Browser(app.url);
    const page = await stranger.request('/operator/dashboard');
    expect(page.status).not.toBe(200);
    expect(page.body).not.toContain('chart-sign_ins');
  });

  it.each([
    [[0, 0, 0], 1],
    [[2, 4, 1], 4],
  ])('when the values are %j, then the bars scale to the largest (%d) and stay inside the chart', (values, max) => {
    const chart = barChart('sign_ins', values);
    expect(chart.max).toBe(max);
    for (const bar of chart.bars) {
      expect(bar.y + bar.height).toBeCloseTo(chart.baseline, 5);
      expect(bar.x + bar.width).toBeLessThanOrEqual(chart.width);
    }
    const tallest = chart.bars.reduce((a, b) => (b.height > a.height ? b : a));
    if (max > 1 || values.some((value) => value > 0)) expect(tallest.value).toBe(max);
  });
});
