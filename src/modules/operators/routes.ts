import { Router } from '@koa/router';
import { isUuid } from '../../shared/account-id.js';
import type { Context } from 'koa';
import { auditContext, csrfToken, formFields, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../interactions/console.js';
import { maskMobile } from '../persons/rules.js';
import { assertFound, withFormErrors } from '../persons/routes.js';
import type { ActorType } from '../audit/audit-log.js';
import { lastDay } from './dashboard.js';

const ACTOR_TYPES: ActorType[] = ['person', 'unit', 'operator', 'system', 'anonymous'];

/** The counter console (PRODUCT.md §7): verify persons, search, audit log; every action audited (R-A1). */
export function operatorRoutes(services: Services, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/operator' });
  const { persons, audit, db, config } = services;
  router.use(requireAccount('operator'));

  const actor = (ctx: Context) => auditContext(ctx, { type: 'operator', id: consoleAccount(ctx).id });
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 64) : undefined);

  router.get('/', async (ctx) => {
    const query = text(ctx.query.q)?.trim();
    const found = await persons.search(query);
    const operator = await services.operators.byId(consoleAccount(ctx).id);
    render(ctx, 'operator/index.njk', {
      operator, query, persons: found.map((person) => ({ ...person, maskedMobile: maskMobile(person.mobile) })), outbox: config.mode !== 'production',
    });
  });

  async function personPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const person = assertFound(await persons.byId(String(ctx.params.id)));
    const history = await audit.list({ targetId: person.id, limit: 30 });
    render(ctx, 'operator/person.njk', { csrf: csrfToken(ctx), person, maskedMobile: maskMobile(person.mobile), history, ...view }, status);
  }

  router.get('/persons/:id', async (ctx) => personPage(ctx, { done: ctx.query.done === '1' }));

  router.post('/persons/:id/verify', parseBody(), verifyCsrf(), async (ctx) => {
    const form = formFields(ctx, ['idNumber'], 32);
    await withFormErrors(ctx, async () => {
      await persons.verifyRealname(String(ctx.params.id), form.idNumber, actor(ctx));
      seeOther(ctx, `/operator/persons/${ctx.params.id}?done=1`);
    }, (view, status) => personPage(ctx, view, status));
  });

  router.post('/persons/:id/reject', parseBody(), verifyCsrf(), async (ctx) => {
    const form = formFields(ctx, ['note'], 256);
    await withFormErrors(ctx, async () => {
      await persons.rejectRealname(String(ctx.params.id), form.note, actor(ctx));
      seeOther(ctx, `/operator/persons/${ctx.params.id}?done=1`);
    }, (view, status) => personPage(ctx, view, status));
  });

  for (const [action, status] of [['disable', 'disabled'], ['enable', 'active']] as const) {
    router.post(`/persons/:id/${action}`, parseBody(), verifyCsrf(), async (ctx) => {
      assertFound(await persons.byId(String(ctx.params.id)));
      await persons.setStatus(String(ctx.params.id), status, actor(ctx));
      seeOther(ctx, `/operator/persons/${ctx.params.id}?done=1`);
    });
  }

  router.get('/units', async (ctx) => {
    const query = text(ctx.query.q)?.trim() ?? '';
    render(ctx, 'operator/units.njk', { query, units: query ? await services.units.search(query) : [] });
  });

  async function unitPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const unit = assertFound(await services.units.byId(String(ctx.params.id)));
    render(ctx, 'operator/unit.njk', {
      csrf: csrfToken(ctx), unit, codes: await services.verification.list(unit.id),
      bindings: await services.bindings.listForUnit(unit.id), appeals: await services.appeals.listForUnit(unit.id),
      history: await audit.list({ actingUnitId: unit.id, limit: 50 }),
      done: ctx.query.done === '1', ...view,
    }, status);
  }

  router.get('/units/:id', (ctx) => unitPage(ctx));

  // R-U5: the code is shown once, here, to hand over at the counter; only its HMAC is kept.
  router.post('/units/:id/codes', parseBody(), verifyCsrf(), async (ctx) => {
    const unit = assertFound(await services.units.byId(String(ctx.params.id)));
    await withFormErrors(ctx, async () => {
      const issued = await services.verification.issue(unit.id, actor(ctx));
      await unitPage(ctx, { issued: { code: issued.code, expires: issued.expiresAt.toISOString().replace('T', ' ').slice(0, 16) } });
    }, (view, status) => unitPage(ctx, view, status));
  });

  for (const [action, status] of [['disable', 'disabled'], ['enable', 'active']] as const) {
    router.post(`/units/:id/${action}`, parseBody(), verifyCsrf(), async (ctx) => {
      const unit = assertFound(await services.units.byId(String(ctx.params.id)));
      await services.units.setStatus(unit.id, status, actor(ctx));
      seeOther(ctx, `/operator/units/${unit.id}?done=1`);
    });
  }

  router.get('/dashboard', async (ctx) => {
    render(ctx, 'operator/dashboard.njk', { ...await lastDay(db, services.jobs, services.now()) });
  });

  router.get('/audit', async (ctx) => {
    const actorType = ACTOR_TYPES.find((type) => type === ctx.query.actorType);
    const filter = {
      actorType, actorId: text(ctx.query.actorId), targetId: text(ctx.query.targetId), action: text(ctx.query.action),
      actingUnitId: isUuid(ctx.query.unitId) ? ctx.query.unitId : undefined, limit: 200,
    };
    render(ctx, 'operator/audit.njk', { entries: await audit.list(filter), filter, actorTypes: ACTOR_TYPES });
  });

  // The development outbox: what the SMS gateway would have sent (never in production).
  router.get('/outbox', async (ctx) => {
    if (config.mode === 'production') assertFound(undefined);
    const { rows } = await db.query<{ channel: string; recipient: string; body: string; created_at: Date }>(
      'SELECT channel, recipient, body, created_at FROM notification_outbox ORDER BY created_at DESC LIMIT 100',
    );
    render(ctx, 'operator/outbox.njk', { messages: rows });
  });

  return router;
}
