import * as client from 'openid-client';
import { maxLengthOf } from '../../src/shared/http/validate.js';
import { PasskeyResponseDto, SecondFactorCodeDto, TotpCodeDto } from '../../src/modules/mfa/dto.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { clearThrottle, countRows, signInToAccount } from '../support/security.js';
import { enrolTotp } from '../support/second-factor.js';

/**
 * The second-factor forms have DTOs (issue #13 for the forms of issue #18): a value longer than its DTO allows is
 * refused with a readable 400 next to its field, in the page's language, the value kept as typed and never cut;
 * the service (throttled, audited) is not asked about a value the form refuses; the page's maxlength is the DTO's.
 */
describe('second-factor forms validated by their DTOs (issue #13, issue #18)', () => {
  let app: TestApp;
  let config: client.Configuration;
  const TOTP_MAX = maxLengthOf(TotpCodeDto, 'totp')!;
  const CODE_MAX = maxLengthOf(SecondFactorCodeDto, 'code')!;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  const input = (page: Page, name: string) => page.html.querySelector(`input[name="${name}"]`);
  const fieldError = (page: Page, name: string) => page.html.querySelector(`#f-${name}-error`)?.text.trim();

  async function signedIn(person: TestPerson, english = false): Promise<Browser> {
    const browser = new Browser(app.url);
    await signInToAccount(browser, person.loginName, person.password);
    if (english) await browser.get('/lang?to=en&return=/account');
    return browser;
  }

  it.each([
    ['zh-CN', false, `此项不能超过${16}个字符。`],
    ['English', true, `This field cannot be longer than ${16} characters.`],
  ])(
    'when the TOTP code of an enrolment is longer than its DTO allows (%s), then it is refused next to the field, kept as typed, and the service is not asked',
    async (_language, english, message) => {
      expect(TOTP_MAX).toBe(16);
      const person = await createPerson(app.app.services, { verified: true });
      const browser = await signedIn(person, english);
      const enrol = await browser.get('/account/security/totp');
      expect(input(enrol, 'totp')?.getAttribute('maxlength')).toBe(String(TOTP_MAX));
      const typed = '1'.repeat(TOTP_MAX + 1);
      const refused = await browser.submit(enrol, 'form#totp-confirm', { totp: typed });
      expect(refused.status).toBe(400);
      expect(fieldError(refused, 'totp')).toBe(message);
      expect(input(refused, 'totp')?.getAttribute('value')).toBe(typed);
      expect(input(refused, 'totp')?.getAttribute('aria-invalid')).toBe('true');
      // Refused by the form: no failed enrolment attempt is counted or audited.
      expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_enrol' AND target_id = $1", [person.id])).toBe(0);
      // A code of the allowed length still reaches the service, which answers for it.
      const wrong = await browser.submit(enrol, 'form#totp-confirm', { totp: '000000' });
      expect(wrong.status).toBe(400);
      expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_enrol' AND outcome = 'failure' AND target_id = $1", [person.id])).toBe(1);
    },
  );

  it('when the second factor typed at sign-in is longer than its DTO allows, then the page says so next to the code field, keeps the value, and no attempt is counted', async () => {
    const person = await createPerson(app.app.services, { verified: true });
    await enrolTotp(await signedIn(person));
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, {});
    const login = await browser.get(authorization.url.toString());
    const second = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password });
    expect(input(second, 'code')?.getAttribute('maxlength')).toBe(String(CODE_MAX));
    const typed = 'A'.repeat(CODE_MAX + 1);
    const refused = await browser.submit(second, 'form#second-factor', { code: typed });
    expect(refused.status).toBe(400);
    expect(fieldError(refused, 'code')).toBe(`此项不能超过${CODE_MAX}个字符。`);
    expect(input(refused, 'code')?.getAttribute('value')).toBe(typed);
    expect(await countRows(app.db, 'audit_event', "action = 'person.mfa_verify' AND target_id = $1", [person.id])).toBe(0);
    // The form still works: the sign-in goes on with a code of the right form.
    const wrong = await browser.submit(refused, 'form#second-factor', { code: '000000' });
    expect(wrong.status).toBe(400);
    expect(fieldError(wrong, 'code')).toBeTruthy();
  });

  it('when a passkey answer is longer than its DTO allows, then the account centre refuses it readably (400), not with a 500', async () => {
    const max = maxLengthOf(PasskeyResponseDto, 'response')!;
    const person = await createPerson(app.app.services, { verified: true });
    const browser = await signedIn(person);
    const add = await browser.get('/account/security/passkey');
    expect(add.status).toBe(200);
    const refused = await browser.submit(add, 'form#passkey-register', { response: `{"id":"${'x'.repeat(max)}"}` });
    expect(refused.status).toBe(400);
    // The answer travels in a hidden field: the refusal is shown above the form, as the passkey's.
    const shown = refused.html
      .querySelectorAll('p.error')
      .filter((node) => !node.hasAttribute('hidden'))
      .map((node) => node.text.trim());
    expect(shown).toEqual(['通行密钥验证未通过，请重试。']);
    expect(await countRows(app.db, 'person_passkey', 'person_id = $1', [person.id])).toBe(0);
  });
});
