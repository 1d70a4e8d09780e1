/**
 * The provider's own consoles (account centre, unit console, operator console) sign in through the same
 * sign-in page and SSO session as every business system, as a built-in first-party public client.
 */
export const CONSOLE_CLIENT_ID = 'console';

import { ACCOUNT_KINDS, isAccountKind, type AccountKind } from '../shared/account-id.js';

/** One console per account kind. */
export type ConsoleKind = AccountKind;

export const CONSOLE_KINDS: readonly ConsoleKind[] = ACCOUNT_KINDS;

/** The kind of account a registered client signs in (clients.json `account_kind`); undefined for unknown clients. */
export type AccountKindOfClient = (clientId: unknown) => AccountKind | undefined;

/**
 * The one answer to "which kind of account does this request sign in": a person for every business system
 * (R-U3), the registered kind for a management-API client, and for the provider's console the console asked for
 * (`console=unit|operator`, a person otherwise).
 */
export function requestedAccountKind(clientId: unknown, askedConsole: unknown, kindOfClient: AccountKindOfClient): ConsoleKind {
  if (clientId !== CONSOLE_CLIENT_ID) return kindOfClient(clientId) ?? 'person';
  return isAccountKind(askedConsole) ? askedConsole : 'person';
}

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
