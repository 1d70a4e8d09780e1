import { HOTP, Secret, TOTP } from 'otpauth';

/**
 * RFC 6238 TOTP (HMAC-SHA1, 30-second steps, 6 digits), the parameters every authenticator app supports, for
 * operators and persons alike. The arithmetic, base32 and the otpauth:// URI come from the `otpauth` library
 * (maintained, typed, one dependency); this module only fixes the parameters and the replay rule.
 */
export const TOTP_STEP_SECONDS = 30;
const DIGITS = 6;
const ALGORITHM = 'SHA1';

/** A new random secret (160 bits, RFC 4226's recommendation), base32 as authenticator apps take it. */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

export function base32Decode(text: string): Buffer {
  return Buffer.from(Secret.fromBase32(text.replace(/[\s=]/g, '').toUpperCase()).bytes);
}

/** RFC 4226 HOTP value for a counter (a TOTP step). */
export function hotp(secret: Buffer, counter: number): string {
  return HOTP.generate({ secret: new Secret({ buffer: new Uint8Array(secret).buffer }), algorithm: ALGORITHM, digits: DIGITS, counter });
}

export function currentStep(at: Date): number {
  return TOTP.counter({ period: TOTP_STEP_SECONDS, timestamp: at.getTime() });
}

/**
 * Finds the step (current, one before or one after, for clock drift) whose code matches; undefined otherwise.
 * The caller must refuse steps at or before the last one used (replay).
 */
export function matchTotp(secretBase32: string, code: string, at: Date): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const delta = TOTP.validate({
    token: code,
    secret: Secret.fromBase32(secretBase32),
    algorithm: ALGORITHM,
    digits: DIGITS,
    period: TOTP_STEP_SECONDS,
    timestamp: at.getTime(),
    window: 1,
  });
  return delta === null ? undefined : currentStep(at) + delta;
}

/** The code of a step, from the base32 secret (development shortcut of the operators, tests). */
export function totpCode(secretBase32: string, step: number): string {
  return hotp(base32Decode(secretBase32), step);
}

export function otpauthUri(issuer: string, account: string, secret: string): string {
  return new TOTP({ issuer, label: account, secret: Secret.fromBase32(secret), algorithm: ALGORITHM, digits: DIGITS, period: TOTP_STEP_SECONDS }).toString();
}
