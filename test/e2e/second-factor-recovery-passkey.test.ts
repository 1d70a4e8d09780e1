import crypto from 'node:crypto';
import { startTestApp, type TestApp } from '../support/app.js';
import { createPerson } from '../support/people.js';
import { clearThrottle, countRows } from '../support/security.js';
import { TestAuthenticator } from '../support/second-factor.js';

const context = { actor: { type: 'anonymous' as const }, ip: '198.51.100.19' };

/**
 * Issue #18: recovery codes belong to the person's second factors, not to TOTP alone — a passkey keeps them when
 * the authenticator is removed, a passkey-only person can renew them, and they go with the last factor. (The
 * first passkey handing them out is in passkeys-browser, through Chromium's virtual authenticator.)
 */
describe('recovery codes with passkeys (issue #18)', () => {
  let app: TestApp;

  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  it('when the authenticator is removed while a passkey remains, then the codes keep working, can be renewed, and go with the last passkey', async () => {
    const { mfa, passkeys } = app.app.services;
    const person = await createPerson(app.app.services, { verified: true });
    const enrolment = await mfa.startTotp(person.id, person.loginName);
    const codes = await mfa.confirmTotp(person.id, await new TestAuthenticator(enrolment.secret).code(), context);
    // A passkey as a registration would store it (the WebAuthn ceremony itself is tested in Chromium).
    const passkeyId = crypto.randomUUID();
    await app.db.query(
      `INSERT INTO person_passkey (id, person_id, credential_id, public_key, counter, transports, device_type, backed_up, created_at)
       VALUES ($1, $2, $3, 'pk', 0, '{}', 'singleDevice', false, now())`,
      [passkeyId, person.id, crypto.randomBytes(24).toString('base64url')],
    );

    await mfa.removeTotp(person.id, context);
    await expect(mfa.status(person.id)).resolves.toEqual({ totp: false, recoveryCodesLeft: 10, passkeys: 1 });
    await expect(mfa.verify(person.id, codes[0]!, context)).resolves.toBe('recovery_code');

    const renewed = await mfa.regenerateRecoveryCodes(person.id, context);
    expect(renewed).toHaveLength(10);
    await expect(mfa.verify(person.id, codes[1]!, context)).rejects.toMatchObject({ code: 'second_factor_invalid' });
    await expect(mfa.verify(person.id, renewed[0]!, context)).resolves.toBe('recovery_code');

    await passkeys.remove(person.id, passkeyId, context);
    expect(await countRows(app.db, 'person_recovery_code', 'person_id = $1', [person.id])).toBe(0);
    await expect(mfa.regenerateRecoveryCodes(person.id, context)).rejects.toMatchObject({ code: 'not_found' });
  });
});
