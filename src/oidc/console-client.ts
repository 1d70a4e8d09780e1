/**
 * The provider's own consoles (account centre, unit console, operator console) sign in through the same
 * sign-in page and SSO session as every business system, as a built-in first-party public client.
 */
export const CONSOLE_CLIENT_ID = 'console';

import { ACCOUNT_KINDS, type AccountKind } from '../shared/account-id.js';

/** One console per account kind. */
export type ConsoleKind = AccountKind;

export const CONSOLE_KINDS: readonly ConsoleKind[] = ACCOUNT_KINDS;

export function consoleRedirectUri(issuer: string): string {
  return `${issuer}/console/callback`;
}

export function consoleClientMetadata(issuer: string): Record<string, unknown> {
  return {
    client_id: CONSOLE_CLIENT_ID,
    client_name: '统一身份认证平台',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [consoleRedirectUri(issuer)],
    post_logout_redirect_uris: [`${issuer}/`],
    scope: 'openid',
  };
}
