import { TextField } from '../../shared/http/validate.js';

/**
 * The second-factor forms (issue #18), one DTO per use case (issue #13): the HTML forms of the sign-in and of the
 * account centre read them through `validForm`, so a value too long is refused with its field named, never cut.
 * Whether a code is right is the service's answer (throttled and audited); the DTO checks only what it is.
 */

/** A code from an authenticator app: TOTP enrolment and the operator's sign-in (six digits, spaces tolerated). */
export class TotpCodeDto {
  @TextField(16)
  totp!: string;
}

/** The second factor after the password or for a step-up: a TOTP code or a recovery code (`ABCDE-FGHIJ`). */
export class SecondFactorCodeDto {
  @TextField(32)
  code!: string;
}

/**
 * A passkey's answer as the browser hands it over (WebAuthn JSON; the service verifies it). The field is hidden, so
 * a refusal reads as the passkey's: 通行密钥验证未通过.
 */
export class PasskeyResponseDto {
  @TextField(16_384, 'passkey_invalid')
  response!: string;
}
