import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type * as client from 'openid-client';
import type { Browser as ChromiumBrowser } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover, redeem } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { unitClientsFile } from '../support/unit-flows.js';

/**
 * The unit sign-in in a real browser (C-UI2, guide §4): Debian's Chromium driven by playwright-core, never a
 * downloaded browser. CI installs the package (see .ci/run); when it is missing the suite fails with the
 * command to install it, it never skips. The picker's screenshot is kept in test-artifacts/unit-picker.png.
 */

const ARTIFACTS = path.resolve('test-artifacts');

interface CallbackServer {
  url: string;
  /** The query strings the RP's callback received, in order. */
  received: URLSearchParams[];
  close(): Promise<void>;
}

/** The RP's redirect URI: records the query and shows a page, as a business system's callback would. */
async function startCallbackServer(): Promise<CallbackServer> {
  const received: URLSearchParams[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/callback') received.push(url.searchParams);
    res
      .writeHead(url.pathname === '/callback' ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' })
      .end('<!doctype html><html><head><title>业务系统</title></head><body><p id="rp">RP callback</p></body></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    received,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('unit sign-in in Chromium (C-UI2)', () => {
  let app: TestApp | undefined;
  let rp: CallbackServer | undefined;
  let browser: ChromiumBrowser | undefined;
  let config: client.Configuration;
  let lisi: TestPerson;
  let unit: TestUnit;
  let second: TestUnit;

  beforeAll(async () => {
    rp = await startCallbackServer();
    app = await startTestApp({ clients: unitClientsFile({ redirectUris: [rp.url] }) });
    config = await discover(app.issuer);
    const services = app.app.services;
    const contact = await createPerson(services, { verified: true, legalName: '张三' });
    lisi = await createPerson(services, { verified: true, legalName: '李四' });
    unit = await createUnit(services, contact, { name: '示例科技有限公司', verified: true });
    second = await createUnit(services, contact, { name: '另一家单位', verified: false });
    await bindHandler(services, unit, lisi, ['biz:continuing_education']);
    await bindHandler(services, second, lisi, ['biz:continuing_education']);
    // playwright-core gives every launch a fresh temporary profile (user-data dir) and removes it on close.
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await rp?.close();
  });

  it('C-UI2 when lisi signs in with 以单位身份登录 ticked and picks the unit, then the browser lands on the RP callback with a code for that unit', async () => {
    const authorization = await authorizationUrl(config, { scope: 'openid profile unit biz:continuing_education', redirect_uri: rp!.url });
    const context = await browser!.newContext({ locale: 'zh-CN' });
    try {
      const page = await context.newPage();
      await page.goto(authorization.url.toString());

      await page.getByLabel('账号', { exact: true }).fill(lisi.loginName);
      await page.getByLabel('密码', { exact: true }).fill(lisi.password);
      const unitMode = page.getByLabel('以单位身份登录');
      await expect(unitMode.isChecked()).resolves.toBe(false);
      await unitMode.check();
      await page.getByRole('button', { name: '登录', exact: true }).click();

      const submit = page.getByRole('button', { name: '使用选中的单位账号登录' });
      await submit.waitFor({ state: 'visible', timeout: 15_000 });
      // C-UI2: name, certificate number, verified or not, the person's role.
      const pickerText = await page.locator('form#select-unit').innerText();
      expect(pickerText).toContain('示例科技有限公司');
      expect(pickerText).toContain(unit.certNo);
      expect(pickerText).toContain('另一家单位');
      expect(pickerText).toContain('未实名认证');
      await page.getByRole('radio', { name: /示例科技有限公司/ }).check();
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'unit-picker.png'), fullPage: true });

      await Promise.all([page.waitForURL((url) => url.toString().startsWith(rp!.url), { timeout: 15_000 }), submit.click()]);
      await expect(page.locator('#rp').innerText()).resolves.toBe('RP callback');
      const landed = new URL(page.url());
      expect(landed.searchParams.get('code')).toBeTruthy();
      expect(landed.searchParams.get('state')).toBe(authorization.state);
      expect(rp!.received.at(-1)?.get('code')).toBe(landed.searchParams.get('code'));

      const tokens = await redeem(config, authorization, landed);
      expect(tokens.claims()).toMatchObject({ sub: lisi.id, unit_id: unit.id, unit_name: '示例科技有限公司', unit_role: 'handler' });
    } finally {
      await context.close();
    }
    expect(fs.statSync(path.join(ARTIFACTS, 'unit-picker.png')).size).toBeGreaterThan(1000);
  }, 60_000);
  it.each([
    ['zh-CN', '未授权本系统业务', '已授权本系统业务：公务员考录', '使用选中的单位账号登录'],
    ['en', 'No permission for this system', 'Grants this system: Civil-servant recruitment', 'Sign in with the selected unit'],
  ])(
    "issue 10 C-UI2 when a person bound to two units enters a system whose business only one grants (%s), then the picker lists that unit first and marks the other as without this system's permission",
    async (locale, noMark, yesMark, submitLabel) => {
      const services = app!.app.services;
      const wang = await createPerson(services, { verified: true, legalName: '王五' });
      await bindHandler(services, unit, wang, ['biz:continuing_education']);
      await bindHandler(services, second, wang, ['biz:civil_service_exam']);
      const authorization = await authorizationUrl(config, { scope: 'openid profile unit biz:civil_service_exam', redirect_uri: rp!.url, login_as: 'unit', ui_locales: locale });
      const context = await browser!.newContext({ locale, viewport: { width: 1280, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(authorization.url.toString());
        await page.locator('form#person-login input[name=account]').fill(wang.loginName);
        await page.locator('form#person-login input[name=password]').fill(wang.password);
        await page.locator('form#person-login button[type=submit]').click();
        const submit = page.getByRole('button', { name: submitLabel });
        await submit.waitFor({ state: 'visible', timeout: 15_000 });
        const labels = page.locator('form#select-unit label.unit');
        await expect(labels.count()).resolves.toBe(2);
        // The unit that grants this system's business comes first; the other is marked, visibly.
        await expect(labels.nth(0).innerText()).resolves.toContain('另一家单位');
        await expect(labels.nth(0).innerText()).resolves.toContain(yesMark);
        await expect(labels.nth(1).innerText()).resolves.toContain('示例科技有限公司');
        const mark = labels.nth(1).locator('.business-mark');
        await expect(mark.innerText()).resolves.toBe(noMark);
        await expect(mark.isVisible()).resolves.toBe(true);
        fs.mkdirSync(ARTIFACTS, { recursive: true });
        for (const width of [1280, 390]) {
          await page.setViewportSize({ width, height: 900 });
          // Nothing of the picker overflows the viewport at either width.
          const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
          expect(overflow).toBeLessThanOrEqual(0);
          await page.screenshot({ path: path.join(ARTIFACTS, `unit-picker-marks-${locale}-${width}.png`), fullPage: true });
        }
        await Promise.all([
          page.waitForURL((url) => url.toString().startsWith(rp!.url), { timeout: 15_000 }),
          page
            .getByRole('radio', { name: /另一家单位/ })
            .check()
            .then(() => submit.click()),
        ]);
        const tokens = await redeem(config, authorization, new URL(page.url()));
        expect(tokens.claims()).toMatchObject({ sub: wang.id, unit_id: second.id, unit_scopes: ['biz:civil_service_exam'] });
      } finally {
        await context.close();
      }
    },
    60_000,
  );
});
