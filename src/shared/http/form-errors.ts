import type { Context } from 'koa';
import { AppError } from '../errors.js';
import { translate } from '../i18n/index.js';
import { state } from './middleware.js';

/** A failed form step re-renders its page with the message in the page's language and the entered values. */
export async function withFormErrors(ctx: Context, work: () => Promise<void>, onError: (view: { error: string; errorField: string | undefined }, status: number) => void | Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    await onError({ error: translate(state(ctx).locale, error.messageKey, error.params), errorField: error.field }, error.status);
  }
}

/** An error on a field the page does not show (a hidden input) is shown as a form-level error. */
export function visibleField(field: string | undefined, visible: string[]): string | undefined {
  return field && visible.includes(field) ? field : undefined;
}

export function assertFound<T>(value: T | undefined): T {
  if (value === undefined) throw new AppError('not_found', 404);
  return value;
}
