import { Router } from '@koa/router';
import type { Context } from 'koa';
import { auditContext, csrfToken, formFields, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { BindDto, CodeDto, ScopesDto, UnitNameDto } from './dto.js';
import { PasswordChangeDto } from '../persons/dto.js';
import { state } from '../../shared/http/middleware.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import type { SensitiveOperation } from '../../shared/security/sensitive.js';
import { consoleAccount, type RequireAccount } from '../../shared/console-account.js';
import { maskMobile } from '../persons/rules.js';
import { assertFound, formRefusal, refusalOf } from '../../shared/http/form-errors.js';
import { CERT_TYPES } from './certificates.js';
import { frameIdentity, personLabel, type IdentityServices } from '../site/identity.js';
import { AppError } from '../../shared/errors.js';
import { translate } from '../../shared/i18n/index.js';
import { describeEntries, type DescribeLookups } from '../audit/describe.js';
import { AUDIT_PAGE_SIZE, AuditPageQueryDto, auditActions, auditPaging, auditQuery, pageNumber } from '../audit/page.js';

/** Business scopes chosen in a form (the repeated `scopes` field), validated by `ScopesDto`. */
export function scopesOf(ctx: Context): string[] {
  const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
  const raw = body.scopes;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.filter((value): value is string => typeof value === 'string');
}

/**
 * The unit console (C-UI4, R-U4, R-U5): unit information, 子账户信息 (bindings), verification, password, log.
 * Every query is scoped by the signed-in unit (S-45); sensitive actions need a recent sign-in (S-34).
 */
export function unitRoutes(
  services: Pick<Services, 'units' | 'bindings' | 'verification' | 'audit' | 'catalog' | 'config'> & IdentityServices & DescribeLookups,
  requireAccount: RequireAccount,
): Router {
  const router = new Router({ prefix: '/unit' });
  const { units, bindings, verification, audit, catalog, config } = services;
  // S-27 / S-34: each sensitive route names its entry of the one table shared with the management API.
  const fresh = (operation: SensitiveOperation) => requireAccount('unit', { freshSeconds: config.reauthSeconds, operation });
  router.use(requireAccount('unit'));
  router.use(frameIdentity(services));

  const unitId = (ctx: Context) => consoleAccount(ctx).id;
  const actor = (ctx: Context) => auditContext(ctx, { type: 'unit', id: unitId(ctx) }, unitId(ctx));
  const me = async (ctx: Context) => assertFound(await units.byId(unitId(ctx)));
  const businesses = (ctx: Context) =>
    catalog.businesses.map((business) => ({ scope: business.scope, name: business.name[state(ctx).locale], requiresVerifiedUnit: business.requiresVerifiedUnit }));

  async function home(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const unit = await me(ctx);
    render(
      ctx,
      'unit/index.njk',
      {
        csrf: csrfToken(ctx),
        unit,
        certTypes: CERT_TYPES,
        history: await units.nameHistory(unit.id),
        done: typeof ctx.query.done === 'string' ? ctx.query.done : undefined,
        ...view,
      },
      status,
    );
  }

  router.get('/', (ctx) => home(ctx));

  router.post('/info', parseBody(), verifyCsrf(), fresh('unit.rename'), async (ctx) => {
    const refused = await formRefusal(ctx, UnitNameDto, async (input) => {
      await units.updateName(unitId(ctx), input.name, actor(ctx));
      seeOther(ctx, '/unit?done=info');
    });
    if (refused) await home(ctx, { ...refused.view, name: refused.form.name }, refused.status);
  });

  router.get('/name-change', fresh('unit.name_change'), async (ctx) => render(ctx, 'unit/name-change.njk', { csrf: csrfToken(ctx), unit: await me(ctx) }));
  router.post('/name-change', parseBody(), verifyCsrf(), fresh('unit.name_change'), async (ctx) => {
    const refused = await formRefusal(ctx, UnitNameDto, async (input) => {
      await units.changeVerifiedName(unitId(ctx), input.name, actor(ctx));
      seeOther(ctx, '/unit?done=name_change');
    });
    if (refused) render(ctx, 'unit/name-change.njk', { ...refused.view, csrf: csrfToken(ctx), unit: await me(ctx), name: refused.form.name }, refused.status);
  });

  async function subaccounts(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    // 50 a page like the log: a unit may have thousands of handlers (issue #15, Q-P6).
    const page = pageNumber(ctx);
    const list = await bindings.pageForUnit(unitId(ctx), page, AUDIT_PAGE_SIZE);
    render(
      ctx,
      'unit/bindings.njk',
      {
        csrf: csrfToken(ctx),
        unit: await me(ctx),
        businesses: businesses(ctx),
        bindings: list.bindings.map((binding) => ({ ...binding, mobile: binding.person ? maskMobile(binding.person.mobile) : '' })),
        page,
        paging: auditPaging(ctx, page, list.hasNext),
        done: typeof ctx.query.done === 'string' ? ctx.query.done : undefined,
        ...view,
      },
      status,
    );
  }

  router.get('/bindings', fresh('unit.bindings_list'), (ctx) => subaccounts(ctx));

  router.post('/bindings', parseBody(), verifyCsrf(), fresh('unit.bind'), async (ctx) => {
    const refused = await formRefusal(ctx, BindDto, async (input) => {
      await bindings.bind(unitId(ctx), input, actor(ctx));
      seeOther(ctx, '/unit/bindings?done=bind');
    });
    if (refused) await subaccounts(ctx, { ...refused.view, form: { ...refused.form, scopes: scopesOf(ctx) } }, refused.status);
  });

  /** A binding of this unit (404 for another unit's, as for one that does not exist), for a confirmation step. */
  async function ownBinding(ctx: Context) {
    // One row, not the unit's whole list: a unit may have thousands of handlers (issue #15, Q-P6).
    const binding = assertFound(await bindings.ofUnit(unitId(ctx), String(ctx.params.id)));
    return { binding, person: binding.person ? personLabel(binding.person, state(ctx).locale) : '' };
  }

  // 取消绑定 and 设为常用联系人 ask for confirmation first, naming the person, the unit and the consequence.
  function confirmStep(ctx: Context, step: 'unbind' | 'contact', bindingId: string, body: Record<string, string>, more: Record<string, unknown>): void {
    const locale = state(ctx).locale;
    render(ctx, 'confirm.njk', {
      frame: 'unit/layout.njk',
      csrf: csrfToken(ctx),
      action: `/unit/bindings/${bindingId}/${step}`,
      cancel: '/unit/bindings',
      title: translate(locale, `confirm.${step}_title`),
      submit: translate(locale, `confirm.${step}_submit`),
      body: translate(locale, `confirm.${step}_body`, body),
      ...more,
    });
  }

  router.get('/bindings/:id/unbind', fresh('unit.unbind'), async (ctx) => {
    const unit = await me(ctx);
    const { binding, person } = await ownBinding(ctx);
    if (binding.role === 'contact') throw new AppError('binding_contact_cannot_be_unbound');
    const locale = state(ctx).locale;
    confirmStep(
      ctx,
      'unbind',
      binding.id,
      { person, unit: unit.name },
      {
        facts: [
          { label: translate(locale, 'unit.person'), value: person },
          { label: translate(locale, 'unit.role'), value: translate(locale, `unit.role.${binding.role}`) },
        ],
      },
    );
  });

  router.get('/bindings/:id/contact', fresh('unit.contact'), async (ctx) => {
    const unit = await me(ctx);
    const { binding, person } = await ownBinding(ctx);
    if (binding.role === 'contact' || binding.effective !== 'active') throw new AppError('binding_contact_must_be_active');
    const current = await bindings.contactPerson(unitId(ctx));
    const locale = state(ctx).locale;
    confirmStep(
      ctx,
      'contact',
      binding.id,
      { person, unit: unit.name, previous: current ? personLabel(current, locale) : '' },
      {
        facts: [{ label: translate(locale, 'unit.person'), value: person }],
        // The permissions stay as they are unless changed here (R-B5: the contact change is a change of role).
        hidden: { scopesShown: '1' },
        scopeChoices: {
          legend: translate(locale, 'unit.contact_scopes'),
          options: businesses(ctx).map((business) => ({ ...business, checked: binding.scopes.includes(business.scope) })),
        },
      },
    );
  });

  router.post('/bindings/:id/unbind', parseBody(), verifyCsrf(), fresh('unit.unbind'), async (ctx) => {
    const refused = await refusalOf(ctx, async () => {
      await bindings.unbind(unitId(ctx), String(ctx.params.id), actor(ctx));
      seeOther(ctx, '/unit/bindings?done=unbind');
    });
    if (refused) await subaccounts(ctx, refused.view, refused.status);
  });

  router.post('/bindings/:id/scopes', parseBody(), verifyCsrf(), fresh('unit.scopes'), async (ctx) => {
    const refused = await formRefusal(ctx, ScopesDto, async (form) => {
      await bindings.setScopes(unitId(ctx), String(ctx.params.id), form.scopes, form.validFrom, form.validUntil, actor(ctx));
      seeOther(ctx, '/unit/bindings?done=scopes');
    });
    if (refused) await subaccounts(ctx, refused.view, refused.status);
  });

  router.post('/bindings/:id/contact', parseBody(), verifyCsrf(), fresh('unit.contact'), async (ctx) => {
    const refused = await refusalOf(ctx, async () => {
      // 设为常用联系人 changes the role; the permissions shown in the same form apply when it sent them.
      const shown = formFields(ctx, ['scopesShown'], 4).scopesShown === '1';
      await bindings.setContact(unitId(ctx), String(ctx.params.id), actor(ctx), shown ? scopesOf(ctx) : undefined);
      seeOther(ctx, '/unit/bindings?done=contact');
    });
    if (refused) await subaccounts(ctx, refused.view, refused.status);
  });

  router.get('/verify', async (ctx) => render(ctx, 'unit/verify.njk', { csrf: csrfToken(ctx), unit: await me(ctx) }));
  router.post('/verify', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, CodeDto, async (form) => {
      await verification.redeem(unitId(ctx), form.code, actor(ctx));
      seeOther(ctx, '/unit?done=verified');
    });
    if (refused) render(ctx, 'unit/verify.njk', { ...refused.view, csrf: csrfToken(ctx), unit: await me(ctx) }, refused.status);
  });

  router.get('/password', fresh('unit.password'), async (ctx) => render(ctx, 'unit/password.njk', { csrf: csrfToken(ctx) }));
  router.post('/password', parseBody(), verifyCsrf(), fresh('unit.password'), async (ctx) => {
    const refused = await formRefusal(ctx, PasswordChangeDto, async (form) => {
      await units.changePassword(unitId(ctx), form.currentPassword, form.password, form.passwordConfirm, actor(ctx), consoleAccount(ctx).sessionUid);
      seeOther(ctx, '/unit?done=password');
    });
    if (refused) render(ctx, 'unit/password.njk', { ...refused.view, csrf: csrfToken(ctx) }, refused.status);
  });

  // The unit's own log (R-A1): names instead of ids, action and date filters, 50 a page.
  router.get('/audit', async (ctx) => {
    const { query, filter } = auditQuery(ctx, AuditPageQueryDto);
    const entries = await audit.list({ ...filter, actingUnitId: unitId(ctx) });
    const locale = state(ctx).locale;
    render(ctx, 'unit/audit.njk', {
      unit: await me(ctx),
      entries: await describeEntries(services, entries.slice(0, AUDIT_PAGE_SIZE), locale, false),
      query,
      actions: auditActions(locale),
      page: query.page,
      paging: auditPaging(ctx, query.page, entries.length > AUDIT_PAGE_SIZE),
    });
  });

  return router;
}
