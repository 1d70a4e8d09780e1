import { maskMobile } from '../../src/modules/persons/rules.js';
import { RECOVERY_LIMITS } from '../../src/modules/recovery/service.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createPerson, lastCode, type TestPerson } from '../support/people.js';
import { clearThrottle, countRows } from '../support/security.js';
import { createUnit, uscc, type TestUnit } from '../support/units.js';

const NEW_PASSWORD = 'a brand new unit passphrase';
const MASKED = /^1\d{2}\*{4}\d{4}$/;

describe('management API: unit account and password recovery through the common contact (issue #17, R-R1, R-R2, S-21, S-22, S-29)', () => {
  let app: TestApp;
  let contact: TestPerson;
  let unit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    contact = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, contact, { name: '接口找回测试有限公司' });
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${app.url}/api/v1${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
    const text = await response.text();
    return {
      status: response.status,
      body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
      cookie: response.headers.get('set-cookie'),
      retryAfter: response.headers.get('retry-after'),
      text,
    };
  };

  it('R-R1 when the contact code is sent and verified over the API, then the login name is revealed, without a token', async () => {
    const paths = await post('/recovery/account/paths', { certType: 'uscc', certNo: unit.certNo });
    expect(paths).toMatchObject({ status: 200, body: { certType: 'uscc', certNo: unit.certNo, maskedMobile: maskMobile(contact.mobile), appeal: true } });
    const sent = await post('/recovery/account/code', { certType: 'uscc', certNo: unit.certNo });
    expect(sent).toMatchObject({ status: 201, body: { maskedMobile: maskMobile(contact.mobile), challenge: expect.any(String) } });
    expect(sent.text).not.toContain(contact.mobile);
    const code = await lastCode(app.db, contact.mobile);
    const wrong = await post('/recovery/account/verify', { certType: 'uscc', certNo: unit.certNo, challenge: sent.body.challenge, code: code === '000000' ? '111111' : '000000' });
    expect([wrong.status, wrong.body.error, wrong.body.field]).toEqual([400, 'code_invalid', 'code']);
    const found = await post('/recovery/account/verify', { certType: 'uscc', certNo: unit.certNo, challenge: sent.body.challenge, code });
    expect(found).toMatchObject({ status: 200, body: { loginName: unit.loginName } });
    // Single use: the same code again is refused.
    const again = await post('/recovery/account/verify', { certType: 'uscc', certNo: unit.certNo, challenge: sent.body.challenge, code });
    expect([again.status, again.body.error]).toEqual([400, 'code_invalid']);
  });

  it('R-R2 S-24 when 密码找回 is completed over the API, then the new password signs in and the old one does not', async () => {
    const own = await createUnit(app.app.services, contact, { name: '接口改密测试有限公司' });
    const sent = await post('/recovery/password/code', { certType: 'uscc', certNo: own.certNo });
    expect(sent.status).toBe(201);
    const code = await lastCode(app.db, contact.mobile);
    const mismatch = await post('/recovery/password/reset', {
      certType: 'uscc',
      certNo: own.certNo,
      challenge: sent.body.challenge,
      code,
      password: NEW_PASSWORD,
      passwordConfirm: 'something else entirely',
    });
    expect([mismatch.status, mismatch.body.field]).toEqual([400, 'passwordConfirm']);
    const done = await post('/recovery/password/reset', {
      certType: 'uscc',
      certNo: own.certNo,
      challenge: sent.body.challenge,
      code,
      password: NEW_PASSWORD,
      passwordConfirm: NEW_PASSWORD,
    });
    expect(done).toMatchObject({ status: 200, body: { loginName: own.loginName } });
    const context = { actor: { type: 'anonymous' as const }, ip: '10.9.9.9' };
    await expect(app.app.services.units.authenticate(own.loginName, NEW_PASSWORD, context)).resolves.toMatchObject({ id: own.id });
    await expect(app.app.services.units.authenticate(own.loginName, own.password, context)).rejects.toThrow();
  });

  it('S-22 S-29 when an unknown certificate goes through every step, then each answer has the shape and status of a real one and nothing is sent', async () => {
    const answers: Record<string, Awaited<ReturnType<typeof post>>[]> = {};
    const outbox = await countRows(app.db, 'notification_outbox');
    for (const [name, certNo] of [
      ['real', unit.certNo],
      ['unknown', uscc()],
    ] as const) {
      const paths = await post('/recovery/account/paths', { certType: 'uscc', certNo });
      const sent = await post('/recovery/account/code', { certType: 'uscc', certNo });
      const wrong = await post('/recovery/account/verify', { certType: 'uscc', certNo, challenge: sent.body.challenge, code: '000000' });
      answers[name] = [paths, sent, wrong];
    }
    const shape = (answer: Awaited<ReturnType<typeof post>>) => [answer.status, Object.keys(answer.body).sort(), answer.body.error, answer.body.field, answer.cookie];
    expect(answers.unknown!.map(shape)).toEqual(answers.real!.map(shape));
    expect(answers.unknown![0]!.body.maskedMobile).toMatch(MASKED);
    expect(answers.unknown![1]!.body.maskedMobile).toBe(answers.unknown![0]!.body.maskedMobile);
    expect(answers.unknown![2]!.body.message).toBe(answers.real![2]!.body.message);
    await lastCode(app.db, contact.mobile);
    // Only the real unit's code was queued.
    expect(await countRows(app.db, 'notification_outbox')).toBe(outbox + 1);
  });

  it('S-21 S-29 when a second code is asked for a certificate at once over the API, then 429 like the page, for a known and an unknown certificate alike', async () => {
    for (const certNo of [unit.certNo, uscc()]) {
      expect((await post('/recovery/password/code', { certType: 'uscc', certNo }, { 'x-forwarded-for': '10.77.0.1' })).status).toBe(201);
      const refused = await post('/recovery/password/code', { certType: 'uscc', certNo }, { 'x-forwarded-for': '10.77.0.2' });
      expect([refused.status, refused.body.error]).toEqual([429, 'too_many_requests']);
      // The wait, in the header and in the message (the minute of the per-destination resend limit).
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
      expect(refused.body.message).toMatch(/^操作过于频繁，请(\d+秒|1分钟)后再试。$/);
    }
  });

  it('S-26 when wrong codes for one certificate reach the limit over the API, then it is locked (429) even for the right code', async () => {
    const sent = await post('/recovery/account/code', { certType: 'uscc', certNo: unit.certNo });
    const code = await lastCode(app.db, contact.mobile);
    const wrongCode = code === '000000' ? '111111' : '000000';
    for (let index = 0; index < RECOVERY_LIMITS.failuresPerCertificate.limit; index += 1) {
      await post(
        '/recovery/account/verify',
        { certType: 'uscc', certNo: unit.certNo, challenge: sent.body.challenge, code: wrongCode },
        { 'x-forwarded-for': `10.78.0.${index + 1}` },
      );
    }
    const locked = await post('/recovery/account/verify', { certType: 'uscc', certNo: unit.certNo, challenge: sent.body.challenge, code }, { 'x-forwarded-for': '10.78.1.1' });
    expect(locked.status).toBe(429);
    expect(locked.body.loginName).toBeUndefined();
  });

  it('when the input is malformed, then 400 or 415 naming the field with a readable message, never 500', async () => {
    const cases: [string, unknown, number, string | undefined][] = [
      ['/recovery/account/paths', { certType: 'uscc' }, 400, 'certNo'],
      ['/recovery/account/paths', { certType: 'uscc', certNo: 'x'.repeat(65) }, 400, 'certNo'],
      ['/recovery/account/paths', { certType: 'nonsense', certNo: unit.certNo }, 400, 'certType'],
      ['/recovery/account/code', { certType: 'uscc', certNo: 'not-a-uscc' }, 400, 'certNo'],
      ['/recovery/account/code', { certType: 'uscc', certNo: unit.certNo, extra: 1 }, 400, 'extra'],
      ['/recovery/account/verify', { certType: 'uscc', certNo: unit.certNo, challenge: 'x' }, 400, 'code'],
      ['/recovery/password/reset', { certType: 'uscc', certNo: unit.certNo, challenge: 'x', code: '123456', password: 5, passwordConfirm: 5 }, 400, 'password'],
      ['/recovery/account/paths', '{not json', 400, undefined],
      ['/recovery/account/paths', '[]', 415, undefined],
    ];
    for (const [path, body, status, field] of cases) {
      const answer = await post(path, body);
      expect([path, answer.status, answer.body.field]).toEqual([path, status, field]);
      expect(answer.body.message).toEqual(expect.any(String));
      expect(answer.text).not.toMatch(/at .+\.(ts|js):\d+/);
    }
  });

  it('when the OpenAPI document is fetched, then every recovery operation is in it, without a token requirement', async () => {
    const document = (await (await fetch(`${app.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, { post?: { security?: unknown } }> };
    for (const path of [
      '/recovery/account/paths',
      '/recovery/account/code',
      '/recovery/password/paths',
      '/recovery/password/code',
      '/recovery/account/verify',
      '/recovery/password/reset',
    ]) {
      expect([path, document.paths[path]?.post?.security]).toEqual([path, []]);
    }
  });
});
