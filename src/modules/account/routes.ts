import { Router } from '@koa/router';
import type { Context } from 'koa';
import { auditContext, csrfToken, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { MobileChangeDto, MobileChangeStartDto, PasswordChangeDto, RealnameDto } from '../persons/dto.js';
import { CodeDto, UnitRegistrationFormDto } from '../units/dto.js';
import { state } from '../../shared/http/middleware.js';
import { render } from '../../shared/http/views.js';
import { translate } from '../../shared/i18n/index.js';
import { AppError } from '../../shared/errors.js';
import type { Services } from '../../services.js';
import type { RequireAccount } from '../../shared/console-account.js';
import { consoleAccount } from '../../shared/console-account.js';
import { enteredMobile, maskMobile, normalizeMobile } from '../persons/rules.js';
import { assertFound, formRefusal, refusalOf, visibleField } from '../../shared/http/form-errors.js';
import { CERT_TYPES } from '../units/certificates.js';
import { isIdentityScope } from '../../config/clients.js';
import { describeEntries, type DescribeLookups } from '../audit/describe.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';

/** The account centre of a person (PRODUCT.md §7): profile, password, mobile, real name, signed-in systems. */
export function accountRoutes(
  services: Pick<Services, 'persons' | 'sessions' | 'audit' | 'catalog' | 'bindings' | 'units' | 'verification' | 'notices' | 'unitGrants'> & IdentityServices & DescribeLookups,
  requireAccount: RequireAccount,
): Router {
  const router = new Router({ prefix: '/account' });
  const { persons, sessions, audit, catalog, bindings, units, verification } = services;
  router.use(requireAccount('person'));
  router.use(frameIdentity(services));

  const me = async (ctx: Context) => assertFound(await persons.byId(consoleAccount(ctx).id));
  const actor = (ctx: Context) => auditContext(ctx, { type: 'person', id: consoleAccount(ctx).id });
  const clientLabel = (ctx: Context, clientId: string) => catalog.client(clientId)?.name[state(ctx).locale] ?? clientId;

  const businessName = (ctx: Context, scope: string) => catalog.businesses.find((business) => business.scope === scope)?.name[state(ctx).locale] ?? scope;

  /** A permission as a person reads it: the business's name, or what a base scope gives (never a scope code). */
  const permissionName = (ctx: Context, scope: string): string | undefined => {
    const locale = state(ctx).locale;
    const business = catalog.businesses.find((entry) => entry.scope === scope);
    if (business) return business.name[locale];
    if (scope !== 'openid' && isIdentityScope(scope)) return translate(locale, `scope.${scope}`);
    return undefined;
  };

  /**
   * 已登录的业务系统: one row per business system (client), however many grants it holds (one per unit acted for
   * and the personal one), with the permissions by name, the units, the last sign-in and one revoke.
   */
  async function signedInSystems(ctx: Context, personId: string) {
    const grants = await sessions.listGrants(personId);
    const systems = new Map<string, { clientId: string; name: string; permissions: Set<string>; units: Set<string>; personal: boolean; lastUsed: Date }>();
    for (const grant of grants) {
      const system = systems.get(grant.clientId) ?? {
        clientId: grant.clientId,
        name: clientLabel(ctx, grant.clientId),
        permissions: new Set<string>(),
        units: new Set<string>(),
        personal: false,
        lastUsed: grant.createdAt,
      };
      for (const scope of grant.scopes) {
        const name = permissionName(ctx, scope);
        if (name) system.permissions.add(name);
      }
      const link = await services.unitGrants.forGrant(grant.grantId);
      const unit = link ? await units.byId(link.unitId) : undefined;
      if (unit) system.units.add(unit.name);
      else system.personal = true;
      if (grant.createdAt > system.lastUsed) system.lastUsed = grant.createdAt;
      systems.set(grant.clientId, system);
    }
    return [...systems.values()].map((system) => ({ ...system, permissions: [...system.permissions], units: [...system.units] }));
  }

  async function overview(ctx: Context, extra: Record<string, unknown> = {}, status = 200): Promise<void> {
    const person = await me(ctx);
    const grants = await sessions.listGrants(person.id);
    const systems = await signedInSystems(ctx, person.id);
    const activity = await describeEntries(services, await audit.list({ subjectId: person.id, limit: 20 }), state(ctx).locale, false);
    const mine = await bindings.listForPerson(person.id);
    const notices = await services.notices.list(person.id);
    const describe = (binding: (typeof mine)[number]) => ({ ...binding, scopeNames: binding.effectiveScopes.map((scope) => businessName(ctx, scope)) });
    render(
      ctx,
      'account/index.njk',
      {
        csrf: csrfToken(ctx),
        person,
        mobile: maskMobile(person.mobile),
        grants: grants.map((grant) => ({ ...grant, name: clientLabel(ctx, grant.clientId) })),
        systems,
        pending: mine.filter((binding) => binding.status === 'pending').map(describe),
        units: mine.filter((binding) => binding.status === 'active').map(describe),
        activity,
        notices,
        unreadCount: notices.filter((notice) => !notice.readAt).length,
        ...extra,
      },
      status,
    );
  }

  router.get('/', async (ctx) => overview(ctx, { done: typeof ctx.query.done === 'string' ? ctx.query.done : undefined, welcome: ctx.query.welcome === '1' }));

  // 通知 (issue 14): marking read is a POST with the CSRF token (S-32), for the signed-in person's notices only.
  router.post('/notices/read', parseBody(), verifyCsrf(), async (ctx) => {
    await services.notices.markAllRead(consoleAccount(ctx).id);
    seeOther(ctx, '/account?done=notices_read');
  });

  router.get('/password', async (ctx) => render(ctx, 'account/password.njk', { csrf: csrfToken(ctx) }));
  router.post('/password', parseBody(), verifyCsrf(), async (ctx) => {
    const account = consoleAccount(ctx);
    const refused = await formRefusal(ctx, PasswordChangeDto, async (form) => {
      await persons.changePassword(account.id, form.currentPassword, form.password, form.passwordConfirm, actor(ctx), account.sessionUid);
      seeOther(ctx, '/account?done=password');
    });
    if (refused) render(ctx, 'account/password.njk', { ...refused.view, csrf: csrfToken(ctx) }, refused.status);
  });

  router.get('/mobile', async (ctx) => render(ctx, 'account/mobile.njk', { csrf: csrfToken(ctx), step: 'start' }));
  router.post('/mobile/code', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, MobileChangeStartDto, async (input) => {
      const challenge = await persons.startMobileChange(consoleAccount(ctx).id, input.currentPassword, input.mobile, state(ctx).locale, actor(ctx));
      const mobile = normalizeMobile(input.mobile) ?? '';
      render(ctx, 'account/mobile.njk', { csrf: csrfToken(ctx), step: 'code', challenge, mobile, masked: maskMobile(mobile) });
    });
    if (refused) render(ctx, 'account/mobile.njk', { ...refused.view, csrf: csrfToken(ctx), step: 'start', mobile: refused.form.mobile }, refused.status);
  });
  router.post('/mobile', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, MobileChangeDto, async (input) => {
      await persons.completeMobileChange(consoleAccount(ctx).id, input.mobile, input.challenge, input.code, actor(ctx));
      seeOther(ctx, '/account?done=mobile');
    });
    if (!refused) return;
    const { view, form } = refused;
    render(
      ctx,
      'account/mobile.njk',
      { ...view, errorField: visibleField(view.errorField, ['code']), csrf: csrfToken(ctx), step: 'code', challenge: form.challenge, ...enteredMobile(form.mobile) },
      refused.status,
    );
  });

  router.get('/realname', async (ctx) => render(ctx, 'account/realname.njk', { csrf: csrfToken(ctx), person: await me(ctx) }));
  router.post('/realname', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, RealnameDto, async (input) => {
      await persons.submitRealname(consoleAccount(ctx).id, input.legalName, input.idNumber, actor(ctx));
      seeOther(ctx, '/account?done=realname');
    });
    if (refused) render(ctx, 'account/realname.njk', { ...refused.view, csrf: csrfToken(ctx), person: await me(ctx), legalName: refused.form.legalName }, refused.status);
  });

  for (const action of ['accept', 'decline'] as const) {
    router.post(`/bindings/:id/${action}`, parseBody(), verifyCsrf(), async (ctx) => {
      const refused = await refusalOf(ctx, async () => {
        await bindings[action](consoleAccount(ctx).id, String(ctx.params.id), actor(ctx));
        seeOther(ctx, `/account?done=binding_${action === 'accept' ? 'accepted' : 'declined'}`);
      });
      if (refused) await overview(ctx, refused.view, refused.status);
    });
  }

  // Guide §6: a handler acting for the unit may enter the counter's authorisation code.
  router.post('/units/:unitId/verify', parseBody(), verifyCsrf(), async (ctx) => {
    const unitId = String(ctx.params.unitId);
    const personId = consoleAccount(ctx).id;
    if (!(await bindings.activeFor(personId, unitId))) throw new AppError('not_found');
    const refused = await formRefusal(ctx, CodeDto, async (form) => {
      await verification.redeem(unitId, form.code, auditContext(ctx, { type: 'person', id: personId }, unitId));
      seeOther(ctx, '/account?done=unit_verified');
    });
    if (refused) await overview(ctx, { ...refused.view, codeUnit: unitId }, refused.status);
  });

  router.get('/units/register', async (ctx) => render(ctx, 'account/unit-register.njk', { csrf: csrfToken(ctx), person: await me(ctx), certTypes: CERT_TYPES }));
  router.post('/units/register', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, UnitRegistrationFormDto, async (input) => {
      const unit = await units.register(consoleAccount(ctx).id, input, actor(ctx));
      render(ctx, 'account/unit-registered.njk', { unit });
    });
    if (!refused) return;
    const { form } = refused;
    render(
      ctx,
      'account/unit-register.njk',
      {
        ...refused.view,
        csrf: csrfToken(ctx),
        person: await me(ctx),
        certTypes: CERT_TYPES,
        form: { name: form.name, certType: form.certType, certNo: form.certNo, loginName: form.loginName },
      },
      refused.status,
    );
  });

  // One revoke per business system: every grant the system holds for this person (personal and for each unit).
  router.post('/clients/:clientId/revoke', parseBody(), verifyCsrf(), async (ctx) => {
    const account = consoleAccount(ctx);
    const grants = (await sessions.listGrants(account.id)).filter((entry) => entry.clientId === ctx.params.clientId);
    if (grants.length === 0) throw new AppError('not_found');
    for (const grant of grants) {
      if (await sessions.revokeGrant(account.id, grant.grantId)) {
        await audit.record(actor(ctx), { action: 'grant.revoke', target: { type: 'client', id: grant.clientId } });
      }
    }
    await overview(ctx, { revoked: translate(state(ctx).locale, 'account.revoked', { client: clientLabel(ctx, grants[0]!.clientId) }) });
  });

  router.post('/grants/:grantId/revoke', parseBody(), verifyCsrf(), async (ctx) => {
    const account = consoleAccount(ctx);
    const grants = await sessions.listGrants(account.id);
    const grant = grants.find((entry) => entry.grantId === ctx.params.grantId);
    if (!grant || !(await sessions.revokeGrant(account.id, grant.grantId))) throw new AppError('not_found');
    await audit.record(actor(ctx), { action: 'grant.revoke', target: { type: 'client', id: grant.clientId } });
    await overview(ctx, { revoked: translate(state(ctx).locale, 'account.revoked', { client: clientLabel(ctx, grant.clientId) }) });
  });

  return router;
}
