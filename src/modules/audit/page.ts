import type { Context } from 'koa';
import { keysWithPrefix, translate, type Locale } from '../../shared/i18n/index.js';
import type { AuditFilter } from './audit-log.js';

export const AUDIT_PAGE_SIZE = 50;

export interface AuditQuery {
  action: string;
  from: string;
  to: string;
  page: number;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A date of the filter form (Beijing time, the platform's) as the instant its day starts; undefined if invalid. */
function dayStart(value: string): Date | undefined {
  if (!DAY.test(value)) return undefined;
  const date = new Date(`${value}T00:00:00+08:00`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** The `page` of the query string: 1 unless a whole number from 1 to 2000 (anything else shows the first page). */
export function pageNumber(ctx: Context): number {
  const raw = typeof ctx.query.page === 'string' ? ctx.query.page.trim().slice(0, 64) : '';
  return Math.min(Math.max(1, Number.parseInt(raw, 10) || 1), 2000);
}

/**
 * The action and date filters and the page of an audit log page, read from the query string: invalid values are
 * ignored (the page shows everything rather than an error), the dates are whole days in Beijing time.
 */
export function auditQuery(ctx: Context): { query: AuditQuery; filter: AuditFilter } {
  const text = (value: unknown) => (typeof value === 'string' ? value.trim().slice(0, 64) : '');
  const actions = new Set(keysWithPrefix('audit.action.').map((key) => key.slice('audit.action.'.length)));
  const action = actions.has(text(ctx.query.action)) ? text(ctx.query.action) : '';
  const from = dayStart(text(ctx.query.from)) ? text(ctx.query.from) : '';
  const to = dayStart(text(ctx.query.to)) ? text(ctx.query.to) : '';
  const page = pageNumber(ctx);
  const until = to ? dayStart(to) : undefined;
  return {
    query: { action, from, to, page },
    filter: {
      ...(action ? { action } : {}),
      ...(from ? { since: dayStart(from) } : {}),
      ...(until ? { before: new Date(until.getTime() + 24 * 3600 * 1000) } : {}),
      // One more than a page, to know whether there is a next one.
      limit: AUDIT_PAGE_SIZE + 1,
      offset: (page - 1) * AUDIT_PAGE_SIZE,
    },
  };
}

/** The actions a filter can choose from, by name, sorted as the catalogue lists them. */
export function auditActions(locale: Locale): { value: string; label: string }[] {
  return keysWithPrefix('audit.action.').map((key) => ({ value: key.slice('audit.action.'.length), label: translate(locale, key) }));
}

/** Links to the previous and next page, keeping the other parameters of the query string. */
export function auditPaging(ctx: Context, page: number, hasNext: boolean): { previous?: string; next?: string } {
  const link = (target: number) => {
    const params = new URLSearchParams(ctx.querystring);
    params.set('page', String(target));
    return `${ctx.path}?${params.toString()}`;
  };
  return { ...(page > 1 ? { previous: link(page - 1) } : {}), ...(hasNext ? { next: link(page + 1) } : {}) };
}
