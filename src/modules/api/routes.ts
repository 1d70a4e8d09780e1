import { Router } from '@koa/router';
import type { Context, Middleware } from 'koa';
import { AppError } from '../../shared/errors.js';
import { auditContext, parseBody } from '../../shared/http/forms.js';
import { validBody, validQuery } from '../../shared/http/validate.js';
import type { AccountKind } from '../../shared/account-id.js';
import type { Services } from '../../services.js';
import type { ApiAccount } from '../../oidc/bearer.js';
import type { SensitiveOperation } from '../../shared/security/sensitive.js';
import type { AuditContext } from '../audit/audit-log.js';
import type { BindingView } from '../bindings/service.js';
import type { Person } from '../persons/service.js';
import { maskMobile } from '../persons/rules.js';
import type { Unit } from '../units/service.js';
import { BindDto, BindingsPageQueryDto, CodeDto, ScopesDto, SearchQueryDto, UnitAuditQueryDto, UnitNameDto, UnitRegistrationDto } from './dto.js';
import { appealStatusRoute, auditPage, counterApiRoutes } from './counter-routes.js';
import { openApiDocument } from './openapi.js';
import { recoveryApiRoutes } from './recovery-routes.js';

function account(ctx: Context, kind: AccountKind): ApiAccount {
  const found = (ctx.state as { apiAccount?: ApiAccount }).apiAccount;
  if (!found || found.kind !== kind) throw new AppError('forbidden');
  return found;
}

/** S-27 / S-34 for the API: an operation of the one sensitive table needs a password entered recently. */
function fresh(api: ApiAccount, _operation: SensitiveOperation): void {
  if (!api.fresh) throw new AppError('reauth_required');
}

function unitJson(unit: Unit) {
  return { id: unit.id, name: unit.name, certType: unit.certType, certNo: unit.certNo, loginName: unit.loginName, verified: unit.verified, status: unit.status };
}

function bindingJson(binding: BindingView & { person?: Person | undefined; unit?: Unit | undefined }) {
  return {
    id: binding.id,
    unitId: binding.unitId,
    ...(binding.person
      ? { person: { id: binding.person.id, loginName: binding.person.loginName, legalName: binding.person.legalName, mobile: maskMobile(binding.person.mobile) } }
      : {}),
    ...(binding.unit ? { unit: unitJson(binding.unit) } : {}),
    role: binding.role,
    status: binding.status,
    effectiveStatus: binding.effective,
    scopes: binding.effectiveScopes,
    validFrom: binding.validFromDate,
    validUntil: binding.validUntilDate,
  };
}

/**
 * The JSON management API (PRODUCT.md §7): the unit console's, the account centre's and the counter's
 * operations for integrations, authorised by this provider's own access tokens with the `manage` scope, and
 * described by the OpenAPI 3.1 document at /api/v1/openapi.json.
 */
export function apiRoutes(
  services: Pick<Services, 'units' | 'bindings' | 'verification' | 'config' | 'catalog' | 'persons' | 'appeals' | 'jobs' | 'jobRetry' | 'audit' | 'recovery'>,
  bearer: Middleware,
): Router {
  const router = new Router({ prefix: '/api/v1' });
  const { units, bindings, verification } = services;

  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = openApiDocument(
      services.config.issuer,
      services.catalog.businesses.map((business) => business.scope),
    );
  });

  const secured = new Router();
  secured.use(bearer, parseBody());
  const as = (ctx: Context, kind: AccountKind): { api: ApiAccount; context: AuditContext } => {
    const api = account(ctx, kind);
    return { api, context: auditContext(ctx, { type: kind, id: api.id }, kind === 'unit' ? api.id : undefined) };
  };
  /** The unit as it is after a change it made. */
  const unitAfter = async (id: string) => unitJson((await units.byId(id))!);
  /** The unit account of an operation of the sensitive table, which needs a recent password (S-27 / S-34). */
  const sensitive = (ctx: Context, operation: SensitiveOperation) => {
    const found = as(ctx, 'unit');
    fresh(found.api, operation);
    return found;
  };

  // --- the unit account (unit console) ---
  secured.get('/unit', async (ctx) => {
    const { api } = as(ctx, 'unit');
    const unit = await units.byId(api.id);
    if (!unit) throw new AppError('not_found');
    ctx.body = { ...unitJson(unit), nameHistory: await units.nameHistory(unit.id) };
  });
  secured.patch('/unit', async (ctx) => {
    const { api, context } = sensitive(ctx, 'unit.rename');
    await units.updateName(api.id, validBody(ctx, UnitNameDto).name, context);
    ctx.body = await unitAfter(api.id);
  });
  secured.post('/unit/name-change', async (ctx) => {
    const { api, context } = sensitive(ctx, 'unit.name_change');
    await units.changeVerifiedName(api.id, validBody(ctx, UnitNameDto).name, context);
    ctx.body = await unitAfter(api.id);
  });
  secured.get('/unit/bindings', async (ctx) => {
    const { api } = sensitive(ctx, 'unit.bindings_list');
    // Paged (issue #15, Q-P6): a unit may have thousands of handlers.
    const query = validQuery(ctx, BindingsPageQueryDto);
    const page = query.page ? Number(query.page) : 1;
    const limit = query.limit ? Number(query.limit) : 100;
    const list = await bindings.pageForUnit(api.id, page, limit);
    ctx.body = { bindings: list.bindings.map(bindingJson), page, limit, hasMore: list.hasNext };
  });
  secured.post('/unit/bindings', async (ctx) => {
    const { api, context } = sensitive(ctx, 'unit.bind');
    const body = validBody(ctx, BindDto);
    const created = await bindings.bind(api.id, body, context);
    ctx.status = 201;
    ctx.body = bindingJson(bindings.view(created));
  });
  secured.post('/unit/bindings/:id/unbind', async (ctx) => {
    const { api, context } = sensitive(ctx, 'unit.unbind');
    await bindings.unbind(api.id, String(ctx.params.id), context);
    ctx.status = 204;
  });
  secured.put('/unit/bindings/:id/scopes', async (ctx) => {
    const { api, context } = sensitive(ctx, 'unit.scopes');
    const body = validBody(ctx, ScopesDto);
    await bindings.setScopes(api.id, String(ctx.params.id), body.scopes, body.validFrom, body.validUntil, context);
    ctx.status = 204;
  });
  secured.post('/unit/bindings/:id/contact', async (ctx) => {
    const { api, context } = sensitive(ctx, 'unit.contact');
    await bindings.setContact(api.id, String(ctx.params.id), context);
    ctx.status = 204;
  });
  secured.post('/unit/verification', async (ctx) => {
    const { api, context } = as(ctx, 'unit');
    await verification.redeem(api.id, validBody(ctx, CodeDto).code, context);
    ctx.body = await unitAfter(api.id);
  });
  secured.get('/unit/audit', async (ctx) => {
    const { api } = as(ctx, 'unit');
    ctx.body = await auditPage(services, { actingUnitId: api.id }, validQuery(ctx, UnitAuditQueryDto));
  });

  // --- a person (account centre) ---
  secured.get('/me/bindings', async (ctx) => {
    const { api } = as(ctx, 'person');
    ctx.body = { bindings: (await bindings.listForPerson(api.id)).map(bindingJson) };
  });
  for (const action of ['accept', 'decline'] as const) {
    secured.post(`/me/bindings/:id/${action}`, async (ctx) => {
      const { api, context } = as(ctx, 'person');
      await bindings[action](api.id, String(ctx.params.id), context);
      ctx.status = 204;
    });
  }
  secured.post('/me/units', async (ctx) => {
    const { api, context } = as(ctx, 'person');
    const body = validBody(ctx, UnitRegistrationDto);
    const unit = await units.register(api.id, { ...body, passwordConfirm: body.password }, context);
    ctx.status = 201;
    ctx.body = unitJson(unit);
  });

  // --- an operator (counter) ---
  secured.get('/counter/units', async (ctx) => {
    as(ctx, 'operator');
    const { q } = validQuery(ctx, SearchQueryDto);
    ctx.body = { units: (await units.search(q)).map(unitJson) };
  });
  secured.get('/counter/units/:id/verification-codes', async (ctx) => {
    as(ctx, 'operator');
    const unit = await units.byId(String(ctx.params.id));
    if (!unit) throw new AppError('not_found');
    ctx.body = { codes: await verification.list(unit.id) };
  });
  secured.post('/counter/units/:id/verification-codes', async (ctx) => {
    const { context } = as(ctx, 'operator');
    const unit = await units.byId(String(ctx.params.id));
    if (!unit) throw new AppError('not_found');
    const issued = await verification.issue(unit.id, context);
    ctx.status = 201;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { code: issued.code, expiresAt: issued.expiresAt.toISOString() };
  });
  counterApiRoutes(secured, services, as);

  appealStatusRoute(router, services);
  recoveryApiRoutes(router, services);
  router.use(secured.routes(), secured.allowedMethods());
  return router;
}
