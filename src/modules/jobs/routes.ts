import { Router } from '@koa/router';
import { auditContext, csrfToken, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { render } from '../../shared/http/views.js';
import { AppError } from '../../shared/errors.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../interactions/console.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';

const KNOWN_KINDS = new Set(['backchannel_logout', 'notification', 'webhook']);

/**
 * The operator console's view of the job queue (S-56): the counts by state and the jobs parked as failed after
 * their last attempt, each with a retry (audited).
 */
export function jobRoutes(services: Pick<Services, 'jobs' | 'audit' | 'db'> & IdentityServices, requireAccount: RequireAccount): Router {
  const router = new Router({ prefix: '/operator/jobs' });
  router.use(requireAccount('operator'));
  router.use(frameIdentity(services));

  router.get('/', async (ctx) => {
    const jobs = (await services.jobs.listFailed()).map((job) => ({ ...job, known: KNOWN_KINDS.has(job.kind) }));
    ctx.set('Cache-Control', 'no-store');
    render(ctx, 'operator/jobs.njk', { csrf: csrfToken(ctx), jobs, counts: await services.jobs.counts(), retried: ctx.query.retried === '1' });
  });

  router.post('/:id/retry', parseBody(), verifyCsrf(), async (ctx) => {
    const id = String(ctx.params.id);
    await services.db.transaction(async (tx) => {
      if (!await services.jobs.retry(id, tx)) throw new AppError('not_found');
      await services.audit.record(auditContext(ctx, { type: 'operator', id: consoleAccount(ctx).id }), { action: 'job.retry', target: { type: 'job', id } }, tx);
    });
    seeOther(ctx, '/operator/jobs?retried=1');
  });

  return router;
}
