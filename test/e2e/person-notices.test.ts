import crypto from 'node:crypto';
import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { jobsSettled } from '../support/jobs.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { signInToAccount } from '../support/security.js';
import { bindingsOf, csrfOn, postForm, signInUnit, tryTransaction } from '../support/unit-console.js';
import { openAndLogIn } from '../support/unit-flows.js';
import { bindHandler, createUnit } from '../support/units.js';

const text = (page: Page) => Browser.text(page);

/**
 * Notices to people (issue 14, R-B1, R-B4, S-56): a binding invitation and an unbinding reach the person as an SMS
 * (a notifier job written with the change) and as a notice in the account centre, unread until marked read; a
 * business system's sign-in for a unit that unbound the person says why on the picker, without telling anything
 * about units the person never belonged to (S-40).
 */
describe('notices of bindings to the person (issue 14)', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
  });
  afterAll(() => app.close());

  const noticesOf = async (personId: string) =>
    (
      await app.db.query<{ kind: string; unit_name: string; binding_id: string; read: boolean }>(
        'SELECT kind, unit_name, binding_id, read_at IS NOT NULL AS read FROM person_notice WHERE person_id = $1 ORDER BY created_at',
        [personId],
      )
    ).rows;

  async function smsTo(mobile: string): Promise<string[]> {
    await jobsSettled(app.db);
    return (await app.db.query<{ body: string }>('SELECT body FROM notification_outbox WHERE recipient = $1 ORDER BY created_at', [mobile])).rows.map((row) => row.body);
  }

  async function signedInUnit(unitName: string): Promise<{ contact: TestPerson; unit: Awaited<ReturnType<typeof createUnit>>; browser: Browser; page: Page }> {
    const contact = await createPerson(app.app.services, { verified: true });
    const unit = await createUnit(app.app.services, contact, { name: unitName });
    const browser = new Browser(app.url);
    return { contact, unit, browser, page: await signInUnit(browser, unit, '/unit/bindings') };
  }

  it('R-B1 when a unit binds a person in 子账户信息, then the person gets an SMS and an unread notice written with the binding; 全部标为已读 needs the CSRF token', async () => {
    const { unit, browser, page } = await signedInUnit('通知测试科技有限公司');
    const handler = await createPerson(app.app.services, { verified: true });
    const done = await browser.follow(
      await postForm(browser, '/unit/bindings', csrfOn(page), [
        ['account', handler.loginName],
        ['scopes', 'biz:continuing_education'],
      ]),
    );
    expect(new URL(done.url).search).toBe('?done=bind');
    const binding = (await bindingsOf(app.db, unit.id)).find((entry) => entry.person_id === handler.id);
    expect(await noticesOf(handler.id)).toEqual([{ kind: 'binding_invited', unit_name: '通知测试科技有限公司', binding_id: binding!.id, read: false }]);
    expect(await smsTo(handler.mobile)).toEqual(['【统一身份认证平台】通知测试科技有限公司邀请您成为该单位的经办人员。请登录个人中心，在“待确认的单位授权”中同意或拒绝。']);

    const person = new Browser(app.url);
    const account = await signInToAccount(person, handler.loginName, handler.password);
    const item = account.html.querySelector('#notices li[data-notice="binding_invited"]');
    expect(item?.getAttribute('data-read')).toBe('no');
    expect(item?.text).toContain('未读');
    expect(item?.text).toContain('通知测试科技有限公司邀请您成为该单位的经办人员');
    expect(account.html.querySelector('#notices-title')?.text).toContain('1条未读');
    // A forged post (no token) changes nothing (S-32).
    const forged = await person.request('/account/notices/read', { method: 'POST', body: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(forged.status).toBe(403);
    expect((await noticesOf(handler.id)).map((notice) => notice.read)).toEqual([false]);
    const read = await person.submit(account, 'form#notices-read');
    expect(new URL(read.url).search).toBe('?done=notices_read');
    expect(read.html.querySelector('#notices li[data-notice="binding_invited"]')?.getAttribute('data-read')).toBe('yes');
    expect(read.html.querySelector('form#notices-read')).toBeNull();
    expect((await noticesOf(handler.id)).map((notice) => notice.read)).toEqual([true]);
  });

  it("R-B4 when a unit unbinds a handler, then SMS and notice say “您与…的绑定已取消”; the business system's sign-in for that unit shows it on the picker for that hint, a foreign unit's hint learns nothing", async () => {
    const { unit, browser } = await signedInUnit('示例解绑科技有限公司');
    const handler = await createPerson(app.app.services, { verified: true });
    const bindingId = await bindHandler(app.app.services, unit, handler, ['biz:continuing_education']);
    const subaccounts = await signInUnit(browser, unit, '/unit/bindings');
    const confirm = await browser.submit(subaccounts, `tr[data-binding="${bindingId}"] form.unbind`);
    expect(text(await browser.submit(confirm, 'form#confirm'))).toContain('已取消绑定。');
    expect((await noticesOf(handler.id)).map((notice) => [notice.kind, notice.binding_id])).toEqual([
      ['binding_invited', bindingId],
      ['binding_removed', bindingId],
    ]);
    expect((await smsTo(handler.mobile)).at(-1)).toBe('【统一身份认证平台】您与示例解绑科技有限公司的绑定已取消，您不能再代表该单位办理业务。');

    // The business system asks for that unit again (unit_hint): the picker says why it is not offered.
    const person = new Browser(app.url);
    const picker = await openAndLogIn(person, await authorizationUrl(config, { scope: 'openid unit biz:continuing_education', unit_hint: unit.id }), handler, true);
    expect(picker.html.querySelector('#binding-removed')?.text).toBe('您与示例解绑科技有限公司的绑定已取消。');
    expect(text(picker)).not.toContain('业务系统指定的单位不在您可代表的单位中');

    // A unit the person never belonged to: the generic refusal, nothing about that unit.
    const other = await signedInUnit('无关的另一家单位');
    const foreign = await openAndLogIn(new Browser(app.url), await authorizationUrl(config, { scope: 'openid unit', unit_hint: other.unit.id }), handler, true);
    expect(text(foreign)).toContain('业务系统指定的单位不在您可代表的单位中');
    expect(text(foreign)).not.toContain('无关的另一家单位');

    // Without the hint (以单位身份登录 only) the picker offers what there is and names no unit that is gone.
    const plain = await openAndLogIn(new Browser(app.url), await authorizationUrl(config, { scope: 'openid unit', login_as: 'unit' }), handler, true);
    expect(text(plain)).not.toContain('示例解绑科技有限公司');

    // Once read in the account centre, a hint for it gets the generic refusal again.
    const account = await signInToAccount(person, handler.loginName, handler.password);
    await person.submit(account, 'form#notices-read');
    const later = await openAndLogIn(new Browser(app.url), await authorizationUrl(config, { scope: 'openid unit', unit_hint: unit.id }), handler, true);
    expect(text(later)).toContain('业务系统指定的单位不在您可代表的单位中');
    expect(text(later)).not.toContain('示例解绑科技有限公司');
  });

  it('when notices are written past the service, then the database refuses an unknown kind, a read time before the notice, a foreign binding id', async () => {
    const contact = await createPerson(app.app.services, { verified: true });
    const unit = await createUnit(app.app.services, contact, { name: '约束测试单位' });
    const handler = await createPerson(app.app.services, { verified: true });
    const bindingId = await bindHandler(app.app.services, unit, handler, []);
    const insert = (kind: string, bindingRef: string, readAt: string | null) =>
      tryTransaction(app.db, (tx) =>
        tx
          .query(
            `INSERT INTO person_notice (id, person_id, kind, unit_id, binding_id, unit_name, created_at, read_at)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, '约束测试单位', now(), $5)`,
            [handler.id, kind, unit.id, bindingRef, readAt],
          )
          .then(() => undefined),
      );
    expect(await insert('binding_removed', bindingId, null)).toEqual({ ok: true });
    expect(await insert('unit_deleted', bindingId, null)).toMatchObject({ ok: false, code: '23514' });
    expect(await insert('binding_removed', bindingId, '2000-01-01T00:00:00Z')).toMatchObject({ ok: false, code: '23514' });
    expect(await insert('binding_removed', crypto.randomUUID(), null)).toMatchObject({ ok: false, code: '23503' });
  });

  it('S-56 when a binding is refused (the person is already bound), then no notice and no SMS is written', async () => {
    const contact = await createPerson(app.app.services, { verified: true });
    const unit = await createUnit(app.app.services, contact, { name: '重复绑定测试单位' });
    const handler = await createPerson(app.app.services, { verified: true });
    await bindHandler(app.app.services, unit, handler, []);
    const refused = await app.app.services.bindings
      .bind(unit.id, { account: handler.loginName, scopes: [] }, { actor: { type: 'unit', id: unit.id } })
      .catch((error: unknown) => error);
    expect((refused as { code?: string }).code).toBe('binding_exists');
    expect(await noticesOf(handler.id)).toHaveLength(1);
    expect(await smsTo(handler.mobile)).toHaveLength(1);
  });
});
