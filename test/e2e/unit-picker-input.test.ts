import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem, type Authorization } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import {
  codeCount,
  createOperator,
  csrfOf,
  formDefaults,
  interactionUidOf,
  issueCode,
  openAndLogIn,
  pickerChoices,
  postFields,
  postTo,
  scopesOf,
  unitClientsFile,
} from '../support/unit-flows.js';

/**
 * C-UI3: the unverified-unit interstitial (enter the counter code now, or continue without the business that
 * needs a verified unit), and the picker's answers to bad input (S-53): no selection, two selections, an
 * expired or unknown interaction, a replayed form. Always a readable page with a way on, never a 500.
 */
describe('the unverified-unit interstitial and bad input at the picker (C-UI3, S-53)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let zhangsan: TestPerson;
  let lisi: TestPerson;
  let operatorId: string;
  let unitA: TestUnit;
  let unitB: TestUnit;

  const CE = 'biz:continuing_education';
  const SI = 'biz:social_insurance';
  const scopeSi = `openid profile unit ${CE} ${SI}`;
  const scopeCe = `openid profile unit ${CE}`;

  beforeAll(async () => {
    app = await startTestApp({ clients: unitClientsFile() });
    config = await discover(app.issuer);
    const services = app.app.services;
    zhangsan = await createPerson(services, { verified: true, legalName: '张三' });
    lisi = await createPerson(services, { verified: true, legalName: '李四' });
    operatorId = await createOperator(services);
    unitA = await createUnit(services, zhangsan, { name: '甲单位', verified: true });
    unitB = await createUnit(services, zhangsan, { name: '乙单位', verified: true });
    await bindHandler(services, unitA, lisi, [CE]);
    await bindHandler(services, unitB, lisi, [CE]);
  }, 120_000); // the app, keys and argon2 hashes take a while on a loaded machine
  afterAll(() => app.close());

  /** A fresh unverified unit whose handler holds the continuing-education and social-insurance permissions. */
  async function unverifiedUnit(): Promise<{ handler: TestPerson; unit: TestUnit }> {
    const services = app.app.services;
    const handler = await createPerson(services, { verified: true, legalName: '赵六' });
    const unit = await createUnit(services, zhangsan, { name: `未认证单位${Math.random().toString(36).slice(2, 7)}`, verified: false });
    await bindHandler(services, unit, handler, [CE, SI]);
    return { handler, unit };
  }

  async function toInterstitial(handler: TestPerson, unit: TestUnit): Promise<{ browser: Browser; authorization: Authorization; page: Page }> {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope: scopeSi, login_as: 'unit' });
    const picker = await openAndLogIn(browser, authorization, handler, true);
    // C-UI3: the picker marks the unit as not verified.
    expect(Browser.text(picker)).toContain('未实名认证');
    const page = await browser.submit(picker, 'form#select-unit', { unitId: unit.id });
    return { browser, authorization, page };
  }

  it('C-UI3 when an unverified unit is chosen for a client asking biz:social_insurance, then an interstitial asks for 实名认证 and offers the code or continuing without', async () => {
    const { handler, unit } = await unverifiedUnit();
    const codes = await codeCount(app.db);
    const { page } = await toInterstitial(handler, unit);
    expect(page.status).toBe(200);
    expect(page.headers.get('location')).toBeNull();
    const text = Browser.text(page);
    expect(text).toContain('实名认证');
    expect(text).toContain(unit.name);
    expect(text).toContain('社会保险');
    expect(page.html.querySelector('form#unit-code input[name=code]')).not.toBeNull();
    expect(page.html.querySelector('label[for=f-code]')).not.toBeNull();
    expect(page.html.querySelector('form#continue-unverified')).not.toBeNull();
    expect(await codeCount(app.db)).toBe(codes);
  });

  it('C-UI3 R-U5 when the handler enters a valid counter code on the interstitial, then the unit is verified and the tokens have unit_verified=true and biz:social_insurance', async () => {
    const { handler, unit } = await unverifiedUnit();
    const code = await issueCode(app.app.services, operatorId, unit.id);
    const { browser, authorization, page } = await toInterstitial(handler, unit);
    // Typed as people do: lower case, without the hyphen.
    const done = await browser.submit(page, 'form#unit-code', { code: code.replace('-', '').toLowerCase() });
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ sub: handler.id, unit_id: unit.id, unit_verified: true });
    expect((tokens.claims()?.unit_scopes as string[]).sort()).toEqual([CE, SI].sort());
    expect(scopesOf(tokens)).toEqual(expect.arrayContaining([CE, SI]));
    expect((await app.app.services.units.byId(unit.id))?.verified).toBe(true);
    const [issued] = await app.app.services.verification.list(unit.id);
    expect(issued?.state).toBe('used');
  });

  it('C-UI3 when the handler chooses “continue without”, then the tokens carry the unit unverified and without biz:social_insurance', async () => {
    const { handler, unit } = await unverifiedUnit();
    const { browser, authorization, page } = await toInterstitial(handler, unit);
    expect(Browser.text(page)).toContain('不使用该业务，继续登录');
    const done = await browser.submit(page, 'form#continue-unverified');
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ unit_id: unit.id, unit_verified: false, unit_scopes: [CE] });
    expect(scopesOf(tokens)).toContain(CE);
    expect(scopesOf(tokens)).not.toContain(SI);
    expect((await app.app.services.units.byId(unit.id))?.verified).toBe(false);
  });

  it.each([
    ['a wrong code', () => 'ABCDE-FGHJK'],
    ['an empty code', () => ''],
    ['a code of the wrong length', () => 'ABC'],
  ])('C-UI3 when the handler enters %s on the interstitial, then the interstitial says so clearly and the unit stays unverified', async (_what, value) => {
    const { handler, unit } = await unverifiedUnit();
    await issueCode(app.app.services, operatorId, unit.id);
    const { browser, authorization, page } = await toInterstitial(handler, unit);
    const codes = await codeCount(app.db);
    const wrong = await browser.submit(page, 'form#unit-code', { code: value() });
    expect(wrong.status).toBeGreaterThanOrEqual(400);
    expect(wrong.status).toBeLessThan(500);
    expect(wrong.headers.get('location')).toBeNull();
    expect(Browser.text(wrong)).toContain('授权码错误或已失效');
    expect(wrong.html.querySelector('[role=alert]')).not.toBeNull();
    // Still the interstitial: the way on is right there.
    expect(wrong.html.querySelector('form#unit-code')).not.toBeNull();
    expect(wrong.html.querySelector('form#continue-unverified')).not.toBeNull();
    expect(await codeCount(app.db)).toBe(codes);
    expect((await app.app.services.units.byId(unit.id))?.verified).toBe(false);

    // …and continuing without the business still works.
    const done = await browser.submit(wrong, 'form#continue-unverified');
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ unit_id: unit.id, unit_verified: false });
  });

  it('C-UI3 when the client does not ask for a business that needs verification, then an unverified unit is taken without the interstitial', async () => {
    const { handler, unit } = await unverifiedUnit();
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope: scopeCe, login_as: 'unit' });
    const picker = await openAndLogIn(browser, authorization, handler, true);
    const done = await browser.submit(picker, 'form#select-unit', { unitId: unit.id });
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(tokens.claims()).toMatchObject({ unit_id: unit.id, unit_verified: false, unit_scopes: [CE] });
  });

  it("S-53 when the interstitial's code form is posted with a unitId that is not a UUID, then a readable 4xx page answers, never a 500", async () => {
    const { handler, unit } = await unverifiedUnit();
    const { browser, page } = await toInterstitial(handler, unit);
    const fields = formDefaults(page, 'form#unit-code').filter(([name]) => name !== 'unitId');
    fields.push(['unitId', 'not-a-unit-id'], ['code', 'ABCDE-FGHJK']);
    const answer = await postFields(browser, page, 'form#unit-code', fields);
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    expect(Browser.text(answer)).not.toMatch(/invalid input syntax|stack|Error:/);
  });

  // --- bad input at the picker ---

  async function picker(): Promise<{ browser: Browser; authorization: Authorization; page: Page }> {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope: scopeCe, login_as: 'unit' });
    const page = await openAndLogIn(browser, authorization, lisi, true);
    expect(pickerChoices(page).unitIds.sort()).toEqual([unitA.id, unitB.id].sort());
    return { browser, authorization, page };
  }

  function expectReadable(page: Page): void {
    expect(page.status).toBeGreaterThanOrEqual(400);
    expect(page.status).toBeLessThan(500);
    expect(page.headers.get('location')).toBeNull();
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(Browser.text(page)).not.toMatch(/invalid input syntax|at async|TypeError|stack/);
  }

  it('S-53 when the picker is posted without a selection, then it asks to choose one unit and shows the picker again', async () => {
    const { browser, authorization, page } = await picker();
    const codes = await codeCount(app.db);
    const answer = await postFields(browser, page, 'form#select-unit', [['_csrf', csrfOf(page, 'form#select-unit')]]);
    expectReadable(answer);
    expect(answer.status).toBe(400);
    expect(Browser.text(answer)).toContain('请选择一个单位');
    expect(pickerChoices(answer).unitIds.sort()).toEqual([unitA.id, unitB.id].sort());
    expect(await codeCount(app.db)).toBe(codes);
    const done = await browser.submit(answer, 'form#select-unit', { unitId: unitB.id });
    expect((await redeem(config, authorization, callbackOf(done))).claims()).toMatchObject({ unit_id: unitB.id });
  });

  it('S-53 when the picker is posted with an empty unitId, then it asks to choose one unit', async () => {
    const { browser, page } = await picker();
    const answer = await postFields(browser, page, 'form#select-unit', [
      ['_csrf', csrfOf(page, 'form#select-unit')],
      ['unitId', ''],
    ]);
    expectReadable(answer);
    expect(Browser.text(answer)).toContain('请选择一个单位');
  });

  it('S-53 S-40 when the picker is posted with two selections (unitId=a&unitId=b), then neither is taken: it asks to choose one unit', async () => {
    const { browser, authorization, page } = await picker();
    const codes = await codeCount(app.db);
    const answer = await postFields(browser, page, 'form#select-unit', [
      ['_csrf', csrfOf(page, 'form#select-unit')],
      ['unitId', unitA.id],
      ['unitId', unitB.id],
    ]);
    expectReadable(answer);
    expect(Browser.text(answer)).toContain('请选择一个单位');
    expect(pickerChoices(answer).unitIds.length).toBe(2);
    expect(await codeCount(app.db)).toBe(codes);
    const done = await browser.submit(answer, 'form#select-unit', { unitId: unitA.id });
    expect((await redeem(config, authorization, callbackOf(done))).claims()).toMatchObject({ unit_id: unitA.id });
  });

  it('S-53 when the picker is posted with a unitId of 10,000 characters, then a readable 4xx answers', async () => {
    const { browser, page } = await picker();
    const answer = await postFields(browser, page, 'form#select-unit', [
      ['_csrf', csrfOf(page, 'form#select-unit')],
      ['unitId', 'a'.repeat(10_000)],
    ]);
    expectReadable(answer);
  });

  it('S-32 when the picker is posted without the CSRF token, then it is refused and no unit is chosen', async () => {
    const { browser, page } = await picker();
    const codes = await codeCount(app.db);
    const answer = await postFields(browser, page, 'form#select-unit', [['unitId', unitA.id]]);
    expectReadable(answer);
    expect(answer.status).toBe(403);
    expect(Browser.text(answer)).toContain('页面已过期');
    expect(await codeCount(app.db)).toBe(codes);
  });

  it('S-53 when the picker is posted to an unknown interaction uid, then the page says the sign-in timed out and to go back, never a 500', async () => {
    const { browser, page } = await picker();
    const answer = await postTo(browser, '/interaction/bogus-uid-0123456789/select-unit', [
      ['_csrf', csrfOf(page, 'form#select-unit')],
      ['unitId', unitA.id],
    ]);
    expectReadable(answer);
    expect(answer.status).toBe(400);
    expect(Browser.text(answer)).toContain('登录已超时，请返回业务系统重新登录');
  });

  it('S-53 when the interaction has expired (its row is gone) and the picker is posted, then the page says the sign-in timed out and to go back, and no code is issued', async () => {
    const { browser, page } = await picker();
    const uid = interactionUidOf(page);
    const deleted = await app.db.query("DELETE FROM oidc_model WHERE model = 'Interaction' AND id = $1", [uid]);
    expect(deleted.rowCount).toBe(1);
    const codes = await codeCount(app.db);
    const answer = await browser.submit(page, 'form#select-unit', { unitId: unitA.id });
    expectReadable(answer);
    expect(answer.status).toBe(400);
    expect(Browser.text(answer)).toContain('登录已超时，请返回业务系统重新登录');
    expect(await codeCount(app.db)).toBe(codes);
    // Going back to the RP starts a new sign-in that works (the SSO session remains).
    const again = await authorizationUrl(config, { scope: scopeCe, login_as: 'unit' });
    const pickerAgain = await browser.get(again.url.toString());
    expect(pickerAgain.html.querySelector('form#select-unit')).not.toBeNull();
  });

  it('S-53 S-2 when the same picker form is posted twice (replay after the sign-in finished), then the second post gets a clear message and no second code', async () => {
    const { browser, authorization, page } = await picker();
    const first = await browser.submit(page, 'form#select-unit', { unitId: unitA.id });
    const callback = callbackOf(first);
    const tokens = await redeem(config, authorization, callback);
    expect(tokens.claims()).toMatchObject({ unit_id: unitA.id });
    const codes = await codeCount(app.db);

    const replay = await browser.submit(page, 'form#select-unit', { unitId: unitB.id });
    expectReadable(replay);
    expect(Browser.text(replay)).toContain('登录已超时，请返回业务系统重新登录');
    expect(await codeCount(app.db)).toBe(codes);
  });

  it('S-53 when the same picker form is posted twice before the browser followed the first answer, then the first completes the sign-in and the second gets a readable page, so only one code reaches the RP', async () => {
    const { browser, authorization, page } = await picker();
    const action = new URL(page.html.querySelector('form#select-unit')!.getAttribute('action')!, page.url).toString();
    const body = new URLSearchParams([
      ['_csrf', csrfOf(page, 'form#select-unit')],
      ['unitId', unitA.id],
    ]).toString();
    const post = () => browser.request(action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const codes = await codeCount(app.db);
    const one = await post();
    const two = await post();
    expect(one.status).toBeLessThan(500);
    expect(two.status).toBeLessThan(500);
    const first = await browser.follow(one);
    const tokens = await redeem(config, authorization, callbackOf(first));
    expect(tokens.claims()).toMatchObject({ unit_id: unitA.id });
    const second = await browser.follow(two);
    expectReadable(second);
    expect(Browser.text(second)).toContain('请返回业务系统');
    expect(await codeCount(app.db)).toBe(codes + 1);
  });
});
