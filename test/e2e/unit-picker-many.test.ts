import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { openAndLogIn, pickerChoices, unitClientsFile } from '../support/unit-flows.js';
import { PICKER_PAGE } from '../../src/interactions/unit-routes.js';
import { translate } from '../../src/shared/i18n/index.js';
import { INTERNALS } from '../support/security.js';

/**
 * Q-P6 (issue #15), C-UI2: a person who can act for more units than fit on one page gets the units used most
 * recently first, a page at a time (“显示更多单位”), and a search by unit name or certificate number that works
 * without JavaScript (a GET form); the preselected unit is always on the page; odd input is a readable page.
 */
describe('the unit picker of a person bound to many units (Q-P6, C-UI2)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let person: TestPerson;
  const units: TestUnit[] = [];
  const CE = 'biz:continuing_education';
  const scope = `openid profile unit ${CE}`;
  const COUNT = PICKER_PAGE + 5;

  beforeAll(async () => {
    app = await startTestApp({ clients: unitClientsFile() });
    config = await discover(app.issuer);
    const services = app.app.services;
    person = await createPerson(services, { verified: true, legalName: '王多单位' });
    for (let index = 0; index < COUNT; index += 1) units.push(await createUnit(services, person, { name: `多单位测试第${index + 1}号公司`, verified: true }));
  }, 180_000); // 25 unit registrations (argon2 each) on a loaded machine
  afterAll(() => app.close());

  async function picker(parameters: Record<string, string> = {}): Promise<{ browser: Browser; page: Page }> {
    const browser = new Browser(app.url);
    const page = await openAndLogIn(browser, await authorizationUrl(config, { scope, login_as: 'unit', ...parameters }), person, true);
    expect(page.html.querySelector('form#select-unit')).not.toBeNull();
    return { browser, page };
  }

  it('C-UI2 when the person can act for more units than a page holds, then the picker shows one page, a search box and “显示更多单位”, which shows the rest', async () => {
    const { browser, page } = await picker();
    expect(pickerChoices(page).unitIds).toHaveLength(PICKER_PAGE);
    // Never chosen: the oldest bindings first.
    expect(pickerChoices(page).unitIds).toEqual(units.slice(0, PICKER_PAGE).map((unit) => unit.id));
    const text = Browser.text(page);
    expect(text).toContain('按单位名称或证件号码查找');
    expect(text).toContain(`共${COUNT}个单位，显示其中${PICKER_PAGE}个`);
    expect(text).toContain('使用选中的单位账号登录');
    // A plain GET form with a label: works without JavaScript, and the page carries no inline script.
    const search = page.html.querySelector('form#unit-search');
    expect(search?.getAttribute('method')).toBe('get');
    expect(page.html.querySelector('label[for=unit-q]')).not.toBeNull();
    expect(page.html.querySelectorAll('script').filter((script) => !script.getAttribute('src'))).toHaveLength(0);

    const more = page.html.querySelector('a#picker-more')?.getAttribute('href');
    expect(more).toBeDefined();
    const all = await browser.get(more!);
    expect(all.status).toBe(200);
    expect(pickerChoices(all).unitIds).toEqual(units.map((unit) => unit.id));
    expect(all.html.querySelector('a#picker-more')).toBeNull();
  }, 60_000);

  it('C-UI2 when the person searches by certificate number or part of the name, then only the matching units are listed and one can be chosen; next time it comes first', async () => {
    const { browser, page } = await picker();
    const wanted = units[COUNT - 2]!;
    expect(pickerChoices(page).unitIds).not.toContain(wanted.id);
    const found = await browser.submit(page, 'form#unit-search', { q: wanted.certNo.toLowerCase() });
    expect(found.status).toBe(200);
    expect(pickerChoices(found).unitIds).toEqual([wanted.id]);
    expect(found.html.querySelector('input#unit-q')?.getAttribute('value')).toBe(wanted.certNo.toLowerCase());
    const byName = await browser.submit(page, 'form#unit-search', { q: `第${COUNT - 1}号` });
    expect(pickerChoices(byName).unitIds).toEqual([wanted.id]);

    const done = await browser.submit(found, 'form#select-unit', { unitId: wanted.id });
    expect(done.html.querySelector('form#select-unit')).toBeNull();
    const again = await picker();
    expect(pickerChoices(again.page).unitIds[0]).toBe(wanted.id);
    expect(pickerChoices(again.page).unitIds).toHaveLength(PICKER_PAGE);
  }, 60_000);

  it('C-T6 when the RP hints a unit that is not on the first page, then it is on the page and preselected', async () => {
    const hinted = units[COUNT - 1]!;
    const { page } = await picker({ unit_hint: hinted.id });
    expect(pickerChoices(page).checked).toEqual([hinted.id]);
    expect(pickerChoices(page).unitIds).toHaveLength(PICKER_PAGE);
  }, 60_000);

  it.each([
    ['a text no unit has', '不存在的单位名称', 200],
    ['markup', '<script>alert(1)</script>', 200],
  ])(
    'S-53 when the search is %s, then the picker says no unit matches, with the way back and on, never a 500',
    async (_what, q, status) => {
      const { browser, page } = await picker();
      const found = await browser.submit(page, 'form#unit-search', { q });
      expect(found.status).toBe(status);
      expect(found.body).not.toContain('<script>alert(1)</script>');
      expect(pickerChoices(found).unitIds).toEqual([]);
      expect(Browser.text(found)).toContain('没有名称或证件号码包含');
      expect(found.html.querySelector('a#unit-search-clear')).not.toBeNull();
      expect(found.html.querySelector('form#continue-personal')).not.toBeNull();
    },
    60_000,
  );

  it('S-53 when the search is longer than its limit, then the picker refuses it next to the search box (400, kept as typed, never cut) and still lists the units', async () => {
    const { browser, page } = await picker();
    const long = '长'.repeat(65);
    const refused = await browser.submit(page, 'form#unit-search', { q: long });
    expect(refused.status).toBe(400);
    expect(refused.html.querySelector('#f-q-error')?.text.trim()).toBe(translate('zh-CN', 'error.field_too_long', { max: 64 }));
    expect(refused.html.querySelector('#unit-q')?.getAttribute('value')).toBe(long);
    expect(refused.html.querySelector('#unit-q')?.getAttribute('maxlength')).toBe('64');
    expect(pickerChoices(refused).unitIds.length).toBeGreaterThan(0);
    const huge = await browser.submit(page, 'form#unit-search', { q: 'x'.repeat(5000) });
    expect(huge.status).toBe(400);
    expect(huge.body).not.toMatch(INTERNALS);
  }, 60_000);

  it('when `shown` is not a number or is huge, then the picker shows a page or every unit, never an error', async () => {
    const { browser, page } = await picker();
    const base = page.url.split('?')[0]!;
    const odd = await browser.get(`${base}?shown=abc`);
    expect(odd.status).toBe(200);
    expect(odd.html.querySelector('#f-q-error')).toBeNull();
    expect(pickerChoices(odd).unitIds).toHaveLength(PICKER_PAGE);
    expect(pickerChoices(await browser.get(`${base}?shown=-5`)).unitIds).toHaveLength(PICKER_PAGE);
    expect(pickerChoices(await browser.get(`${base}?shown=99999999`)).unitIds).toHaveLength(COUNT);
  }, 60_000);

  it('when the language is English, then the search, the count and “show more” are in English', async () => {
    const { browser, page } = await picker();
    const english = await browser.get(`${page.url.split('?')[0]!}?lang=en`);
    const text = Browser.text(english);
    expect(text).toContain('Find a unit by name or certificate number');
    expect(text).toContain(`${PICKER_PAGE} of ${COUNT} units shown`);
    expect(text).toContain('Show more units');
  }, 60_000);
});
