import { translate, type MessageKey } from '../../src/shared/i18n/index.js';
import { Browser, type Page } from './browser.js';
import { locationOf } from './oauth.js';

/** The OAuth errors our error page has a message for (views/error.njk via renderError). */
const PAGE_ERRORS = [
  'invalid_request',
  'invalid_redirect_uri',
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
  'unsupported_response_type',
  'session_not_found',
  'access_denied',
  'server_error',
] as const;

/** Which error the provider's own error page shows (by its translated message), if any. */
export function errorShownOnPage(page: Page): string | undefined {
  const text = Browser.text(page);
  return PAGE_ERRORS.find((error) => text.includes(translate('zh-CN', `error.oidc.${error}` as MessageKey)));
}

export interface AuthorizationOutcome {
  /** 'redirect' when the error went back to the RP's (registered) redirect URI, 'page' when the provider showed it. */
  via: 'redirect' | 'page';
  error: string | undefined;
  /** Every parameter of the redirect (query and fragment). */
  params: URLSearchParams;
  location: URL | undefined;
}

/** Reads an authorization error either from the redirect to the RP (query or fragment) or from the error page. */
export function authorizationError(page: Page, redirectUri: string): AuthorizationOutcome {
  const location = locationOf(page);
  if (location && location.toString().startsWith(redirectUri)) {
    const params = new URLSearchParams(location.search);
    for (const [name, value] of new URLSearchParams(location.hash.replace(/^#/, ''))) params.append(name, value);
    return { via: 'redirect', error: params.get('error') ?? undefined, params, location };
  }
  return { via: 'page', error: errorShownOnPage(page), params: new URLSearchParams(), location };
}
