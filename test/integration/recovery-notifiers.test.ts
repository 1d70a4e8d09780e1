import crypto from 'node:crypto';
import { ConfigError, loadConfig } from '../../src/config/env.js';
import { createServices } from '../../src/services.js';
import { AppError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/logger.js';
import { HttpSmsNotifier } from '../../src/shared/notifier/http-sms.js';
import { SmtpNotifier } from '../../src/shared/notifier/smtp.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson } from '../support/people.js';
import { browserCsrf, linkIn, pdf, post, uploadAppeal } from '../support/recovery.js';
import { countRows, signInOperator } from '../support/security.js';
import { startSmsGateway, type SmsGateway } from '../support/sms-gateway.js';
import { startSmtpServer, type SmtpServer } from '../support/smtp-server.js';
import { createUnit } from '../support/units.js';
import { jobsSettled } from '../support/jobs.js';

const logger = createLogger('silent');

describe('notifiers: HTTP SMS gateway, SMTP and the development outbox (PRODUCT.md §8)', () => {
  let gateway: SmsGateway;
  let smtp: SmtpServer;

  beforeAll(async () => {
    gateway = await startSmsGateway();
    smtp = await startSmtpServer({ user: 'mailer', password: 's3cret pass' });
  });
  afterAll(async () => {
    await gateway.close();
    await smtp.close();
  });
  beforeEach(() => {
    gateway.answer = 200;
    gateway.requests.length = 0;
    smtp.refuseWith = undefined;
    smtp.messages.length = 0;
  });

  it('when the HTTP gateway accepts, then it received POST JSON {to, text} with the bearer token', async () => {
    const notifier = new HttpSmsNotifier({ url: gateway.url, token: 'gateway-token-1', timeoutMs: 2000, logger });
    await notifier.send({ channel: 'sms', to: '13800138000', template: 'test', body: '【统一身份认证平台】验证码123456' });
    expect(gateway.requests).toHaveLength(1);
    const [request] = gateway.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/sms/send', body: { to: '13800138000', text: '【统一身份认证平台】验证码123456' } });
    expect(request!.headers['content-type']).toContain('application/json');
    expect(request!.headers.authorization).toBe('Bearer gateway-token-1');
  });

  it('when the HTTP gateway refuses, does not answer in time or is down, then sending fails with notifier_failed (502)', async () => {
    const notifier = new HttpSmsNotifier({ url: gateway.url, token: undefined, timeoutMs: 300, logger });
    const message = { channel: 'sms' as const, to: '13800138000', template: 'test', body: 'x' };
    gateway.answer = 500;
    await expect(notifier.send(message)).rejects.toMatchObject({ code: 'notifier_failed', status: 502 });
    gateway.answer = 'hang';
    const started = Date.now();
    await expect(notifier.send(message)).rejects.toMatchObject({ code: 'notifier_failed', status: 502 });
    expect(Date.now() - started).toBeLessThan(3000);
    const down = new HttpSmsNotifier({ url: 'http://127.0.0.1:9/sms', token: undefined, timeoutMs: 1000, logger });
    await expect(down.send(message)).rejects.toBeInstanceOf(AppError);
  });

  it('when SMTP accepts, then the server received the UTF-8 message from SMTP_FROM, after AUTH, with its subject; a refusal fails with notifier_failed', async () => {
    const notifier = new SmtpNotifier({ url: smtp.url('mailer', 's3cret pass'), from: '统一身份认证平台 <noreply@id.example.test>', timeoutMs: 3000, logger });
    await notifier.send({
      channel: 'email',
      to: 'applicant@example.test',
      template: 'test',
      subject: '申诉已通过（编号 ABCD-EFGH-JKMN）',
      body: '您的申诉已通过：https://id.example.test/recover/unit/appeal/link?token=abc',
    });
    expect(smtp.messages).toHaveLength(1);
    const [mail] = smtp.messages;
    expect(mail).toMatchObject({ from: 'noreply@id.example.test', to: ['applicant@example.test'], user: 'mailer', subject: '申诉已通过（编号 ABCD-EFGH-JKMN）' });
    expect(mail!.text).toBe('您的申诉已通过：https://id.example.test/recover/unit/appeal/link?token=abc');
    expect(mail!.headers.from).toContain('noreply@id.example.test');

    smtp.refuseWith = '554 5.7.1 Message refused';
    await expect(notifier.send({ channel: 'email', to: 'applicant@example.test', template: 'test', body: 'x' })).rejects.toMatchObject({ code: 'notifier_failed', status: 502 });
    const wrongPassword = new SmtpNotifier({ url: smtp.url('mailer', 'wrong'), from: 'noreply@id.example.test', timeoutMs: 3000, logger });
    smtp.refuseWith = undefined;
    await expect(wrongPassword.send({ channel: 'email', to: 'applicant@example.test', template: 'test', body: 'x' })).rejects.toMatchObject({ code: 'notifier_failed' });
    notifier.close();
    wrongPassword.close();
  });

  it.each([
    [{ SMS_GATEWAY_URL: 'not a url' }, 'SMS_GATEWAY_URL must be an absolute http(s) URL'],
    [{ SMS_GATEWAY_URL: 'ftp://sms.example.test/' }, 'SMS_GATEWAY_URL must use https or http'],
    [{ SMS_GATEWAY_TOKEN: 'token' }, 'SMS_GATEWAY_TOKEN is set but SMS_GATEWAY_URL is not'],
    [{ SMS_GATEWAY_URL: 'https://sms.example.test/', SMS_GATEWAY_TIMEOUT_MS: '10' }, 'SMS_GATEWAY_TIMEOUT_MS must be between 100 and 60000'],
    [{ SMTP_URL: 'http://mail.example.test' }, 'SMTP_URL must be an smtp:// or smtps:// URL'],
    [{ SMTP_URL: 'smtp://mail.example.test:587' }, 'SMTP_FROM must be set when SMTP_URL is'],
    [{ SMTP_URL: 'smtp://mail.example.test:587', SMTP_FROM: 'nobody' }, 'SMTP_FROM must be an e-mail address'],
    [{ SMTP_FROM: 'noreply@example.test' }, 'SMTP_FROM is set but SMTP_URL is not'],
  ])('when %j is configured, then the start stops with a one-line message naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('when production has no SMS gateway, then createServices refuses to start; with one but no SMTP, appeals cannot use e-mail', async () => {
    const production = { NODE_ENV: 'production', ISSUER: 'https://id.example.test' };
    const deps = { db: {} as never, catalog: { businesses: [], clients: [], generatedSecrets: {} } as never, dataKey: crypto.randomBytes(32), logger };
    expect(() => createServices({ ...deps, config: loadConfig(production) })).toThrow(ConfigError);
    expect(() => createServices({ ...deps, config: loadConfig(production) })).toThrow('SMS_GATEWAY_URL must be set in production');
    const services = createServices({ ...deps, config: loadConfig({ ...production, SMS_GATEWAY_URL: gateway.url }) });
    expect(services.appeals.emailEnabled).toBe(false);
    const full = createServices({ ...deps, config: loadConfig({ ...production, SMS_GATEWAY_URL: gateway.url, SMTP_URL: smtp.url(), SMTP_FROM: 'noreply@example.test' }) });
    expect(full.appeals.emailEnabled).toBe(true);
    const development = createServices({ ...deps, config: loadConfig({}) });
    expect(development.appeals.emailEnabled).toBe(true); // the outbox takes both channels
  });

  describe('in the application', () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await startTestApp({
        env: { SMS_GATEWAY_URL: gateway.url, SMS_GATEWAY_TOKEN: 'app-token', SMTP_URL: smtp.url('mailer', 's3cret pass'), SMTP_FROM: 'noreply@id.example.test' },
      });
    }, 60_000);
    afterAll(() => app.close());

    it('R-R1 when SMS_GATEWAY_URL is configured, then the recovery code goes through the gateway (not the outbox) and works; a failing gateway is retried by the job worker (S-56) until the code arrives', async () => {
      const services = app.app.services;
      const contact = await createPerson(services, { verified: true });
      const unit = await createUnit(services, contact, { name: '网关测试单位' });
      const outbox = await countRows(app.db, 'notification_outbox');
      const browser = new Browser(app.url);
      const paths = await post(browser, '/recover/unit/account', await browserCsrf(browser), { certType: 'uscc', certNo: unit.certNo });
      const code = await browser.submit(paths, 'form#recover-contact');
      expect(code.status).toBe(200);
      await jobsSettled(app.db);
      expect(gateway.requests.at(-1)?.headers.authorization).toBe('Bearer app-token');
      const found = await browser.submit(code, 'form#recover-code', { code: gateway.lastCode(contact.mobile) });
      expect(found.html.querySelector('#unit-login-name')?.text).toBe(unit.loginName);
      expect(await countRows(app.db, 'notification_outbox')).toBe(outbox);

      await app.db.query('DELETE FROM rate_limit');
      // S-56: the request does not wait for the gateway; the job worker retries until it accepts.
      gateway.answer = 503;
      const attempts = () => gateway.requests.filter((request) => (request.body as { to?: string }).to === contact.mobile).length;
      const before = attempts();
      const queued = await browser.submit(paths, 'form#recover-contact');
      expect(queued.status).toBe(200);
      while (attempts() < before + 2) await new Promise((resolve) => setTimeout(resolve, 20));
      gateway.answer = 200;
      await jobsSettled(app.db);
      while ((await countRows(app.db, 'job', "state = 'pending'")) > 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        await jobsSettled(app.db);
      }
      const retried = await browser.submit(queued, 'form#recover-code', { code: gateway.lastCode(contact.mobile) });
      expect(retried.html.querySelector('#unit-login-name')?.text).toBe(unit.loginName);
    });

    it('R-R3 when SMTP is configured, then an applicant who gave an e-mail address receives the reference and the approval link by e-mail', async () => {
      const services = app.app.services;
      const contact = await createPerson(services, { verified: true });
      const unit = await createUnit(services, contact, { name: '邮件申诉测试单位' });
      const browser = new Browser(app.url);
      const csrf = await browserCsrf(browser, '/recover/unit/appeal');
      const submitted = await uploadAppeal(
        browser,
        csrf,
        { kind: 'account', certType: 'uscc', certNo: unit.certNo, applicantName: '赵邮件', contact: 'Zhao.Applicant@Example.test' },
        [{ name: 'licence.pdf', type: 'application/pdf', content: pdf() }],
      );
      expect(submitted.status).toBe(200);
      const reference = submitted.html.querySelector('#appeal-reference')!.text;
      await jobsSettled(app.db);
      expect(smtp.messages.at(-1)).toMatchObject({ to: ['zhao.applicant@example.test'], subject: `申诉已提交（编号 ${reference}）` });

      const operator = new Browser(app.url);
      await signInOperator(app, operator);
      const list = await operator.get('/operator/appeals');
      const id = list.html
        .querySelectorAll('#appeals tr[data-appeal]')
        .find((row) => row.text.includes(reference))!
        .getAttribute('data-appeal');
      const confirm = await operator.submit(await operator.get(`/operator/appeals/${id}`), 'form#approve', { note: '' });
      const approved = await operator.submit(confirm, 'form#confirm');
      expect(approved.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('approved');
      await jobsSettled(app.db);
      const mail = smtp.messages.at(-1)!;
      expect(mail.subject).toBe(`申诉已通过（编号 ${reference}）`);
      const landing = await browser.get(linkIn(mail.text));
      const found = await browser.submit(landing, 'form#appeal-link');
      expect(found.html.querySelector('#unit-login-name')?.text).toBe(unit.loginName);
    });
  });
});
