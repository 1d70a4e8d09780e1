import { Router } from '@koa/router';
import type { Context } from 'koa';
import { auditContext, csrfToken, formFields, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../interactions/console.js';
import { withFormErrors } from '../persons/routes.js';
import { APPEAL_LINK_TTL_HOURS } from './appeals.js';
import { DOCUMENT_TYPES } from './documents.js';
import type { AppealStatus } from './store.js';
import { frameIdentity } from '../site/identity.js';
import { state } from '../../shared/http/middleware.js';
import { describeEntries } from '../audit/describe.js';

const STATUSES: readonly AppealStatus[] = ['pending', 'approved', 'rejected', 'completed'];

/**
 * The counter console's appeals (R-R3, PRODUCT.md §7): pending appeals, their documents (downloaded as attachments
 * with the sniffed type, never shown inline, S-35), approval or rejection with a note; every step audited (R-A1).
 */
export function appealOperatorRoutes(services: Services, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/operator/appeals' });
  const { appeals } = services;
  router.use(requireAccount('operator'));
  router.use(frameIdentity(services));

  const actor = (ctx: Context) => auditContext(ctx, { type: 'operator', id: consoleAccount(ctx).id });

  router.get('/', async (ctx) => {
    const wanted = ctx.query.status === 'all' ? 'all' : STATUSES.find((status) => status === ctx.query.status) ?? 'pending';
    render(ctx, 'operator/appeals.njk', { appeals: await appeals.list(wanted === 'all' ? undefined : wanted), status: wanted, statuses: STATUSES });
  });

  async function appealPage(ctx: Context, view: Record<string, unknown> = {}, status = 200): Promise<void> {
    const found = await appeals.get(String(ctx.params.id));
    const history = await describeEntries(services, await services.audit.list({ targetId: found.appeal.id, limit: 50 }), state(ctx).locale, true);
    render(ctx, 'operator/appeal.njk', { csrf: csrfToken(ctx), ...found, history, linkHours: APPEAL_LINK_TTL_HOURS, done: ctx.query.done === '1', ...view }, status);
  }

  router.get('/:id', (ctx) => appealPage(ctx));

  for (const decision of ['approve', 'reject'] as const) {
    router.post(`/:id/${decision}`, parseBody(), verifyCsrf(), async (ctx) => {
      const form = formFields(ctx, ['note'], 256);
      await withFormErrors(ctx, async () => {
        await appeals[decision](String(ctx.params.id), form.note, actor(ctx));
        seeOther(ctx, `/operator/appeals/${ctx.params.id}?done=1`);
      }, (view, status) => appealPage(ctx, { ...view, note: form.note.slice(0, 200), decision }, status));
    });
  }

  // S-35: a download, never inline: the sniffed type, nosniff, a sandboxing CSP and a generated file name.
  router.get('/:id/documents/:documentId', async (ctx) => {
    const document = await appeals.document(String(ctx.params.id), String(ctx.params.documentId), actor(ctx));
    ctx.set('Content-Disposition', `attachment; filename="appeal-${document.reference}-${document.seq}.${DOCUMENT_TYPES[document.contentType] ?? 'bin'}"`);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
    ctx.set('Cache-Control', 'no-store');
    ctx.type = document.contentType;
    ctx.body = document.content;
  });

  return router;
}
