import type { Context } from 'koa';
import { IsOptional } from 'class-validator';
import { validQuery, TextField } from '../../shared/http/validate.js';
import { keysWithPrefix, translate, type Locale } from '../../shared/i18n/index.js';
import type { AuditFilter } from './audit-log.js';

export const AUDIT_PAGE_SIZE = 50;

export interface AuditQuery {
  action: string;
  from: string;
  to: string;
  page: number;
}

/** The longest value a filter of a console page takes; a longer one is refused (400), never cut. */
export const FILTER_MAX = 64;

/**
 * The filters of an audit log page as typed in its form: over-long or repeated values are refused with a
 * readable 400 page; values of the right length that mean nothing (an unknown action, a malformed date) are
 * ignored, the page then shows everything.
 */
export class AuditPageQueryDto {
  @IsOptional()
  @TextField(FILTER_MAX)
  action?: string;

  @IsOptional()
  @TextField(FILTER_MAX)
  from?: string;

  @IsOptional()
  @TextField(FILTER_MAX)
  to?: string;

  @IsOptional()
  @TextField(FILTER_MAX)
  page?: string;
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
  const raw = typeof ctx.query.page === 'string' ? ctx.query.page.trim() : '';
  return /^\d{1,6}$/.test(raw) ? Math.min(Math.max(1, Number(raw)), 2000) : 1;
}

/**
 * The action and date filters and the page of an audit log page, read from the query string through its DTO
 * (`AuditPageQueryDto` or one extending it, whose instance is returned as `params`): meaningless values are
 * ignored (the page shows everything rather than an error), the dates are whole days in Beijing time.
 */
export function auditQuery<T extends AuditPageQueryDto>(ctx: Context, dto: new () => T): { query: AuditQuery; filter: AuditFilter; params: T } {
  const params = validQuery(ctx, dto, false);
  const text = (value: string | undefined) => value?.trim() ?? '';
  const actions = new Set(keysWithPrefix('audit.action.').map((key) => key.slice('audit.action.'.length)));
  const action = actions.has(text(params.action)) ? text(params.action) : '';
  const from = dayStart(text(params.from)) ? text(params.from) : '';
  const to = dayStart(text(params.to)) ? text(params.to) : '';
  const page = Math.min(Math.max(1, Number.parseInt(text(params.page), 10) || 1), 2000);
  const until = to ? dayStart(to) : undefined;
  return {
    params,
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
