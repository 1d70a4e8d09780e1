import nunjucks from 'nunjucks';
import type { Context } from 'koa';
import { isMessageKey, translate, type Locale } from '../i18n/index.js';
import { VIEWS_DIR } from '../paths.js';

const environment = new nunjucks.Environment(new nunjucks.FileSystemLoader(VIEWS_DIR, { noCache: false }), {
  autoescape: true,
  throwOnUndefined: false,
});

export interface PageState {
  locale: Locale;
  requestId?: string;
}

/** Renders a template to a string with the translator of the given locale. */
export function renderTemplate(template: string, locale: Locale, data: Record<string, unknown> = {}): string {
  // Templates may build keys (e.g. 'audit.action.' + action); an unknown key shows as itself rather than failing.
  const t = (key: string, params?: Record<string, string | number>) => (isMessageKey(key) ? translate(locale, key, params) : key);
  return environment.render(template, { ...data, locale, t, lang: locale === 'en' ? 'en' : 'zh-CN' });
}

/** Renders a page into the response: HTML, never cached (S-33). */
export function render(ctx: Context, template: string, data: Record<string, unknown> = {}, status = 200): void {
  const state = ctx.state as PageState;
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  // A busy or unavailable service says when to come back, whichever route renders the page (S-28).
  if (status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', '5');
  ctx.body = renderTemplate(template, state.locale ?? 'zh-CN', { requestId: state.requestId, ...data });
}
