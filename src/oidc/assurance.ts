/**
 * Authentication context classes of the ID token's `acr` (issue #18), listed in discovery as
 * `acr_values_supported`. `amr` (RFC 8176) says which methods were used: `pwd`, `otp` (authenticator code or
 * recovery code), `hwk`/`swk` (a passkey).
 */
export const ACR_PASSWORD = 'urn:unit-oidc:acr:pwd';
export const ACR_MFA = 'urn:unit-oidc:acr:mfa';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA] as const;

/** Methods of a second factor in `amr`. */
export const SECOND_FACTOR_AMR: ReadonlySet<string> = new Set(['otp', 'hwk', 'swk']);

/** Whether a session's `amr` includes a second factor. */
export function hasSecondFactor(amr: readonly string[] | undefined): boolean {
  return (amr ?? []).some((method) => SECOND_FACTOR_AMR.has(method));
}
