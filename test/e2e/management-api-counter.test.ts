import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, idNumber, type TestPerson } from '../support/people.js';
import { pdf, png } from '../support/recovery.js';
import { manageTokenFor } from '../support/rp.js';
import { signInOperator } from '../support/security.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { base32Decode, currentStep, hotp } from '../../src/shared/security/totp.js';

/**
 * Issue #17: the management API's counter operations (R-P2 person verification, R-U5 unit codes, R-R3 appeals and
 * their decision), the applicant's appeal look-up, and the audit log with filters and cursor paging (R-A1); each
 * operation only for its account kind (S-45, S-47), bad input a 4xx (S-53). Through the real HTTP app and sign-ins.
 */

describe('the management API: counter, appeals and audit (issue #17)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let applicantPerson: TestPerson;
  let unit: TestUnit;
  let otherUnit: TestUnit;
  let operatorToken: string;
  let unitToken: string;
  let personToken: string;
  const applicantMobile = '13800138123';
  let filed = 0;

  const call = (token: string | undefined, path: string, init: RequestInit = {}) =>
    fetch(`${app.url}/api/v1${path}`, {
      ...init,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...(init.headers as Record<string, string>),
      },
    });
  const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> });

  const tokenFor = (clientId: string, signIn: Parameters<typeof manageTokenFor>[3]) => manageTokenFor(app.issuer, app.url, clientId, signIn);

  async function fileAppeal(kind: 'account' | 'password', target: TestUnit, contactValue = applicantMobile): Promise<string> {
    return app.app.services.appeals.submit(
      { applicantName: '王申诉', contact: contactValue, certType: target.certType, certNo: target.certNo, kind },
      [
        { originalname: 'licence.pdf', size: pdf().length, buffer: pdf() },
        { originalname: 'seal.png', size: png().length, buffer: png() },
      ],
      'zh-CN',
      { actor: { type: 'anonymous' }, ip: `198.51.100.${(filed += 1)}` },
    );
  }

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([
        testClient(),
        testClient({ client_id: 'unit-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'unit' }),
        testClient({ client_id: 'person-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'person' }),
        testClient({ client_id: 'counter-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'operator' }),
      ]),
    });
    contact = await createPerson(app.app.services, { verified: true });
    applicantPerson = await createPerson(app.app.services);
    unit = await createUnit(app.app.services, contact, { name: '接口申诉单位' });
    otherUnit = await createUnit(app.app.services, contact, { name: '接口另一单位' });

    const operator = await app.app.services.operators.create(`opapi${Date.now().toString(36)}`, '接口窗口', 'Operator-api-password-0123');
    operatorToken = await tokenFor('counter-admin', async (browser, login) => {
      const second = await browser.submit(login, 'form[action$="/operator-login"]', { account: operator.operator.loginName, password: 'Operator-api-password-0123' });
      const secret = second.html.querySelector('code')?.text.replace(/\s+/g, '') ?? '';
      return browser.submit(second, 'form[action$="/totp"]', { totp: hotp(base32Decode(secret), currentStep(new Date())) });
    });
    unitToken = await tokenFor('unit-admin', (browser, login) => browser.submit(login, 'form#unit-login', { account: unit.loginName, password: unit.password }));
    personToken = await tokenFor('person-admin', (browser, login) => browser.submit(login, 'form#person-login', { account: contact.loginName, password: contact.password }));
  }, 120_000);
  afterAll(() => app.close());

  it('when the OpenAPI document is fetched, then it describes the counter, appeal and paged audit operations', async () => {
    const document = (await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: { name: string }[]; security?: unknown[] }>>;
    };
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/counter/persons',
        '/counter/persons/{id}',
        '/counter/persons/{id}/realname/verify',
        '/counter/persons/{id}/realname/reject',
        '/counter/appeals',
        '/counter/appeals/{id}',
        '/counter/appeals/{id}/approve',
        '/counter/appeals/{id}/reject',
        '/counter/appeals/{id}/documents/{documentId}',
        '/counter/units/{id}/appeals',
        '/counter/audit',
        '/unit/audit',
        '/appeals/status',
      ]),
    );
    expect(document.paths['/counter/audit']!.get!.parameters!.map((parameter) => parameter.name)).toEqual(
      expect.arrayContaining(['cursor', 'limit', 'since', 'until', 'unitId', 'outcome']),
    );
    expect(document.paths['/appeals/status']!.post!.security).toEqual([]);
  });

  it('S-45 S-47 when a unit or person token calls a counter operation, or an operator token a unit one, then 403 forbidden', async () => {
    for (const [token, path] of [
      [unitToken, '/counter/persons?q=a'],
      [personToken, '/counter/appeals'],
      [unitToken, '/counter/audit'],
      [operatorToken, '/unit/audit'],
      [personToken, '/unit/audit'],
    ] as const) {
      const answer = await json(await call(token, path));
      expect([path, answer.status, answer.body.error]).toEqual([path, 403, 'forbidden']);
    }
    const anonymous = await call(undefined, '/counter/audit');
    expect(anonymous.status).toBe(401);
  });

  it('R-P2 when an operator verifies a person through the API, then a wrong number is refused and audited, the right one verifies', async () => {
    const number = idNumber('44010619900101123');
    await app.app.services.persons.submitRealname(applicantPerson.id, '赵实名', number, { actor: { type: 'person', id: applicantPerson.id } });
    const found = await json(await call(operatorToken, `/counter/persons?q=${encodeURIComponent(applicantPerson.loginName)}`));
    expect(found.body.persons).toEqual([
      expect.objectContaining({ id: applicantPerson.id, realnameStatus: 'pending', idNumberMasked: '4401**********1234'.replace('1234', number.slice(-4)) }),
    ]);

    const wrong = await json(
      await call(operatorToken, `/counter/persons/${applicantPerson.id}/realname/verify`, { method: 'POST', body: JSON.stringify({ idNumber: idNumber('11010519491231002') }) }),
    );
    expect([wrong.status, wrong.body.error, wrong.body.field]).toEqual([400, 'realname_mismatch', 'idNumber']);
    expect(String(wrong.body.message)).toContain('不一致');
    const right = await json(await call(operatorToken, `/counter/persons/${applicantPerson.id}/realname/verify`, { method: 'POST', body: JSON.stringify({ idNumber: number }) }));
    expect([right.status, right.body.realnameStatus]).toEqual([200, 'verified']);
    const again = await json(await call(operatorToken, `/counter/persons/${applicantPerson.id}/realname/verify`, { method: 'POST', body: JSON.stringify({ idNumber: number }) }));
    expect([again.status, again.body.error]).toEqual([409, 'realname_not_pending']);

    const audit = await json(await call(operatorToken, `/counter/audit?action=person.realname_verify&targetId=${applicantPerson.id}`));
    expect((audit.body.entries as { outcome: string }[]).map((entry) => entry.outcome)).toEqual(['success', 'failure']);
    expect((await call(operatorToken, '/counter/persons/not-a-uuid')).status).toBe(404);
  });

  it('R-U5 when an operator issues a unit code through the API, then the unit account redeems it through the API and is verified', async () => {
    const issued = await json(await call(operatorToken, `/counter/units/${otherUnit.id}/verification-codes`, { method: 'POST' }));
    expect(issued.status).toBe(201);
    const redeemed = await json(
      await call(
        await tokenFor('unit-admin', (browser, login) => browser.submit(login, 'form#unit-login', { account: otherUnit.loginName, password: otherUnit.password })),
        '/unit/verification',
        { method: 'POST', body: JSON.stringify({ code: issued.body.code }) },
      ),
    );
    expect([redeemed.status, redeemed.body.verified]).toEqual([200, true]);
  });

  it('R-R3 when an appeal is filed, then the operator sees it with its documents, rejects it with a note, and the applicant reads the decision', async () => {
    const reference = await fileAppeal('password', unit);
    const pending = await json(await call(operatorToken, '/counter/appeals'));
    const listed = (pending.body.appeals as { id: string; reference: string; status: string }[]).find((appeal) => appeal.reference === reference);
    expect(listed).toMatchObject({ status: 'pending' });
    const detail = await json(await call(operatorToken, `/counter/appeals/${listed!.id}`));
    expect(detail.body).toMatchObject({ reference, kind: 'password', unitId: unit.id, unit: { id: unit.id, verified: false }, applicantName: '王申诉' });
    const documents = detail.body.documents as { id: string; contentType: string }[];
    expect(documents.map((document) => document.contentType)).toEqual(['application/pdf', 'image/png']);
    const download = await call(operatorToken, `/counter/appeals/${listed!.id}/documents/${documents[0]!.id}`);
    expect([download.status, download.headers.get('content-disposition'), download.headers.get('x-content-type-options')]).toEqual([
      200,
      expect.stringMatching(/^attachment; /),
      'nosniff',
    ]);

    const status = (body: Record<string, string>) => call(undefined, '/appeals/status', { method: 'POST', body: JSON.stringify(body) });
    expect(await json(await status({ reference, contact: applicantMobile }))).toEqual({
      status: 200,
      body: expect.objectContaining({ reference, status: 'pending', kind: 'password' }),
    });
    const wrongContact = await json(await status({ reference, contact: '13900000000' }));
    const unknown = await json(await status({ reference: 'AAAA-BBBB-CCCC', contact: applicantMobile }));
    expect([wrongContact.status, wrongContact.body.error, unknown.status, unknown.body.error]).toEqual([404, 'appeal_not_found', 404, 'appeal_not_found']);

    const shortNote = await json(await call(operatorToken, `/counter/appeals/${listed!.id}/reject`, { method: 'POST', body: JSON.stringify({ note: 'x' }) }));
    expect([shortNote.status, shortNote.body.error]).toEqual([400, 'note_invalid']);
    const rejected = await json(await call(operatorToken, `/counter/appeals/${listed!.id}/reject`, { method: 'POST', body: JSON.stringify({ note: '营业执照不清晰' }) }));
    expect(rejected.body).toMatchObject({ status: 'rejected', decisionNote: '营业执照不清晰' });
    const twice = await json(await call(operatorToken, `/counter/appeals/${listed!.id}/approve`, { method: 'POST', body: JSON.stringify({ note: '' }) }));
    expect([twice.status, twice.body.error]).toEqual([409, 'appeal_not_pending']);
    expect((await json(await status({ reference, contact: applicantMobile }))).body).toMatchObject({ status: 'rejected', decisionNote: '营业执照不清晰' });
  });

  it("R-R3 when the operator approves an appeal, then it is approved and the unit's appeals list both (API and the console's unit page)", async () => {
    const reference = await fileAppeal('account', unit, 'shenqing@example.com');
    const appeals = await json(await call(operatorToken, `/counter/appeals?unitId=${unit.id}&status=pending`));
    const appeal = (appeals.body.appeals as { id: string; reference: string }[]).find((entry) => entry.reference === reference)!;
    const approved = await json(await call(operatorToken, `/counter/appeals/${appeal.id}/approve`, { method: 'POST', body: JSON.stringify({ note: '材料齐全' }) }));
    expect(approved.body).toMatchObject({ status: 'approved', decidedBy: expect.any(String) });
    expect((await json(await call(undefined, '/appeals/status', { method: 'POST', body: JSON.stringify({ reference, contact: 'shenqing@example.com' }) }))).body.status).toBe(
      'approved',
    );

    const forUnit = await json(await call(operatorToken, `/counter/units/${unit.id}/appeals`));
    expect((forUnit.body.appeals as { status: string }[]).map((entry) => entry.status).sort()).toEqual(['approved', 'rejected']);
    expect((await json(await call(operatorToken, `/counter/units/${otherUnit.id}/appeals`))).body.appeals).toEqual([]);

    const browser = new Browser(app.url);
    await signInOperator(app, browser);
    const page = await browser.get(`/operator/units/${unit.id}`);
    const rows = page.html.querySelectorAll('#unit-appeals tbody tr').map((row) => row.text);
    expect(rows).toHaveLength(2);
    expect(rows.some((row) => row.includes(reference))).toBe(true);
    expect((await browser.get(`/operator/units/${otherUnit.id}`)).html.querySelector('#unit-appeals')).toBeNull();
  });

  it('R-A1 when a unit pages through its audit log with a cursor, then every entry comes once, newest first, and only its own', async () => {
    for (const name of ['分页单位一', '分页单位二', '分页单位三']) {
      const changed = await call(unitToken, '/unit', { method: 'PATCH', body: JSON.stringify({ name }) });
      expect(changed.status).toBe(200);
    }
    const all = await json(await call(unitToken, '/unit/audit?limit=500'));
    const everything = all.body.entries as { id: string; at: string; actingUnitId: string }[];
    expect(everything.length).toBeGreaterThanOrEqual(5);
    expect(all.body.nextCursor).toBeUndefined();
    expect(new Set(everything.map((entry) => entry.actingUnitId))).toEqual(new Set([unit.id]));

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 50; page += 1) {
      const answer = await json(await call(unitToken, `/unit/audit?limit=2${cursor ? `&cursor=${cursor}` : ''}`));
      const entries = answer.body.entries as { id: string }[];
      expect(entries.length).toBeLessThanOrEqual(2);
      seen.push(...entries.map((entry) => entry.id));
      cursor = answer.body.nextCursor as string | undefined;
      if (!cursor) break;
    }
    expect(seen).toEqual(everything.map((entry) => entry.id));

    const renames = await json(await call(unitToken, '/unit/audit?action=unit.update&limit=1'));
    expect((renames.body.entries as { action: string }[]).map((entry) => entry.action)).toEqual(['unit.update']);
    expect(renames.body.nextCursor).toEqual(expect.any(String));
    const future = await json(await call(unitToken, `/unit/audit?since=${new Date(Date.now() + 3600_000).toISOString()}`));
    expect(future.body.entries).toEqual([]);
    const untilStart = await json(await call(unitToken, `/unit/audit?until=${encodeURIComponent(everything[everything.length - 1]!.at)}`));
    expect(untilStart.body.entries).toEqual([]);
  });

  it('R-A1 when the operator filters the audit log by unit, actor type and outcome, then only matching entries come back', async () => {
    const answer = await json(await call(operatorToken, `/counter/audit?unitId=${unit.id}&actorType=operator&limit=500`));
    const entries = answer.body.entries as { actingUnitId: string; actorType: string; action: string }[];
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((entry) => entry.actingUnitId === unit.id && entry.actorType === 'operator')).toBe(true);
    expect(entries.map((entry) => entry.action)).toEqual(expect.arrayContaining(['appeal.approve', 'appeal.reject']));
    const failures = await json(await call(operatorToken, '/counter/audit?outcome=failure&action=person.realname_verify'));
    expect((failures.body.entries as { outcome: string }[]).every((entry) => entry.outcome === 'failure')).toBe(true);
    expect((failures.body.entries as unknown[]).length).toBeGreaterThan(0);
  });

  it.each([
    ['a forged cursor', '/counter/audit?cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['a cursor with an absurd time', `/counter/audit?cursor=${Buffer.from('99999999999999999.1').toString('base64url')}`, 'cursor'],
    ['a limit of 0', '/counter/audit?limit=0', 'limit'],
    ['a limit above 500', '/counter/audit?limit=501', 'limit'],
    ['a date that is not ISO 8601', '/counter/audit?since=yesterday', 'since'],
    ['an unknown parameter', '/counter/audit?order=asc', 'order'],
    ['a repeated parameter', '/counter/audit?action=a&action=b', 'action'],
    ['a unit id that is not a UUID', '/counter/audit?unitId=1', 'unitId'],
    ['an unknown appeal status', '/counter/appeals?status=lost', 'status'],
  ])('S-53 when the audit or appeal query has %s, then 400 naming the parameter in Chinese', async (_name, path, field) => {
    const answer = await json(await call(operatorToken, path));
    expect([answer.status, answer.body.error, answer.body.field]).toEqual([400, 'validation', field]);
    expect(answer.body.message).toBe('提交的内容不完整或格式不正确。');
  });

  it('S-53 when the appeal look-up gets no JSON or junk, then a 4xx with a readable message, never a 500', async () => {
    const plain = await call(undefined, '/appeals/status', { method: 'POST', body: 'reference=x', headers: { 'content-type': 'text/plain' } });
    expect(plain.status).toBe(415);
    for (const body of [
      '{',
      '[]',
      '{"reference":1,"contact":2}',
      JSON.stringify({ reference: 'x'.repeat(40), contact: 'y' }),
      JSON.stringify({ reference: 'ABCD', contact: applicantMobile, extra: 1 }),
    ]) {
      const answer = await call(undefined, '/appeals/status', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      expect([body, answer.status >= 400 && answer.status < 500]).toEqual([body, true]);
    }
    const english = await json(
      await call(undefined, '/appeals/status', {
        method: 'POST',
        body: JSON.stringify({ reference: 'AAAA-BBBB-CCCC', contact: applicantMobile }),
        headers: { 'accept-language': 'en' },
      }),
    );
    expect(english.status).toBe(404);
  });
});
