import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { signInOperator, signInToAccount } from '../support/security.js';
import { bindHandler, createUnit, uscc, type TestUnit } from '../support/units.js';
import { auditOf, bindingById, bindingsOf, codesOf, csrfFrom, csrfOn, pathOf, postForm, rowCounts, signInUnit, unitRow, SLOW_MS } from '../support/unit-console.js';

/**
 * The unit account guide (../shared/seed/unit-account-guide.en.md), one scenario per section, played through the
 * HTTP application on a real database as the people in the guide would: the registrant in the account centre,
 * the unit account on the 单位登录 tab and in 子账户信息, the handler in the account centre, the operator at the
 * counter. Each scenario checks what the page says and what the database holds afterwards (R-U1–R-U5,
 * R-B1–R-B5, R-A1, C-UI4).
 */

const ALL_SCOPES = ['biz:continuing_education', 'biz:civil_service_exam', 'biz:online_service_hall', 'biz:social_insurance'];
const CODE = /[A-HJKMNP-Z2-9]{5}-[A-HJKMNP-Z2-9]{5}/;

describe('the unit account guide, section by section (issue #4)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  }, SLOW_MS);
  afterAll(() => app.close());

  const services = () => app.app.services;
  const text = (page: Page) => Browser.text(page);

  /** The 子账户信息 row of a binding. */
  const row = (page: Page, bindingId: string) => page.html.querySelector(`tr[data-binding="${bindingId}"]`);

  describe('guide §1 register a unit account (R-U1, R-U2)', () => {
    it(
      'when a real-name verified person registers a unit in the account centre, then the unit exists and the registrant is its common contact with every permission',
      async () => {
        const person = await createPerson(services(), { verified: true, legalName: '王五' });
        const browser = new Browser(app.url);
        await signInToAccount(browser, person.loginName, person.password);
        const form = await browser.get('/account/units/register');
        expect(form.status).toBe(200);
        expect(form.html.querySelector('form#unit-register')).not.toBeNull();
        const certNo = uscc();
        const loginName = `reg${Date.now().toString(36)}`;
        const done = await browser.submit(form, 'form#unit-register', {
          name: '  示例  科技有限公司 ',
          certType: 'uscc',
          certNo: certNo.toLowerCase(),
          loginName,
          password: 'unit password for tests',
          passwordConfirm: 'unit password for tests',
        });

        expect(done.status).toBe(200);
        expect(text(done)).toContain('单位账号注册成功');
        expect(text(done)).toContain(certNo);
        const { rows } = await app.db.query<{ id: string }>('SELECT id FROM unit WHERE cert_type = $1 AND cert_no = $2', ['uscc', certNo]);
        expect(rows).toHaveLength(1);
        const unit = await unitRow(app.db, rows[0]!.id);
        expect(unit).toMatchObject({
          name: '示例 科技有限公司',
          cert_type: 'uscc',
          cert_no: certNo,
          login_name: loginName,
          verified_at: null,
          status: 'active',
          registered_by: person.id,
        });
        const bindings = await bindingsOf(app.db, unit!.id);
        expect(bindings).toHaveLength(1);
        expect(bindings[0]).toMatchObject({ person_id: person.id, role: 'contact', status: 'active' });
        expect([...bindings[0]!.scopes].sort()).toEqual([...ALL_SCOPES].sort());
        expect(await auditOf(app.db, 'unit.register', unit!.id)).toEqual([
          expect.objectContaining({ outcome: 'success', actor_type: 'person', actor_id: person.id, target_id: unit!.id }),
        ]);

        // The registrant sees the unit among his or her units, as its common contact.
        const account = await browser.get('/account');
        expect(account.html.querySelector(`#my-units tr[data-unit="${unit!.id}"]`)?.text).toContain('常用联系人');
      },
      SLOW_MS,
    );

    it(
      'when a person without real-name verification opens or posts the registration, then it is refused and no unit is written',
      async () => {
        const person = await createPerson(services(), { verified: false });
        const browser = new Browser(app.url);
        const account = await signInToAccount(browser, person.loginName, person.password);
        expect(account.html.querySelector('a[href="/account/units/register"]')).toBeNull();
        const form = await browser.get('/account/units/register');
        expect(form.status).toBe(200);
        expect(form.html.querySelector('form#unit-register')).toBeNull();
        expect(text(form)).toContain('只有完成实名认证的个人才能注册单位账号。');

        const before = await rowCounts(app.db);
        const posted = await postForm(browser, '/account/units/register', await csrfFrom(browser, '/account/password'), [
          ['name', '未认证单位'],
          ['certType', 'uscc'],
          ['certNo', uscc()],
          ['loginName', `unv${Date.now().toString(36)}`],
          ['password', 'unit password for tests'],
          ['passwordConfirm', 'unit password for tests'],
        ]);
        expect(posted.status).toBe(403);
        expect(text(posted)).toContain('只有完成实名认证的个人才能注册单位账号。');
        expect(await rowCounts(app.db)).toEqual(before);
        expect(await auditOf(app.db, 'unit.register')).not.toContainEqual(expect.objectContaining({ actor_id: person.id }));
      },
      SLOW_MS,
    );

    it(
      'when a second person registers the same certificate, then “单位已注册” with the way to 找回账号, and nothing is written',
      async () => {
        const first = await createPerson(services(), { verified: true });
        const existing = await createUnit(services(), first);
        const second = await createPerson(services(), { verified: true });
        const browser = new Browser(app.url);
        await signInToAccount(browser, second.loginName, second.password);
        const form = await browser.get('/account/units/register');
        const before = await rowCounts(app.db);
        const refused = await browser.submit(form, 'form#unit-register', {
          name: '另一个名称',
          certType: 'uscc',
          certNo: ` ${existing.certNo.toLowerCase()} `,
          loginName: `dup${Date.now().toString(36)}`,
          password: 'unit password for tests',
          passwordConfirm: 'unit password for tests',
        });
        expect(refused.status).toBe(409);
        expect(text(refused)).toContain('单位已注册');
        expect(text(refused)).toContain('账号找回');
        expect(refused.html.querySelector('a[href="/recover/unit/account"]')).not.toBeNull();
        expect(await rowCounts(app.db)).toEqual(before);
        expect((await bindingsOf(app.db, existing.id)).map((binding) => binding.person_id)).toEqual([first.id]);
      },
      SLOW_MS,
    );
  });

  describe('guide §2 the unit account binds a person and grants a business permission (R-U3, R-B1, C-UI4)', () => {
    it(
      'when the unit account signs in on the 单位登录 tab and binds a verified person with 继续教育, then 子账户信息 lists a pending 经办人员 and the database holds the binding',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第二节示例单位' });
        const handler = await createPerson(services(), { verified: true, legalName: '李四' });
        const browser = new Browser(app.url);

        const login = await browser.get('/unit');
        expect(pathOf(login)).toMatch(/^\/interaction\//);
        expect(text(login)).toContain('单位登录');
        expect(login.html.querySelector('form#person-login')).toBeNull();
        const home = await browser.submit(login, 'form#unit-login', { account: unit.loginName, password: unit.password });
        expect(pathOf(home)).toBe('/unit');
        expect(text(home)).toContain('第二节示例单位');

        const subaccounts = await browser.get('/unit/bindings');
        expect(subaccounts.status).toBe(200);
        expect(text(subaccounts)).toContain('子账户信息');
        expect(text(subaccounts)).toContain('常用联系人');
        const bound = await browser.submit(subaccounts, 'form#bind', { account: handler.loginName, scopes: 'biz:continuing_education' });

        expect(bound.status).toBe(200);
        expect(new URL(bound.url).search).toBe('?done=bind');
        expect(text(bound)).toContain('已发出绑定邀请');
        const bindings = await bindingsOf(app.db, unit.id);
        const binding = bindings.find((entry) => entry.person_id === handler.id);
        expect(binding).toMatchObject({ role: 'handler', status: 'pending', scopes: ['biz:continuing_education'], valid_from: null, valid_until: null, accepted_at: null });
        const shown = row(bound, binding!.id);
        expect(shown?.text).toContain(handler.loginName);
        expect(shown?.text).toContain('经办人员');
        expect(shown?.text).toContain('待确认');
        const scopesCell = shown?.querySelectorAll('td')[3]?.text ?? '';
        expect(scopesCell).toContain('继续教育');
        expect(scopesCell).not.toContain('社会保险');
        expect(await auditOf(app.db, 'binding.bind', unit.id)).toEqual([
          expect.objectContaining({ outcome: 'success', actor_type: 'unit', actor_id: unit.id, target_id: handler.id }),
        ]);
      },
      SLOW_MS,
    );

    it(
      'when the unit account binds with a mobile number, several permissions and a validity period, then all of it is stored',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact);
        const handler = await createPerson(services(), { verified: true });
        const browser = new Browser(app.url);
        const page = await signInUnit(browser, unit, '/unit/bindings');
        const year = new Date().getUTCFullYear() + 1;
        const done = await browser.follow(
          await postForm(browser, '/unit/bindings', csrfOn(page), [
            ['account', handler.mobile],
            ['scopes', 'biz:continuing_education'],
            ['scopes', 'biz:online_service_hall'],
            ['validFrom', `${year}-01-01`],
            ['validUntil', `${year}-12-31`],
          ]),
        );
        expect(new URL(done.url).search).toBe('?done=bind');
        const binding = (await bindingsOf(app.db, unit.id)).find((entry) => entry.person_id === handler.id);
        expect(binding?.scopes).toEqual(['biz:continuing_education', 'biz:online_service_hall']);
        // Dates are China Standard Time, the end date inclusive.
        expect(binding?.valid_from?.toISOString()).toBe(`${year - 1}-12-31T16:00:00.000Z`);
        expect(binding?.valid_until?.toISOString()).toBe(`${year}-12-31T16:00:00.000Z`);
        expect(row(done, binding!.id)?.text).toContain(`${year}-01-01 – ${year}-12-31`);
      },
      SLOW_MS,
    );
  });

  describe('guide §3 the personal account accepts the binding (R-B1)', () => {
    let contact: TestPerson;
    let unit: TestUnit;

    beforeAll(async () => {
      contact = await createPerson(services(), { verified: true });
      unit = await createUnit(services(), contact, { name: '第三节示例单位' });
    }, SLOW_MS);

    it(
      'when the handler accepts in the account centre, then the binding is active and the unit is among his or her units',
      async () => {
        const handler = await createPerson(services(), { verified: true });
        const binding = await services().bindings.bind(unit.id, { account: handler.loginName, scopes: ['biz:continuing_education'] }, { actor: { type: 'unit', id: unit.id } });
        const browser = new Browser(app.url);
        const account = await signInToAccount(browser, handler.loginName, handler.password);
        const pending = account.html.querySelector(`#pending-bindings tr[data-binding="${binding.id}"]`);
        expect(pending?.text).toContain('第三节示例单位');
        expect(pending?.text).toContain(unit.certNo);
        expect(pending?.text).toContain('继续教育');

        const accepted = await browser.submit(account, `form[action="/account/bindings/${binding.id}/accept"]`);
        expect(accepted.status).toBe(200);
        expect(text(accepted)).toContain('已同意单位授权。');
        expect(accepted.html.querySelector('#pending-bindings')).toBeNull();
        expect(accepted.html.querySelector(`#my-units tr[data-unit="${unit.id}"]`)?.text).toContain('已生效');
        const stored = await bindingById(app.db, binding.id);
        expect(stored).toMatchObject({ status: 'active', role: 'handler' });
        expect(stored?.accepted_at).toBeInstanceOf(Date);
        expect(await auditOf(app.db, 'binding.accept', unit.id)).toContainEqual(expect.objectContaining({ actor_type: 'person', actor_id: handler.id, target_id: binding.id }));
        expect((await services().bindings.activeFor(handler.id, unit.id))?.id).toBe(binding.id);

        // The unit account sees it in force.
        const unitBrowser = new Browser(app.url);
        const subaccounts = await signInUnit(unitBrowser, unit, '/unit/bindings');
        expect(row(subaccounts, binding.id)?.text).toContain('已生效');
      },
      SLOW_MS,
    );

    it(
      'when the person declines instead, then the binding ends as declined, the unit lists it no more and may invite again',
      async () => {
        const person = await createPerson(services(), { verified: true });
        const binding = await services().bindings.bind(unit.id, { account: person.loginName, scopes: ['biz:civil_service_exam'] }, { actor: { type: 'unit', id: unit.id } });
        const browser = new Browser(app.url);
        const account = await signInToAccount(browser, person.loginName, person.password);
        const declined = await browser.submit(account, `form[action="/account/bindings/${binding.id}/decline"]`);
        expect(declined.status).toBe(200);
        expect(text(declined)).toContain('已拒绝单位授权。');
        expect(declined.html.querySelector(`#my-units tr[data-unit="${unit.id}"]`)).toBeNull();
        const stored = await bindingById(app.db, binding.id);
        expect(stored).toMatchObject({ status: 'declined', accepted_at: null });
        expect(stored?.ended_at).toBeInstanceOf(Date);
        expect(await services().bindings.activeFor(person.id, unit.id)).toBeUndefined();

        // Accepting the declined binding afterwards does nothing.
        const again = await postForm(browser, `/account/bindings/${binding.id}/accept`, await csrfFrom(browser, '/account/password'));
        expect(again.status).toBe(409);
        expect((await bindingById(app.db, binding.id))?.status).toBe('declined');

        const unitBrowser = new Browser(app.url);
        const subaccounts = await signInUnit(unitBrowser, unit, '/unit/bindings');
        expect(row(subaccounts, binding.id)).toBeNull();
        const invited = await unitBrowser.submit(subaccounts, 'form#bind', { account: person.loginName, scopes: 'biz:civil_service_exam' });
        expect(new URL(invited.url).search).toBe('?done=bind');
        const all = (await bindingsOf(app.db, unit.id)).filter((entry) => entry.person_id === person.id);
        expect(all.map((entry) => entry.status)).toEqual(['declined', 'pending']);
      },
      SLOW_MS,
    );
  });

  describe('guide §5 unbind a handler (R-B4, R-B5)', () => {
    it(
      '§5.1 when the unit account clicks 取消绑定 on a 经办人员, then the binding ends at once and the person no longer has the unit',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第五节示例单位' });
        const handler = await createPerson(services(), { verified: true });
        const bindingId = await bindHandler(services(), unit, handler, ['biz:continuing_education']);
        const browser = new Browser(app.url);
        const subaccounts = await signInUnit(browser, unit, '/unit/bindings');
        expect(row(subaccounts, bindingId)?.text).toContain('经办人员');
        expect(row(subaccounts, bindingId)?.querySelector('form.unbind')?.text).toContain('取消绑定');

        // 取消绑定 first asks for confirmation, naming the person, the unit and the consequence.
        const confirm = await browser.submit(subaccounts, `tr[data-binding="${bindingId}"] form.unbind`);
        expect(confirm.status).toBe(200);
        expect(text(confirm)).toContain('确认取消绑定');
        expect(text(confirm)).toContain('第五节示例单位');
        expect(text(confirm)).toContain(handler.loginName);
        expect((await bindingById(app.db, bindingId))?.status).toBe('active');
        const done = await browser.submit(confirm, 'form#confirm');
        expect(done.status).toBe(200);
        expect(text(done)).toContain('已取消绑定。');
        expect(row(done, bindingId)).toBeNull();
        const stored = await bindingById(app.db, bindingId);
        expect(stored).toMatchObject({ status: 'unbound', role: 'handler' });
        expect(stored?.ended_at).toBeInstanceOf(Date);
        expect(await services().bindings.activeFor(handler.id, unit.id)).toBeUndefined();
        expect(await auditOf(app.db, 'binding.unbind', unit.id)).toEqual([
          expect.objectContaining({ outcome: 'success', actor_type: 'unit', actor_id: unit.id, target_id: handler.id }),
        ]);

        const person = new Browser(app.url);
        const account = await signInToAccount(person, handler.loginName, handler.password);
        expect(account.html.querySelector(`#my-units tr[data-unit="${unit.id}"]`)).toBeNull();
      },
      SLOW_MS,
    );

    it(
      '§5.2 when the unit tries to unbind the 常用联系人, then it is refused until another contact is set; after that the previous contact can be unbound',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact);
        const handler = await createPerson(services(), { verified: true });
        const handlerBinding = await bindHandler(services(), unit, handler, ['biz:continuing_education']);
        const contactBinding = (await bindingsOf(app.db, unit.id)).find((entry) => entry.role === 'contact')!;
        const browser = new Browser(app.url);
        const subaccounts = await signInUnit(browser, unit, '/unit/bindings');
        expect(row(subaccounts, contactBinding.id)?.text).toContain('常用联系人');
        // The page offers no 取消绑定 for the contact …
        expect(row(subaccounts, contactBinding.id)?.querySelector('form.unbind')).toBeNull();
        // … and a forged request is refused with the guide's rule.
        const refused = await postForm(browser, `/unit/bindings/${contactBinding.id}/unbind`, csrfOn(subaccounts));
        expect(refused.status).toBe(409);
        expect(Browser.text(refused)).toContain('常用联系人不能取消绑定，请先将其他经办人员设为常用联系人。');
        expect(await bindingById(app.db, contactBinding.id)).toMatchObject({ role: 'contact', status: 'active' });

        // The contact's row states the rule instead of offering 取消绑定.
        expect(row(subaccounts, contactBinding.id)?.text).toContain('常用联系人不能取消绑定。如需更换，请先将另一位经办人员设为常用联系人。');
        const confirmContact = await browser.submit(subaccounts, `tr[data-binding="${handlerBinding}"] form.set-contact`);
        expect(text(confirmContact)).toContain('确认设为常用联系人');
        expect(await bindingById(app.db, handlerBinding)).toMatchObject({ role: 'handler' });
        const changed = await browser.submit(confirmContact, 'form#confirm');
        expect(changed.status).toBe(200);
        expect(text(changed)).toContain('常用联系人已变更。');
        expect(await bindingById(app.db, handlerBinding)).toMatchObject({ role: 'contact', status: 'active' });
        const previous = await bindingById(app.db, contactBinding.id);
        expect(previous).toMatchObject({ role: 'handler', status: 'active' });
        expect([...previous!.scopes].sort()).toEqual([...ALL_SCOPES].sort());
        expect(row(changed, contactBinding.id)?.text).toContain('经办人员');
        expect(await auditOf(app.db, 'binding.contact', unit.id)).toEqual([
          expect.objectContaining({ actor_type: 'unit', actor_id: unit.id, target_id: handler.id, detail: expect.objectContaining({ previous: contact.id }) }),
        ]);

        const unbound = await browser.submit(await browser.submit(changed, `tr[data-binding="${contactBinding.id}"] form.unbind`), 'form#confirm');
        expect(text(unbound)).toContain('已取消绑定。');
        const after = await bindingsOf(app.db, unit.id);
        expect(after.filter((entry) => entry.role === 'contact' && entry.status === 'active').map((entry) => entry.person_id)).toEqual([handler.id]);
        expect(after.find((entry) => entry.id === contactBinding.id)?.status).toBe('unbound');
      },
      SLOW_MS,
    );
  });

  describe('guide §6 real-name verification of the unit with a counter code (R-U5)', () => {
    /** The operator issues a code on the unit's page; returns the code as shown (once) and the page. */
    async function issueAtCounter(unit: TestUnit): Promise<string> {
      const browser = new Browser(app.url);
      await signInOperator(app, browser);
      const search = await browser.get(`/operator/units?q=${encodeURIComponent(unit.certNo)}`);
      expect(search.status).toBe(200);
      expect(search.html.querySelector(`a[href="/operator/units/${unit.id}"]`)).not.toBeNull();
      const page = await browser.get(`/operator/units/${unit.id}`);
      // 签发授权码 first asks for confirmation, naming the unit and its certificate.
      const confirm = await browser.submit(page, 'form#issue-code');
      expect(text(confirm)).toContain('确认签发授权码');
      expect(text(confirm)).toContain(unit.certNo);
      expect(await codesOf(app.db, unit.id)).toHaveLength(0);
      const issued = await browser.submit(confirm, 'form#confirm');
      expect(issued.status).toBe(200);
      const shown = issued.html.querySelector('#issued-code')?.text ?? '';
      expect(shown).toContain('仅显示一次');
      const code = CODE.exec(shown)?.[0];
      expect(code).toBeDefined();

      // Stored as an HMAC only: neither the code nor a simple transform of it is in the database.
      const rows = await codesOf(app.db, unit.id);
      expect(rows).toHaveLength(1);
      const plain = code!.replace('-', '');
      expect(rows[0]!.code_hmac).not.toContain(plain);
      expect(rows[0]!.code_hmac).not.toContain(code!);
      expect(rows[0]!.code_hmac).toMatch(/^[A-Za-z0-9_+/=-]{32,}$/);
      expect(rows[0]!.hint).toBe(plain.slice(-2));
      const { rows: dump } = await app.db.query<{ t: string }>('SELECT t::text AS t FROM unit_verification_code t');
      expect(dump.map((entry) => entry.t).join('|')).not.toContain(plain);
      // Shown once: the unit page shows only its last two characters afterwards.
      const again = await browser.get(`/operator/units/${unit.id}`);
      expect(again.body).not.toContain(plain);
      expect(again.body).not.toContain(code!);
      expect(again.html.querySelector('#codes')?.text).toContain(`…${plain.slice(-2)}`);
      return code!;
    }

    it(
      'when an operator issues a code and the unit account enters it, then the unit is verified',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第六节示例单位' });
        const code = await issueAtCounter(unit);

        const browser = new Browser(app.url);
        const form = await signInUnit(browser, unit, '/unit/verify');
        expect(text(form)).toContain('单位获取授权码业务');
        const done = await browser.submit(form, 'form#verify', { code: code.toLowerCase() });
        expect(done.status).toBe(200);
        expect(pathOf(done)).toBe('/unit');
        expect(text(done)).toContain('单位已完成实名认证。');
        expect(text(done)).toContain('已实名认证');
        const stored = await unitRow(app.db, unit.id);
        expect(stored?.verified_at).toBeInstanceOf(Date);
        expect(stored?.verified_by).toBe(`unit:${unit.id}`);
        const [codeRow] = await codesOf(app.db, unit.id);
        expect(codeRow?.used_at).toBeInstanceOf(Date);
        expect(codeRow?.used_by).toBe(`unit:${unit.id}`);
        expect(await auditOf(app.db, 'unit.verify', unit.id)).toEqual([expect.objectContaining({ outcome: 'success', actor_type: 'unit', actor_id: unit.id })]);
        expect(await auditOf(app.db, 'unit.code_issue', unit.id)).toEqual([expect.objectContaining({ outcome: 'success', actor_type: 'operator' })]);
        const verifyPage = await browser.get('/unit/verify');
        expect(verifyPage.html.querySelector('form#verify')).toBeNull();
      },
      SLOW_MS,
    );

    it(
      'when a handler enters the code in the account centre, then the unit is verified by the handler',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact);
        const handler = await createPerson(services(), { verified: true });
        await bindHandler(services(), unit, handler, ['biz:social_insurance']);
        const code = await issueAtCounter(unit);

        const browser = new Browser(app.url);
        const account = await signInToAccount(browser, handler.loginName, handler.password);
        expect(account.html.querySelector(`#my-units tr[data-unit="${unit.id}"]`)?.text).toContain('未实名认证');
        const done = await browser.submit(account, `form[action="/account/units/${unit.id}/verify"]`, { code: ` ${code} ` });
        expect(done.status).toBe(200);
        expect(text(done)).toContain('单位已完成实名认证。');
        expect(done.html.querySelector(`#my-units tr[data-unit="${unit.id}"]`)?.text).toContain('已实名认证');
        const stored = await unitRow(app.db, unit.id);
        expect(stored?.verified_at).toBeInstanceOf(Date);
        expect(stored?.verified_by).toBe(`person:${handler.id}`);
        expect((await codesOf(app.db, unit.id))[0]?.used_by).toBe(`person:${handler.id}`);
        expect(await auditOf(app.db, 'unit.verify', unit.id)).toEqual([expect.objectContaining({ outcome: 'success', actor_type: 'person', actor_id: handler.id })]);
      },
      SLOW_MS,
    );
  });

  describe('guide §7 change the unit information (R-U4)', () => {
    it(
      'when the unit is unverified, then the name can be changed in the general form but certificate type and number cannot',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第七节原名称' });
        const browser = new Browser(app.url);
        const home = await signInUnit(browser, unit);
        expect(text(home)).toContain('证件类型和证件号码不能修改。');
        const form = home.html.querySelector('form#unit-info')!;
        expect(form).not.toBeNull();
        // Certificate fields are shown read-only and are not submitted.
        for (const id of ['f-certType', 'f-certNo']) {
          const input = form.querySelector(`#${id}`);
          expect(input?.hasAttribute('disabled')).toBe(true);
          expect(input?.getAttribute('name')).toBeUndefined();
        }
        // A forged request that adds certificate fields changes the name only.
        const saved = await browser.follow(
          await postForm(browser, '/unit/info', csrfOn(home), [
            ['name', '第七节新名称'],
            ['certType', 'other'],
            ['certNo', 'FORGED-123'],
            ['cert_no', 'FORGED-123'],
            ['cert_type', 'other'],
          ]),
        );
        expect(saved.status).toBe(200);
        expect(text(saved)).toContain('单位信息已保存。');
        expect(await unitRow(app.db, unit.id)).toMatchObject({ name: '第七节新名称', cert_type: 'uscc', cert_no: unit.certNo });
        const { rows: history } = await app.db.query<{ old_name: string; new_name: string }>('SELECT old_name, new_name FROM unit_name_history WHERE unit_id = $1', [unit.id]);
        expect(history).toEqual([{ old_name: '第七节原名称', new_name: '第七节新名称' }]);
        expect(await auditOf(app.db, 'unit.update', unit.id)).toEqual([expect.objectContaining({ actor_type: 'unit', actor_id: unit.id })]);
      },
      SLOW_MS,
    );

    it(
      'when the unit is verified, then the general form is gone and a forged name change is refused',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第七节已认证单位', verified: true });
        const browser = new Browser(app.url);
        const home = await signInUnit(browser, unit);
        expect(home.html.querySelector('form#unit-info')).toBeNull();
        expect(home.html.querySelector('a[href="/unit/name-change"]')).not.toBeNull();
        expect(text(home)).toContain(unit.certNo);
        const refused = await postForm(browser, '/unit/info', await csrfFrom(browser, '/unit/password'), [['name', '第七节偷改名称']]);
        expect(refused.status).toBe(409);
        expect(Browser.text(refused)).toContain('单位已完成实名认证，名称不能在此修改');
        expect(await unitRow(app.db, unit.id)).toMatchObject({ name: '第七节已认证单位', cert_no: unit.certNo });
        expect(await auditOf(app.db, 'unit.update', unit.id)).toEqual([]);
      },
      SLOW_MS,
    );
  });

  describe('guide §8 change the name of a verified unit (R-U4)', () => {
    it(
      'when a verified unit changes its name with the dedicated function, then “修改单位信息成功，请退出重新登录，刷新用户信息” and the previous name stays in unit_name_history',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第八节原名称有限公司', verified: true });
        const browser = new Browser(app.url);
        const form = await signInUnit(browser, unit, '/unit/name-change');
        expect(text(form)).toContain('第八节原名称有限公司');
        const done = await browser.submit(form, 'form#name-change', { name: '第八节新名称有限公司' });
        expect(done.status).toBe(200);
        expect(pathOf(done)).toBe('/unit');
        expect(text(done)).toContain('修改单位信息成功，请退出重新登录，刷新用户信息');
        expect(await unitRow(app.db, unit.id)).toMatchObject({ name: '第八节新名称有限公司', cert_no: unit.certNo });
        expect(await unitRow(app.db, unit.id).then((stored) => stored?.verified_at)).toBeInstanceOf(Date);
        const { rows: history } = await app.db.query<{ old_name: string; new_name: string; changed_by: string }>(
          'SELECT old_name, new_name, changed_by FROM unit_name_history WHERE unit_id = $1',
          [unit.id],
        );
        expect(history).toEqual([{ old_name: '第八节原名称有限公司', new_name: '第八节新名称有限公司', changed_by: `unit:${unit.id}` }]);
        expect(await auditOf(app.db, 'unit.name_change', unit.id)).toEqual([
          expect.objectContaining({ actor_type: 'unit', actor_id: unit.id, detail: { oldName: '第八节原名称有限公司', name: '第八节新名称有限公司' } }),
        ]);
        // The history is shown on the unit page.
        expect(text(done)).toContain('名称变更记录');
        expect(text(done)).toContain('第八节原名称有限公司');

        // The same name again is refused and adds no history.
        const again = await browser.get('/unit/name-change');
        const same = await browser.submit(again, 'form#name-change', { name: '第八节新名称有限公司' });
        expect(same.status).toBe(400);
        expect(text(same)).toContain('新名称与当前名称相同。');
        const { rows: after } = await app.db.query('SELECT 1 FROM unit_name_history WHERE unit_id = $1', [unit.id]);
        expect(after).toHaveLength(1);
      },
      SLOW_MS,
    );

    it(
      'when an unverified unit uses the dedicated name change, then it is sent to the general form and nothing changes',
      async () => {
        const contact = await createPerson(services(), { verified: true });
        const unit = await createUnit(services(), contact, { name: '第八节未认证单位' });
        const browser = new Browser(app.url);
        const form = await signInUnit(browser, unit, '/unit/name-change');
        const refused = await browser.submit(form, 'form#name-change', { name: '第八节其他名称' });
        expect(refused.status).toBe(409);
        expect(text(refused)).toContain('单位尚未实名认证，请直接在单位信息中修改名称。');
        expect((await unitRow(app.db, unit.id))?.name).toBe('第八节未认证单位');
        const { rows } = await app.db.query('SELECT 1 FROM unit_name_history WHERE unit_id = $1', [unit.id]);
        expect(rows).toHaveLength(0);
      },
      SLOW_MS,
    );
  });
});
