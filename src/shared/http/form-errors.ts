import type { Context } from 'koa';
import { AppError } from '../errors.js';
import { translate } from '../i18n/index.js';
import { formErrorView, setRetryAfter, state } from './middleware.js';
import { formValues, validForm } from './validate.js';

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

/** A refused form step: what its page shows again, and the status to answer with. */
export interface Refusal {
  view: FormErrorView;
  status: number;
}

/** A refused form step of a DTO, with the values as entered to fill the form in again. */
export interface FormRefusal<T> extends Refusal {
  form: Record<keyof T & string, string>;
}

/**
 * Runs a form step; a refusal (an `AppError` below 500) comes back with the message in the page's language for
 * the caller to show its page again (undefined when the step went through); anything else is thrown.
 */
export async function refusalOf(ctx: Context, work: () => Promise<void>): Promise<Refusal | undefined> {
  try {
    await work();
    return undefined;
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    return { view: refusedForm(ctx, error), status: error.status };
  }
}

/**
 * A form step of one use case's DTO: `work` gets the validated form; a refusal, the form's validation included
 * (every failing field's message next to its field at once), comes back with the values as entered.
 */
export async function formRefusal<T extends object>(ctx: Context, dto: new () => T, work: (input: T) => Promise<void>): Promise<FormRefusal<T> | undefined> {
  const form = formValues(ctx, dto);
  const refused = await refusalOf(ctx, () => work(validForm(ctx, dto)));
  return refused && { ...refused, form };
}

/** An error on a field the page does not show (a hidden input) is shown as a form-level error. */
export function visibleField(field: string | undefined, visible: string[]): string | undefined {
  return field && visible.includes(field) ? field : undefined;
}

export function assertFound<T>(value: T | undefined): T {
  if (value === undefined) throw new AppError('not_found');
  return value;
}
