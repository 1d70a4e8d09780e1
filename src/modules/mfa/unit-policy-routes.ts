import { Router } from '@koa/router';
import type { Context } from 'koa';
import { AppError } from '../../shared/errors.js';
import { translate } from '../../shared/i18n/index.js';
import { auditContext, csrfToken, formFields, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { state } from '../../shared/http/middleware.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import type { RequireAccount } from '../../shared/console-account.js';
import { consoleAccount } from '../../shared/console-account.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';
import { assertFound } from '../../shared/http/form-errors.js';

/**
 * 二次验证要求 in the unit console (issue #18): the unit may require a second factor of every handler acting for
 * it. The page is the confirmation step (current setting, consequence); the change needs a fresh sign-in (S-34,
 * `unit.mfa_policy`) and is audited.
 */
export function unitMfaPolicyRoutes(services: Pick<Services, 'unitMfa' | 'units' | 'config'> & IdentityServices, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/unit/mfa-policy' });
  const { unitMfa, units, config } = services;
  const fresh = requireAccount('unit', { freshSeconds: config.reauthSeconds, operation: 'unit.mfa_policy' });
  router.use(requireAccount('unit'));
  router.use(frameIdentity(services));
  const unitId = (ctx: Context) => consoleAccount(ctx).id;

  router.get('/', fresh, async (ctx) => {
    const unit = assertFound(await units.byId(unitId(ctx)));
    const required = await unitMfa.required(unit.id);
    const locale = state(ctx).locale;
    const next = required ? 'off' : 'on';
    render(ctx, 'confirm.njk', {
      frame: 'unit/layout.njk',
      csrf: csrfToken(ctx),
      action: '/unit/mfa-policy',
      cancel: '/unit',
      title: translate(locale, 'unit.mfa_policy'),
      submit: translate(locale, `unit.mfa_policy_${next}_submit`),
      body: translate(locale, `unit.mfa_policy_${next}_body`, { unit: unit.name }),
      facts: [{ label: translate(locale, 'unit.mfa_policy_current'), value: translate(locale, required ? 'unit.mfa_policy_state_on' : 'unit.mfa_policy_state_off') }],
      hidden: { required: required ? '0' : '1' },
    });
  });

  router.post('/', parseBody(), verifyCsrf(), fresh, async (ctx) => {
    const form = formFields(ctx, ['required'], 8);
    if (form.required !== '1' && form.required !== '0') throw new AppError('validation');
    await unitMfa.set(unitId(ctx), form.required === '1', auditContext(ctx, { type: 'unit', id: unitId(ctx) }, unitId(ctx)));
    seeOther(ctx, `/unit?done=mfa_policy_${form.required === '1' ? 'on' : 'off'}`);
  });

  return router;
}
