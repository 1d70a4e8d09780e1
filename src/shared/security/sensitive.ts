/**
 * The one list of sensitive operations (S-27, S-34): each needs a password (or second factor) entered within
 * REAUTH_SECONDS, in the consoles and in the management API alike. Routes name their operation; the tests walk this
 * table and try every route with an old sign-in. Routes are "METHOD path" with `:id` for an id.
 */
export const SENSITIVE_OPERATIONS = {
  'unit.rename': { console: ['POST /unit/info'], api: ['PATCH /api/v1/unit'] },
  'unit.name_change': { console: ['GET /unit/name-change', 'POST /unit/name-change'], api: ['POST /api/v1/unit/name-change'] },
  'unit.bindings_list': { console: ['GET /unit/bindings'], api: ['GET /api/v1/unit/bindings'] },
  'unit.bind': { console: ['POST /unit/bindings'], api: ['POST /api/v1/unit/bindings'] },
  'unit.unbind': { console: ['GET /unit/bindings/:id/unbind', 'POST /unit/bindings/:id/unbind'], api: ['POST /api/v1/unit/bindings/:id/unbind'] },
  'unit.scopes': { console: ['POST /unit/bindings/:id/scopes'], api: ['PUT /api/v1/unit/bindings/:id/scopes'] },
  'unit.contact': { console: ['GET /unit/bindings/:id/contact', 'POST /unit/bindings/:id/contact'], api: ['POST /api/v1/unit/bindings/:id/contact'] },
  'unit.mfa_policy': { console: ['GET /unit/mfa-policy', 'POST /unit/mfa-policy'], api: [] },
  'unit.password': { console: ['GET /unit/password', 'POST /unit/password'], api: [] },
  'person.second_factor': {
    console: [
      'GET /account/security/totp',
      'POST /account/security/totp',
      'POST /account/security/totp/remove',
      'POST /account/security/recovery-codes',
      'GET /account/security/passkey',
      'POST /account/security/passkey',
      'POST /account/security/passkeys/:id/remove',
    ],
    api: [],
  },
  'person.unit_recovery': { console: ['GET /account/unit-recovery', 'POST /account/unit-recovery/:id/reveal', 'POST /account/unit-recovery/:id/password'], api: [] },
} as const satisfies Record<string, { console: readonly string[]; api: readonly string[] }>;

export type SensitiveOperation = keyof typeof SENSITIVE_OPERATIONS;

/**
 * Whether a sign-in is fresh enough: `authTime` is when the password was last entered (the provider session's
 * `loginTs`, i.e. the ID token's `auth_time`), never when a token was minted, so a token obtained inside an old SSO
 * session without a new password is not fresh.
 */
export function isFresh(authTime: number | undefined, reauthSeconds: number, nowSeconds = Date.now() / 1000): boolean {
  return typeof authTime === 'number' && authTime > 0 && nowSeconds - authTime <= reauthSeconds;
}
