import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { browserCsrf, jpeg, lastMessage, linkIn, pdf, text, uploadAppeal, type Upload } from '../support/recovery.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { clearThrottle, countRows, signInOperator } from '../support/security.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { pickerChoices, signInAsUnit, startLogoutReceiver, tryRefresh, unitClientsFile, verifyLogoutToken, type LogoutReceiver } from '../support/unit-flows.js';

const NEW_PASSWORD = 'the real unit sets its own passphrase';
const DOCUMENTS: Upload[] = [
  { name: '营业执照.pdf', type: 'application/pdf', content: pdf('licence of the real unit') },
  { name: '法人身份证.jpg', type: 'image/jpeg', content: jpeg() },
];
const CE = 'biz:continuing_education';

/**
 * Certificate squatting (issue #11, S-22, R-R3, R-B5, S-41, S-56): someone registers an unverified unit with the
 * certificate of a real unit; the real unit's person appeals (申诉, kind `takeover`) with the certificate
 * documents; the operator's approval makes the applicant the only, common contact, ends every other binding,
 * revokes their grants, invalidates the unit password and sends the applicant a single-use link to set it.
 */
describe('certificate squatting: the real unit takes an unverified unit account over by appeal (issue #11)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let logout: LogoutReceiver;
  let operator: Browser;

  beforeAll(async () => {
    logout = await startLogoutReceiver();
    app = await startTestApp({ clients: unitClientsFile({ backchannelLogoutUri: logout.uri }) });
    config = await discover(app.issuer);
    operator = new Browser(app.url);
    await signInOperator(app, operator);
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await logout?.close();
  });
  beforeEach(async () => {
    await clearThrottle(app.db);
    await logout.quiet(0);
  });

  interface Squat {
    squatter: TestPerson;
    helper: TestPerson;
    unit: TestUnit;
    applicant: TestPerson;
  }

  async function squatted(options: { verified?: boolean } = {}): Promise<Squat> {
    const services = app.app.services;
    const squatter = await createPerson(services, { verified: true, legalName: '冒用者' });
    const helper = await createPerson(services, { verified: true, legalName: '经办人' });
    const unit = await createUnit(services, squatter, { name: '冒用注册的名称', verified: options.verified });
    await bindHandler(services, unit, helper, [CE]);
    const applicant = await createPerson(services, { verified: true, legalName: '王真实' });
    return { squatter, helper, unit, applicant };
  }

  async function fileTakeover(unit: TestUnit, applicantAccount: string, contact: string): Promise<Page> {
    const browser = new Browser(app.url);
    const csrf = await browserCsrf(browser, '/recover/unit/appeal?kind=takeover');
    return uploadAppeal(browser, csrf, { kind: 'takeover', certType: 'uscc', certNo: unit.certNo, applicantName: '王真实', contact, applicantAccount }, DOCUMENTS);
  }

  const referenceOf = (page: Page) => page.html.querySelector('#appeal-reference')?.text ?? '';

  async function operatorOpens(reference: string): Promise<Page> {
    const list = await operator.get('/operator/appeals');
    const row = list.html.querySelectorAll('#appeals tr[data-appeal]').find((tr) => tr.text.includes(reference));
    if (!row) throw new Error(`appeal ${reference} not listed:\n${text(list).slice(0, 1000)}`);
    return operator.get(`/operator/appeals/${row.getAttribute('data-appeal')}`);
  }

  const liveBindings = async (unitId: string) =>
    (
      await app.db.query<{ person_id: string; role: string; status: string }>(
        "SELECT person_id, role, status FROM binding WHERE unit_id = $1 AND status IN ('pending', 'active') ORDER BY role",
        [unitId],
      )
    ).rows;

  it("S-22 R-R3 R-B5 S-41 when the real unit's person appeals a squatted unverified unit and the operator approves, then the applicant is the only (common) contact, the squatter can no longer pick the unit, the squatter's refresh token is invalid_grant, the old unit password is dead and the audit shows the replacement", async () => {
    const { squatter, helper, unit, applicant } = await squatted();
    // The squatter and the handler hold tokens for the unit before the takeover.
    const held = await signInAsUnit(config, app.url, squatter, unit.id, { scope: `openid profile unit ${CE}` });
    expect(held.tokens.refresh_token).toBeTruthy();
    expect(held.tokens.claims()).toMatchObject({ sub: squatter.id, unit_id: unit.id });

    // The appeal form offers the takeover, with the applicant's person account.
    const form = await new Browser(app.url).get('/recover/unit/appeal?kind=takeover');
    expect(form.html.querySelector('input#f-kind-takeover')?.hasAttribute('checked')).toBe(true);
    expect(form.html.querySelector('label[for="f-applicantAccount"]')).not.toBeNull();
    const email = `real.unit.${Date.now()}@example.test`;
    const submitted = await fileTakeover(unit, applicant.loginName, email);
    expect(submitted.status).toBe(200);
    const reference = referenceOf(submitted);
    expect(reference).toMatch(/^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$/);

    // The operator sees who would become the contact and confirms with the consequences spelled out.
    const detail = await operatorOpens(reference);
    expect(detail.html.querySelector('#appeal-applicant-account')?.text).toContain(applicant.loginName);
    expect(detail.html.querySelectorAll('a.document')).toHaveLength(2);
    // The name the squatter typed is corrected on approval (the unit is unverified, R-U4).
    expect(detail.html.querySelector('input#approve-unit-name')?.getAttribute('value')).toBe('冒用注册的名称');
    const badName = await operator.submit(await operator.submit(detail, 'form#approve', { note: '', unitName: 'x' }), 'form#confirm');
    expect(badName.status).toBe(400);
    expect(text(badName)).toContain('单位名称须为2至100个字符。');
    expect(badName.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('pending');
    const confirm = await operator.submit(detail, 'form#approve', { note: '营业执照原件核对一致', unitName: '真实单位有限公司' });
    expect(text(confirm)).toContain('真实单位有限公司');
    expect(text(confirm)).toContain('成为该单位的常用联系人');
    expect(text(confirm)).toContain('原常用联系人');
    expect(text(confirm)).toContain(applicant.loginName);
    // Nothing has happened before the confirmation.
    expect((await liveBindings(unit.id)).map((binding) => binding.person_id).sort()).toEqual([squatter.id, helper.id].sort());
    const done = await operator.submit(confirm, 'form#confirm');
    expect(done.status).toBe(200);
    expect(done.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('approved');

    // The unit starts clean: the applicant is the only binding, the common contact.
    expect(await liveBindings(unit.id)).toEqual([{ person_id: applicant.id, role: 'contact', status: 'active' }]);
    expect(await countRows(app.db, 'binding', "unit_id = $1 AND person_id = ANY($2::uuid[]) AND status = 'unbound'", [unit.id, [squatter.id, helper.id]])).toBe(2);
    // The squatter's tokens are gone (S-41) and the RP was told by back-channel logout (S-56).
    expect(await tryRefresh(config, held.tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect(await verifyLogoutToken(await logout.next(), app.issuer, 'test-rp')).toMatchObject({ sub: squatter.id, sid: (held.tokens.claims() as { sid?: string }).sid });
    // The squatter can no longer pick the unit.
    const again = await authorizationUrl(config, { scope: 'openid profile unit', login_as: 'unit' });
    const picker = await held.browser.get(again.url.toString());
    expect(pickerChoices(picker).unitIds).not.toContain(unit.id);
    // The old unit password no longer works.
    await expect(app.app.services.units.authenticate(unit.loginName, unit.password, { actor: { type: 'anonymous' } })).rejects.toBeTruthy();
    // The audit trail: decision and replacement, naming both contacts.
    const replaced = await app.db.query<{ detail: Record<string, unknown> }>("SELECT detail FROM audit_event WHERE action = 'unit.contact_replaced' AND acting_unit_id = $1", [
      unit.id,
    ]);
    expect(replaced.rows).toHaveLength(1);
    expect(replaced.rows[0]!.detail).toMatchObject({ previousContact: squatter.id, newContact: applicant.id, oldName: '冒用注册的名称', name: '真实单位有限公司' });
    expect((await app.app.services.units.byId(unit.id))?.name).toBe('真实单位有限公司');
    expect(await countRows(app.db, 'unit_name_history', "unit_id = $1 AND old_name = '冒用注册的名称' AND new_name = '真实单位有限公司'", [unit.id])).toBe(1);
    expect(await countRows(app.db, 'audit_event', "action = 'appeal.approve' AND acting_unit_id = $1", [unit.id])).toBe(1);

    // The single-use link sets the unit password; then the applicant signs in for the unit as its common contact.
    const browser = new Browser(app.url);
    const landing = await browser.get(linkIn(await lastMessage(app.db, email)));
    expect(text(landing)).toContain('您已成为该单位的常用联系人');
    const set = await browser.submit(landing, 'form#appeal-link', { password: NEW_PASSWORD, passwordConfirm: NEW_PASSWORD });
    expect(set.status).toBe(200);
    expect(text(set)).toContain('单位账号密码已重置');
    await expect(app.app.services.units.authenticate(unit.loginName, NEW_PASSWORD, { actor: { type: 'anonymous' } })).resolves.toMatchObject({ id: unit.id });
    expect((await browser.submit(landing, 'form#appeal-link', { password: 'one more passphrase here', passwordConfirm: 'one more passphrase here' })).status).toBe(400);
    const own = await signInAsUnit(config, app.url, applicant, unit.id, { scope: 'openid profile unit' });
    expect(own.tokens.claims()).toMatchObject({ sub: applicant.id, unit_id: unit.id, unit_role: 'contact' });
  });

  it('R-R2 when the unit is verified, then a takeover appeal is refused with a readable message and nothing is written; an applicant account that is missing or unverified is accepted alike at filing (S-29) and refused at approval', async () => {
    const { unit, applicant } = await squatted({ verified: true });
    const before = await countRows(app.db, 'appeal');
    const refused = await fileTakeover(unit, applicant.loginName, `v.${Date.now()}@example.test`);
    expect(refused.status).toBe(409);
    expect(text(refused)).toContain('该单位已完成实名认证，只能“通过常用联系人找回”，不能申诉。');

    expect(await countRows(app.db, 'appeal')).toBe(before);

    // S-29: filing answers alike for a verified, an unverified and a missing account; the account is looked up
    // only when the operator decides, and an unusable one cannot be approved (nothing changes).
    const other = await squatted();
    const unverified = await createPerson(app.app.services);
    const filed = await Promise.all([
      fileTakeover(other.unit, other.applicant.loginName, `a.${Date.now()}@example.test`),
      fileTakeover(other.unit, unverified.loginName, `u.${Date.now()}@example.test`),
      fileTakeover(other.unit, `nobody${Date.now()}`, `n.${Date.now()}@example.test`),
    ]);
    expect(filed.map((page) => page.status)).toEqual([200, 200, 200]);
    expect(new Set(filed.map((page) => text(page).replace(/[0-9A-Z]{4}(-[0-9A-Z]{4})+/g, 'REF')))).toHaveProperty('size', 1);
    for (const page of filed.slice(1)) {
      const opened = await operatorOpens(referenceOf(page));
      expect(text(opened)).toContain('未找到已完成实名认证的个人账号，不能批准');
      const approval = await operator.submit(await operator.submit(opened, 'form#approve', { note: '' }), 'form#confirm');
      expect(approval.status).toBe(409);
      expect(text(approval)).toContain('申请人填写的个人账号不存在或未完成实名认证，不能批准此申诉。');
      expect(approval.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('pending');
    }
    expect((await liveBindings(other.unit.id)).map((binding) => binding.person_id).sort()).toEqual([other.squatter.id, other.helper.id].sort());

    // A unit verified after the appeal was filed is not taken over either: the approval is refused, nothing changes.
    const late = await squatted();
    const reference = referenceOf(await fileTakeover(late.unit, late.applicant.loginName, `l.${Date.now()}@example.test`));
    await app.db.query("UPDATE unit SET verified_at = now(), verified_by = 'test' WHERE id = $1", [late.unit.id]);
    const approval = await operator.submit(await operator.submit(await operatorOpens(reference), 'form#approve', { note: '' }), 'form#confirm');
    expect(approval.status).toBe(409);
    expect(approval.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('pending');
    expect((await liveBindings(late.unit.id)).map((binding) => binding.person_id).sort()).toEqual([late.squatter.id, late.helper.id].sort());
    expect(await countRows(app.db, 'audit_event', "action = 'unit.contact_replaced' AND acting_unit_id = $1", [late.unit.id])).toBe(0);
  });

  it("R-R3 when the operator rejects a takeover appeal, then the bindings, the squatter's tokens and the unit password are unchanged", async () => {
    const { squatter, helper, unit, applicant } = await squatted();
    const held = await signInAsUnit(config, app.url, squatter, unit.id, { scope: `openid profile unit ${CE}` });
    const reference = referenceOf(await fileTakeover(unit, applicant.loginName, `r.${Date.now()}@example.test`));
    const confirm = await operator.submit(await operatorOpens(reference), 'form#reject', { note: '材料与单位信息不一致' });
    const done = await operator.submit(confirm, 'form#confirm');
    expect(done.html.querySelector('#appeal-state')?.getAttribute('data-state')).toBe('rejected');
    expect((await liveBindings(unit.id)).map((binding) => `${binding.person_id}:${binding.role}`).sort()).toEqual([`${squatter.id}:contact`, `${helper.id}:handler`].sort());
    expect(await tryRefresh(config, held.tokens.refresh_token!)).toMatchObject({ ok: true });
    await expect(app.app.services.units.authenticate(unit.loginName, unit.password, { actor: { type: 'anonymous' } })).resolves.toMatchObject({ id: unit.id });
    expect(await countRows(app.db, 'audit_event', "action = 'unit.contact_replaced' AND acting_unit_id = $1", [unit.id])).toBe(0);
  });
});
