import { startTestApp, type TestApp } from '../support/app.js';
import { createPerson } from '../support/people.js';
import { clearThrottle, countRows } from '../support/security.js';
import { TestAuthenticator } from '../support/second-factor.js';
import { sweepSecondFactors } from '../../src/modules/mfa/sweep.js';

const context = { actor: { type: 'anonymous' as const }, ip: '198.51.100.18' };

/**
 * Issue #18: the periodic sweep removes WebAuthn challenges past their expiry and recovery codes already used,
 * in batches, and nothing that still works (a live challenge, an unused code).
 */
describe('the periodic sweep of second factors (issue #18)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  it('when challenges expired and recovery codes were used, then the sweep deletes those in batches and keeps live challenges and unused codes', async () => {
    const { mfa, passkeys } = app.app.services;
    const person = await createPerson(app.app.services, { verified: true });
    const enrolment = await mfa.startTotp(person.id, person.loginName);
    const codes = await mfa.confirmTotp(person.id, await new TestAuthenticator(enrolment.secret).code(), context);
    await expect(mfa.verify(person.id, codes[0]!, context)).resolves.toBe('recovery_code');
    await expect(mfa.verify(person.id, codes[1]!, context)).resolves.toBe('recovery_code');
    await expect(mfa.verify(person.id, codes[2]!, context)).resolves.toBe('recovery_code');
    for (let index = 0; index < 3; index += 1) await passkeys.registrationOptions(person);
    await passkeys.authenticationOptions(undefined);
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1', [person.id])).toBe(10);
    expect(await countRows(app.db, 'webauthn_challenge', 'subject = $1', [person.id])).toBe(3);

    // Now: nothing has expired; the used codes go, two statements' worth with a batch of 2.
    expect(await sweepSecondFactors(app.db, new Date(), 2)).toBe(3);
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1', [person.id])).toBe(7);
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1 AND used_at IS NULL', [person.id])).toBe(7);
    await expect(mfa.status(person.id)).resolves.toMatchObject({ totp: true, recoveryCodesLeft: 7 });
    expect(await countRows(app.db, 'webauthn_challenge', 'subject = $1', [person.id])).toBe(3);

    // Ten minutes on (a challenge lives five): every challenge has expired and goes, in batches of 2.
    const later = new Date(Date.now() + 10 * 60 * 1000);
    const challenges = await countRows(app.db, 'webauthn_challenge', 'expires_at <= $1', [later]);
    expect(challenges).toBeGreaterThanOrEqual(4);
    expect(await sweepSecondFactors(app.db, later, 2)).toBe(challenges);
    expect(await countRows(app.db, 'webauthn_challenge', 'expires_at <= $1', [later])).toBe(0);
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1', [person.id])).toBe(7);
    // An unused code still works after the sweep.
    await expect(mfa.verify(person.id, codes[3]!, context)).resolves.toBe('recovery_code');
  });
});
