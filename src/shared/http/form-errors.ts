import type { Context } from 'koa';
import { AppError } from '../errors.js';
import { translate } from '../i18n/index.js';
import { formErrorView, setRetryAfter, state } from './middleware.js';

/**
 * What a refused form step shows (a type, not an interface: pages spread it into their view, a Record): the first
 * message (next to its field), every failing field's message, and for a 429 the wait in seconds.
 */
export type FormErrorView = {
  error: string;
  errorField: string | undefined;
  fieldErrors: Record<string, string>;
  /** Seconds until a rate limit or lockout ends (429), also sent as Retry-After. */
  retryAfter?: number | undefined;
};

/** The message of a refused step in the page's language; a 429 also gets its `Retry-After` (issue #14). */
export function errorMessageOf(ctx: Context, error: AppError): string {
  setRetryAfter(ctx, error.status, error.params);
  return translate(state(ctx).locale, error.messageKey, error.params);
}

/** What a refused form shows, in the page's language; a 429 also gets its `Retry-After` (issue #14). */
export function refusedForm(ctx: Context, error: AppError): FormErrorView {
  const retryAfter = setRetryAfter(ctx, error.status, error.params);
  return { ...formErrorView(state(ctx).locale, error), retryAfter };
}

/**
 * A failed form step re-renders its page with the message in the page's language and the entered values; a
 * validation error shows every failing field's message next to its field at once.
 */
export async function withFormErrors(ctx: Context, work: () => Promise<void>, onError: (view: FormErrorView, status: number) => void | Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    await onError(refusedForm(ctx, error), error.status);
  }
}

/** An error on a field the page does not show (a hidden input) is shown as a form-level error. */
export function visibleField(field: string | undefined, visible: string[]): string | undefined {
  return field && visible.includes(field) ? field : undefined;
}

export function assertFound<T>(value: T | undefined): T {
  if (value === undefined) throw new AppError('not_found');
  return value;
}
