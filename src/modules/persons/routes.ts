import { Router } from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../../shared/errors.js';
import { auditContext, csrfToken, formFields, parseBody, safeReturnPath, verifyCsrf } from '../../shared/http/forms.js';
import { formValues, validForm } from '../../shared/http/validate.js';
import { NewPasswordDto, PasswordResetStartDto, RegistrationCodeDto, RegistrationDto } from './dto.js';
import { formErrorView, state } from '../../shared/http/middleware.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { maskMobile, normalizeMobile } from './rules.js';

/** What a refused form step shows: the first message (next to its field), and every failing field's message. */
export type FormErrorView = {
  error: string;
  errorField: string | undefined;
  fieldErrors: Record<string, string>;
};

/**
 * A failed form step re-renders its page with the message in the page's language and the entered values; a
 * validation error shows every failing field's message next to its field at once.
 */
export async function withFormErrors(ctx: Context, work: () => Promise<void>, onError: (view: FormErrorView, status: number) => void | Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) throw error;
    await onError(formErrorView(state(ctx).locale, error), error.status);
  }
}

/** Public pages: registration of a personal account (R-P1) and personal password recovery (R-P4). */
export function personRoutes(services: Services): Router {
  const router = new Router();
  const { persons } = services;

  const returnOf = (ctx: Context, value?: unknown) => safeReturnPath(value ?? ctx.query.return, '/account');
  // The page to go back to is no input of the use case: `safeReturnPath` checks it (S-36), anything else falls back.
  const returnField = (ctx: Context) => formFields(ctx, ['returnTo'], 512).returnTo;

  router.get('/register', (ctx) => {
    render(ctx, 'persons/register-mobile.njk', { csrf: csrfToken(ctx), returnTo: returnOf(ctx) });
  });

  router.post('/register/code', parseBody(), verifyCsrf(), async (ctx) => {
    const returnTo = returnOf(ctx, returnField(ctx));
    const form = formValues(ctx, RegistrationCodeDto);
    await withFormErrors(ctx, async () => {
      const challenge = await persons.sendRegistrationCode(validForm(ctx, RegistrationCodeDto).mobile, state(ctx).locale, ctx.ip);
      const mobile = normalizeMobile(form.mobile) ?? '';
      render(ctx, 'persons/register-account.njk', { csrf: csrfToken(ctx), returnTo, challenge, mobile, masked: maskMobile(mobile) });
    }, (view, status) => render(ctx, 'persons/register-mobile.njk', { ...view, csrf: csrfToken(ctx), returnTo, mobile: form.mobile }, status));
  });

  router.post('/register', parseBody(), verifyCsrf(), async (ctx) => {
    const form = formValues(ctx, RegistrationDto);
    const returnTo = returnOf(ctx, returnField(ctx));
    await withFormErrors(ctx, async () => {
      const input = validForm(ctx, RegistrationDto);
      // 用户协议 and 隐私政策 are accepted explicitly (an unticked box), before anything is checked or written.
      if (input.agree !== 'yes') throw new AppError('terms_required', { field: 'agree' });
      await persons.register(input, auditContext(ctx));
      render(ctx, 'persons/done.njk', { title: 'register.title', message: 'register.done', next: returnTo, checklist: true });
    }, (view, status) => {
      const mobile = normalizeMobile(form.mobile) ?? '';
      render(ctx, 'persons/register-account.njk', {
        ...view, errorField: visibleField(view.errorField, ['code', 'loginName', 'password', 'passwordConfirm', 'agree']),
        csrf: csrfToken(ctx), returnTo, challenge: form.challenge, mobile, masked: mobile ? maskMobile(mobile) : '', loginName: form.loginName,
        // The SMS code and the consent are kept (the code stays valid after a refused form); passwords never are.
        code: /^\d{0,6}$/.test(form.code) ? form.code : '', agree: form.agree === 'yes',
      }, status);
    });
  });

  router.get('/recover/person', (ctx) => {
    render(ctx, 'persons/recover-account.njk', { csrf: csrfToken(ctx), returnTo: returnOf(ctx) });
  });

  router.post('/recover/person/code', parseBody(), verifyCsrf(), async (ctx) => {
    const form = formValues(ctx, PasswordResetStartDto);
    const returnTo = returnOf(ctx, returnField(ctx));
    await withFormErrors(ctx, async () => {
      const challenge = await persons.startPasswordReset(validForm(ctx, PasswordResetStartDto).account, state(ctx).locale, ctx.ip);
      render(ctx, 'persons/recover-password.njk', { csrf: csrfToken(ctx), returnTo, challenge });
    }, (view, status) => render(ctx, 'persons/recover-account.njk', { ...view, csrf: csrfToken(ctx), returnTo, account: form.account }, status));
  });

  router.post('/recover/person', parseBody(), verifyCsrf(), async (ctx) => {
    const form = formValues(ctx, NewPasswordDto);
    const returnTo = returnOf(ctx, returnField(ctx));
    await withFormErrors(ctx, async () => {
      const input = validForm(ctx, NewPasswordDto);
      await persons.completePasswordReset(input.challenge, input.code, input.password, input.passwordConfirm, auditContext(ctx));
      render(ctx, 'persons/done.njk', { title: 'recover.person_title', message: 'recover.done', next: returnTo });
    }, (view, status) => render(ctx, 'persons/recover-password.njk', { ...view, csrf: csrfToken(ctx), returnTo, challenge: form.challenge }, status));
  });

  return router;
}

/** An error on a field the page does not show (a hidden input) is shown as a form-level error. */
export function visibleField(field: string | undefined, visible: string[]): string | undefined {
  return field && visible.includes(field) ? field : undefined;
}

export function assertFound<T>(value: T | undefined): T {
  if (value === undefined) throw new AppError('not_found');
  return value;
}
