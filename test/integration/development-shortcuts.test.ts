import { loadConfig } from '../../src/config/env.js';
import { createServices } from '../../src/services.js';
import { AppError } from '../../src/shared/errors.js';
import { createLogger } from '../../src/shared/logger.js';
import { siteRoutes } from '../../src/modules/site/routes.js';
import { startBanner } from '../../src/banner.js';
import { loadKeys } from '../../src/oidc/keys.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { jobsSettled } from '../support/jobs.js';

/**
 * The development shortcuts of the first start (issue 14): the operator's current TOTP code on the sign-in page
 * and the outbox page at /dev/outbox. Both exist outside production only; production refuses the code and does
 * not mount the page. Also the start banner's content.
 */
describe('development shortcuts: TOTP code for the demo operator, /dev/outbox, the start banner (issue 14)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  }, 60_000);
  afterAll(async () => {
    await app.close();
  });

  async function operatorWithSecret(loginName: string) {
    const { operator } = await app.app.services.operators.create(loginName, '测试窗口', 'a long operator password 1');
    await app.app.services.operators.enrolment(operator.id);
    return operator;
  }

  it('when the provider does not run in production, then the shown development code is the current TOTP and signs in once', async () => {
    const operator = await operatorWithSecret('devcode1');
    const code = await app.app.services.operators.developmentCode(operator.id);
    expect(code).toMatch(/^\d{6}$/);
    await app.app.services.operators.verifyTotp(operator.id, code, { actor: { type: 'operator', id: operator.id } });
    expect((await app.app.services.operators.byId(operator.id))?.totpEnrolled).toBe(true);
    // Used once: the same code is refused (replay), as with an authenticator app; the page then shows the next one.
    await expect(app.app.services.operators.verifyTotp(operator.id, code, { actor: { type: 'operator', id: operator.id } })).rejects.toMatchObject({ code: 'totp_invalid' });
    const next = await app.app.services.operators.developmentCode(operator.id);
    expect(next).not.toBe(code);
    await app.app.services.operators.verifyTotp(operator.id, next, { actor: { type: 'operator', id: operator.id } });
  });

  it('when the provider runs in production, then the development code is refused (403) for the same operator and database', async () => {
    const operator = await operatorWithSecret('devcode2');
    const production = createServices({
      config: loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.test', SMS_GATEWAY_URL: 'http://127.0.0.1:9/sms' }),
      db: app.db,
      catalog: app.catalog,
      dataKey: (await loadKeys({ dir: app.config.certsDir, generate: false })).dataKey,
      logger: createLogger('silent'),
    });
    const refused = await production.operators.developmentCode(operator.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'forbidden', status: 403 });
  });

  it('when a message goes to the development outbox, then /dev/outbox shows it without signing in', async () => {
    const browser = new Browser(app.url);
    const empty = await browser.get('/dev/outbox');
    expect(empty.status).toBe(200);
    await app.app.services.notifier.send({ channel: 'sms', to: '13800138999', template: 'test', body: '【统一身份认证平台】验证码246810' });
    await jobsSettled(app.db);
    const page = await browser.get('/dev/outbox');
    expect(Browser.text(page)).toContain('13800138999');
    expect(Browser.text(page)).toContain('验证码246810');
  });

  it('when the routes are built for production, then /dev/outbox is not mounted, while the privacy and terms pages are', () => {
    const paths = (mode: 'production' | 'development') => siteRoutes({ config: { ...app.config, mode }, notifier: app.app.services.notifier }).stack.map((layer) => layer.path);
    expect(paths('development')).toEqual(expect.arrayContaining(['/privacy', '/terms', '/dev/outbox']));
    expect(paths('production')).toEqual(expect.arrayContaining(['/privacy', '/terms']));
    expect(paths('production')).not.toContain('/dev/outbox');
  });

  it('when the banner is printed, then it names the addresses, the demo accounts and password, the outbox and npm run demo, and no JSON', () => {
    const banner = startBanner({
      config: { issuer: 'http://localhost:3000', mode: 'development', smsGateway: undefined, smtp: undefined },
      demo: { password: 'Demo-abc', persons: ['zhangsan', 'lisi', 'wangwu'], operator: 'counter', units: [{ name: '示例科技有限公司', loginName: 'demo_tech' }] },
      generatedSecrets: { 'ce-demo': 'generated-secret' },
    });
    for (const expected of [
      'http://localhost:3000/',
      'http://localhost:3000/unit',
      'Demo-abc',
      'zhangsan, lisi (real-name verified), wangwu (not verified)',
      'demo_tech (示例科技有限公司)',
      'counter',
      'http://localhost:3000/dev/outbox',
      'npm run demo',
      'ce-demo',
      'generated-secret',
    ]) {
      expect(banner).toContain(expected);
    }
    expect(banner).not.toContain('{"');
  });
});
