import { Router } from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../../shared/errors.js';
import { auditContext, csrfToken, formFields, parseBody, safeReturnPath, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { formRefusal, visibleField } from '../../shared/http/form-errors.js';
import { NewPasswordDto, PasswordResetStartDto, RegistrationCodeDto, RegistrationDto } from './dto.js';
import { rememberRegistration } from '../../shared/registered-sign-in.js';
import { state } from '../../shared/http/middleware.js';
import { isUuid } from '../../shared/account-id.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { enteredMobile, maskMobile, normalizeMobile } from './rules.js';

/** Public pages: registration of a personal account (R-P1) and personal password recovery (R-P4). */
export function personRoutes(services: Pick<Services, 'persons' | 'now'>): Router {
  const router = new Router();
  const { persons } = services;

  const returnOf = (ctx: Context, value?: unknown) => safeReturnPath(value ?? ctx.query.return, '/account');
  // The page to go back to is no input of the use case: `safeReturnPath` checks it (S-36), anything else falls back.
  const returnField = (ctx: Context) => formFields(ctx, ['returnTo'], 512).returnTo;

  // The first step of each flow: its form, carrying the page to go back to.
  const firstStep = (template: string) => (ctx: Context) => render(ctx, template, { csrf: csrfToken(ctx), returnTo: returnOf(ctx) });

  router.get('/register', firstStep('persons/register-mobile.njk'));

  router.post('/register/code', parseBody(), verifyCsrf(), async (ctx) => {
    const returnTo = returnOf(ctx, returnField(ctx));
    const refused = await formRefusal(ctx, RegistrationCodeDto, async (input) => {
      const challenge = await persons.sendRegistrationCode(input.mobile, state(ctx).locale, ctx.ip);
      const mobile = normalizeMobile(input.mobile) ?? '';
      render(ctx, 'persons/register-account.njk', { csrf: csrfToken(ctx), returnTo, challenge, mobile, masked: maskMobile(mobile) });
    });
    if (!refused) return;
    const { view, status, form } = refused;
    // 重新获取验证码 refused (e.g. within the minute): the person stays on step 2, whose code is still valid.
    const mobile = normalizeMobile(form.mobile);
    if (mobile && isUuid(form.challenge ?? '')) {
      render(
        ctx,
        'persons/register-account.njk',
        { ...view, errorField: undefined, csrf: csrfToken(ctx), returnTo, challenge: form.challenge ?? '', mobile, masked: maskMobile(mobile), resendWait: view.retryAfter },
        status,
      );
      return;
    }
    render(ctx, 'persons/register-mobile.njk', { ...view, csrf: csrfToken(ctx), returnTo, mobile: form.mobile }, status);
  });

  router.post('/register', parseBody(), verifyCsrf(), async (ctx) => {
    const returnTo = returnOf(ctx, returnField(ctx));
    const refused = await formRefusal(ctx, RegistrationDto, async (input) => {
      // 用户协议 and 隐私政策 are accepted explicitly (an unticked box), before anything is checked or written.
      if (input.agree !== 'yes') throw new AppError('terms_required', { field: 'agree' });
      const person = await persons.register(input, auditContext(ctx));
      // Signed in at once (issue 14): the sign-in this registration started from continues for the new person;
      // otherwise the account centre's sign-in does, landing on its next-step checklist.
      rememberRegistration(ctx, person.id, services.now());
      seeOther(ctx, returnTo.startsWith('/interaction/') ? returnTo : `/console/login?kind=person&return=${encodeURIComponent('/account?welcome=1')}`);
    });
    if (!refused) return;
    const { view, form } = refused;
    render(
      ctx,
      'persons/register-account.njk',
      {
        ...view,
        errorField: visibleField(view.errorField, ['code', 'loginName', 'password', 'passwordConfirm', 'agree']),
        csrf: csrfToken(ctx),
        returnTo,
        challenge: form.challenge,
        ...enteredMobile(form.mobile),
        loginName: form.loginName,
        // The SMS code and the consent are kept (the code stays valid after a refused form); passwords never are.
        code: /^\d{0,6}$/.test(form.code) ? form.code : '',
        agree: form.agree === 'yes',
      },
      refused.status,
    );
  });

  router.get('/recover/person', firstStep('persons/recover-account.njk'));

  router.post('/recover/person/code', parseBody(), verifyCsrf(), async (ctx) => {
    const returnTo = returnOf(ctx, returnField(ctx));
    const refused = await formRefusal(ctx, PasswordResetStartDto, async (input) => {
      const challenge = await persons.startPasswordReset(input.account, state(ctx).locale, ctx.ip);
      render(ctx, 'persons/recover-password.njk', { csrf: csrfToken(ctx), returnTo, challenge });
    });
    if (refused) render(ctx, 'persons/recover-account.njk', { ...refused.view, csrf: csrfToken(ctx), returnTo, account: refused.form.account }, refused.status);
  });

  router.post('/recover/person', parseBody(), verifyCsrf(), async (ctx) => {
    const returnTo = returnOf(ctx, returnField(ctx));
    const refused = await formRefusal(ctx, NewPasswordDto, async (input) => {
      await persons.completePasswordReset(input.challenge, input.code, input.password, input.passwordConfirm, auditContext(ctx));
      render(ctx, 'persons/done.njk', { title: 'recover.person_title', message: 'recover.done', next: returnTo });
    });
    if (refused) render(ctx, 'persons/recover-password.njk', { ...refused.view, csrf: csrfToken(ctx), returnTo, challenge: refused.form.challenge }, refused.status);
  });

  return router;
}
