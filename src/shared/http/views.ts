import nunjucks from 'nunjucks';
import type { Context } from 'koa';
import { isMessageKey, translate, type Locale } from '../i18n/index.js';
import { VIEWS_DIR } from '../paths.js';
import type { AccountKind } from '../account-id.js';
import { maxLengthOf } from './validate.js';

const environment = new nunjucks.Environment(new nunjucks.FileSystemLoader(VIEWS_DIR, { noCache: false }), { autoescape: true, throwOnUndefined: false });

// Dates are shown in the platform's time zone (Beijing time), to the minute, the way a person reads them.
const DAY: Intl.DateTimeFormatOptions = { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' };
const MINUTE: Intl.DateTimeFormatOptions = { ...DAY, hour: '2-digit', minute: '2-digit', hour12: false };
const DATE_TIME = new Intl.DateTimeFormat('sv-SE', MINUTE);
const DATE_TIME_SECONDS = new Intl.DateTimeFormat('sv-SE', { ...MINUTE, second: '2-digit' });
const DATE = new Intl.DateTimeFormat('sv-SE', DAY);
const asDate = (value: unknown) => (value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined);
const formatWith =
  (format: Intl.DateTimeFormat) =>
  (value: unknown): string => {
    const date = asDate(value);
    return date && !Number.isNaN(date.getTime()) ? format.format(date) : '';
  };
/** The templates' date filters: `datetime` (to the minute), `datetime_seconds` (jobs, outbox, name history), `date`. */
export const DATE_FILTERS = { datetime: formatWith(DATE_TIME), datetime_seconds: formatWith(DATE_TIME_SECONDS), date: formatWith(DATE) };
for (const [name, filter] of Object.entries(DATE_FILTERS)) environment.addFilter(name, filter);

/**
 * The DTOs the forms are validated with, by class name (registered by src/form-dtos.ts: src/shared may not import
 * the modules). A template writes `maxlength=limit('RegistrationDto', 'loginName')`, so the browser's limit is the
 * DTO's `@MaxLength`, declared once (issue #13); an unknown DTO or a property without one fails the render.
 */
const formDtos = new Map<string, new () => object>();
export function registerFormDtos(dtos: Record<string, new () => object>): void {
  for (const [name, dto] of Object.entries(dtos)) formDtos.set(name, dto);
}
export function formLimit(dtoName: string, property: string): number {
  const dto = formDtos.get(dtoName);
  const max = dto ? maxLengthOf(dto, property) : undefined;
  if (max === undefined) throw new Error(`no @MaxLength for ${dtoName}.${property}`);
  return max;
}
environment.addGlobal('limit', formLimit);

export interface PageState {
  locale: Locale;
  requestId?: string;
}

/**
 * Who is signed in, for the identity bar of the page frame (set by the consoles' and the portal's routes):
 * the display name, the unit acted for, and whether 切换单位 applies (a person).
 */
export interface FrameIdentity {
  kind: AccountKind;
  name: string;
  unit?: string;
}

/** Renders a template to a string with the translator of the given locale. */
export function renderTemplate(template: string, locale: Locale, data: Record<string, unknown> = {}): string {
  // Templates may build keys (e.g. 'audit.action.' + action); an unknown key shows as itself rather than failing.
  const t = (key: string, params?: Record<string, string | number>) => (isMessageKey(key) ? translate(locale, key, params) : key);
  return environment.render(template, { ...data, locale, t, lang: locale === 'en' ? 'en' : 'zh-CN' });
}

/**
 * The language switch of the page frame: back to this page's path (without its query, and home from an error
 * page), so that a page never echoes ids or values the request carried (S-45: nothing of another unit shows).
 */
function languageSwitchOf(ctx: Context, locale: Locale, status: number): string {
  const here = status < 400 ? ctx.path : '/';
  const back = here.startsWith('/') && !here.startsWith('//') && here.length <= 512 ? here : '/';
  return `/lang?${new URLSearchParams({ to: locale === 'en' ? 'zh-CN' : 'en', return: back }).toString()}`;
}

/** Renders a page into the response: HTML, never cached (S-33), inside the page frame of views/layout.njk. */
export function render(ctx: Context, template: string, data: Record<string, unknown> = {}, status = 200): void {
  const state = ctx.state as PageState & { identity?: FrameIdentity };
  const locale = state.locale ?? 'zh-CN';
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  // A busy or unavailable service says when to come back, whichever route renders the page (S-28).
  if (status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', '5');
  ctx.body = renderTemplate(template, locale, {
    requestId: state.requestId,
    identity: state.identity,
    currentPath: ctx.path,
    languageSwitch: languageSwitchOf(ctx, locale, status),
    ...data,
  });
}
