import { Router } from '@koa/router';
import { isUuid } from '../../shared/account-id.js';
import type { Context } from 'koa';
import { auditContext, csrfToken, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { validQuery } from '../../shared/http/validate.js';
import { ConsoleAuditQueryDto, ConsoleSearchQueryDto } from './dto.js';
import { IdNumberDto } from '../persons/dto.js';
import { NoteDto } from '../recovery/dto.js';
import { render } from '../../shared/http/views.js';
import { state } from '../../shared/http/middleware.js';
import { translate } from '../../shared/i18n/index.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../shared/console-account.js';
import { maskMobile } from '../persons/rules.js';
import { assertFound, formRefusal, refusalOf } from '../../shared/http/form-errors.js';
import type { ActorType } from '../audit/audit-log.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';
import { describeEntries, type DescribeLookups } from '../audit/describe.js';
import { AUDIT_PAGE_SIZE, auditActions, auditPaging, auditQuery, pageNumber } from '../audit/page.js';

const ACTOR_TYPES: ActorType[] = ['person', 'unit', 'operator', 'system', 'anonymous'];
const OUTCOMES = ['realname_verified', 'realname_rejected', 'person_active', 'person_disabled', 'unit_active', 'unit_disabled'];
/** 停用 and 启用 of persons and units: the route's action and the status it sets. */
const STATUS_ACTIONS = [
  ['disable', 'disabled'],
  ['enable', 'active'],
] as const;

/** What the counter console uses: its own services, and those of the frame and of the audit descriptions. */
type OperatorPorts = Pick<Services, 'persons' | 'audit' | 'config' | 'operators' | 'units' | 'verification' | 'bindings' | 'appeals' | 'dashboard' | 'notifier'> &
  IdentityServices &
  DescribeLookups;

/** The counter console (PRODUCT.md §7): verify persons, search, audit log; every action audited (R-A1). */
export function operatorRoutes(services: OperatorPorts, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/operator' });
  const { persons, audit, config } = services;
  router.use(requireAccount('operator'));
  router.use(frameIdentity(services));

  const actor = (ctx: Context) => auditContext(ctx, { type: 'operator', id: consoleAccount(ctx).id });
  const search = (ctx: Context) => validQuery(ctx, ConsoleSearchQueryDto, false).q?.trim();
  // What the last action did, said specifically (?done=…, only known outcomes).
  const doneOf = (ctx: Context) => (typeof ctx.query.done === 'string' && OUTCOMES.includes(ctx.query.done) ? ctx.query.done : undefined);

  router.get('/', async (ctx) => {
    const query = search(ctx);
    const found = await persons.search(query);
    const operator = await services.operators.byId(consoleAccount(ctx).id);
    render(ctx, 'operator/index.njk', {
      operator,
      query,
      persons: found.map((person) => ({ ...person, maskedMobile: maskMobile(person.mobile) })),
      outbox: config.mode !== 'production',
    });
  });

  async function personPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const person = assertFound(await persons.byId(String(ctx.params.id)));
    const history = await describeEntries(services, await audit.list({ subjectId: person.id, limit: 30 }), state(ctx).locale, true);
    render(ctx, 'operator/person.njk', { csrf: csrfToken(ctx), person, maskedMobile: maskMobile(person.mobile), history, ...view }, status);
  }

  router.get('/persons/:id', async (ctx) => personPage(ctx, { done: doneOf(ctx) }));

  router.post('/persons/:id/verify', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, IdNumberDto, async (form) => {
      await persons.verifyRealname(String(ctx.params.id), form.idNumber, actor(ctx));
      seeOther(ctx, `/operator/persons/${ctx.params.id}?done=realname_verified`);
    });
    if (refused) await personPage(ctx, refused.view, refused.status);
  });

  router.post('/persons/:id/reject', parseBody(), verifyCsrf(), async (ctx) => {
    const refused = await formRefusal(ctx, NoteDto, async (form) => {
      await persons.rejectRealname(String(ctx.params.id), form.note, actor(ctx));
      seeOther(ctx, `/operator/persons/${ctx.params.id}?done=realname_rejected`);
    });
    if (refused) await personPage(ctx, refused.view, refused.status);
  });

  for (const [action, status] of STATUS_ACTIONS) {
    router.post(`/persons/:id/${action}`, parseBody(), verifyCsrf(), async (ctx) => {
      assertFound(await persons.byId(String(ctx.params.id)));
      await persons.setStatus(String(ctx.params.id), status, actor(ctx));
      seeOther(ctx, `/operator/persons/${ctx.params.id}?done=person_${status}`);
    });
  }

  router.get('/units', async (ctx) => {
    const query = search(ctx) ?? '';
    render(ctx, 'operator/units.njk', { query, units: await services.units.search(query) });
  });

  async function unitPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const unit = assertFound(await services.units.byId(String(ctx.params.id)));
    // The unit's handlers 50 a page, as in its own 子账户信息 (issue #15: a unit may have thousands).
    const page = pageNumber(ctx);
    const list = await services.bindings.pageForUnit(unit.id, page, AUDIT_PAGE_SIZE);
    render(
      ctx,
      'operator/unit.njk',
      {
        csrf: csrfToken(ctx),
        unit,
        codes: await services.verification.list(unit.id),
        bindings: list.bindings,
        page,
        paging: auditPaging(ctx, page, list.hasNext),
        appeals: await services.appeals.listForUnit(unit.id),
        history: await describeEntries(services, await audit.list({ subjectId: unit.id, limit: 50 }), state(ctx).locale, true),
        done: doneOf(ctx),
        ...view,
      },
      status,
    );
  }

  router.get('/units/:id', (ctx) => unitPage(ctx));

  // 签发授权码 asks for confirmation first: the unit, its certificate and the consequence.
  router.get('/units/:id/codes', async (ctx) => {
    const unit = assertFound(await services.units.byId(String(ctx.params.id)));
    const locale = state(ctx).locale;
    render(ctx, 'confirm.njk', {
      frame: 'operator/layout.njk',
      csrf: csrfToken(ctx),
      action: `/operator/units/${unit.id}/codes`,
      cancel: `/operator/units/${unit.id}`,
      title: translate(locale, 'confirm.code_title'),
      submit: translate(locale, 'confirm.code_submit'),
      body: translate(locale, 'confirm.code_body', { unit: unit.name, certNo: unit.certNo, hours: config.unitCodeTtlHours }),
      facts: [
        { label: translate(locale, 'unit.name'), value: unit.name },
        { label: translate(locale, 'unit.cert_type'), value: translate(locale, `unit.cert_type.${unit.certType}`) },
        { label: translate(locale, 'unit.cert_no'), value: unit.certNo },
      ],
    });
  });

  // R-U5: the code is shown once, here, large and with a slip to print and hand over; only its HMAC is kept.
  router.post('/units/:id/codes', parseBody(), verifyCsrf(), async (ctx) => {
    const unit = assertFound(await services.units.byId(String(ctx.params.id)));
    const refused = await refusalOf(ctx, async () => {
      const issued = await services.verification.issue(unit.id, actor(ctx));
      render(ctx, 'operator/code-issued.njk', { unit, code: issued.code, expiresAt: issued.expiresAt });
    });
    if (refused) await unitPage(ctx, refused.view, refused.status);
  });

  for (const [action, status] of STATUS_ACTIONS) {
    router.post(`/units/:id/${action}`, parseBody(), verifyCsrf(), async (ctx) => {
      const unit = assertFound(await services.units.byId(String(ctx.params.id)));
      await services.units.setStatus(unit.id, status, actor(ctx));
      seeOther(ctx, `/operator/units/${unit.id}?done=unit_${status}`);
    });
  }

  router.get('/dashboard', async (ctx) => {
    render(ctx, 'operator/dashboard.njk', { ...(await services.dashboard.lastDay()) });
  });

  // The whole log, newest first, 50 a page: by person or unit (login name, mobile, name or certificate number,
  // never an id to type in), action and dates; names instead of ids, each linked to its page.
  router.get('/audit', async (ctx) => {
    const { query, filter, params } = auditQuery(ctx, ConsoleAuditQueryDto);
    const subject = params.q?.trim() ?? '';
    let subjectId: string | undefined;
    let subjectMissing = false;
    if (subject) {
      const person = await persons.byAccount(subject);
      const unit = person ? undefined : (await services.units.search(subject))[0];
      subjectId = person?.id ?? unit?.id;
      subjectMissing = !subjectId;
    }
    const actorType = ACTOR_TYPES.find((type) => type === ctx.query.actorType);
    const entries = subjectMissing
      ? []
      : await audit.list({
          ...filter,
          ...(subjectId ? { subjectId } : {}),
          actorType,
          actorId: isUuid(ctx.query.actorId) ? ctx.query.actorId : undefined,
          targetId: isUuid(ctx.query.targetId) ? ctx.query.targetId : undefined,
          actingUnitId: isUuid(ctx.query.unitId) ? ctx.query.unitId : undefined,
        });
    const locale = state(ctx).locale;
    render(ctx, 'operator/audit.njk', {
      entries: await describeEntries(services, entries.slice(0, AUDIT_PAGE_SIZE), locale, true),
      query,
      subject,
      actions: auditActions(locale),
      page: query.page,
      paging: auditPaging(ctx, query.page, entries.length > AUDIT_PAGE_SIZE),
    });
  });

  // The development outbox: what the SMS gateway would have sent (never in production).
  router.get('/outbox', async (ctx) => {
    if (config.mode === 'production') assertFound(undefined);
    render(ctx, 'operator/outbox.njk', { messages: await services.notifier.outbox(100) });
  });

  return router;
}
