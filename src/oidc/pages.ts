import type { KoaContextWithOIDC } from 'oidc-provider';
import { renderTemplate } from '../shared/http/views.js';
import { state } from '../shared/http/middleware.js';

/** The page frame's language switch for the provider's own pages (back to the same page; the path only after a POST). */
function languageSwitch(ctx: KoaContextWithOIDC): string {
  const here = ctx.method === 'GET' && ctx.originalUrl.length <= 512 ? ctx.originalUrl : ctx.path;
  return `/lang?${new URLSearchParams({ to: state(ctx).locale === 'en' ? 'zh-CN' : 'en', return: here.startsWith('/') && !here.startsWith('//') ? here : '/' }).toString()}`;
}

/** The sign-out confirmation of RP-initiated logout; `form` is the library's hidden form (with its xsrf token). */
export async function logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderTemplate('logout.njk', state(ctx).locale ?? 'zh-CN', { form, requestId: state(ctx).requestId, languageSwitch: languageSwitch(ctx) });
}

/** Shown after sign-out when the RP gave no (registered) post_logout_redirect_uri. */
export async function postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = renderTemplate('logged-out.njk', state(ctx).locale ?? 'zh-CN', {
    requestId: state(ctx).requestId,
    languageSwitch: '/lang?to=' + (state(ctx).locale === 'en' ? 'zh-CN' : 'en') + '&return=/',
  });
}
