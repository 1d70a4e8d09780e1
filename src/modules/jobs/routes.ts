import { Router } from '@koa/router';
import { auditContext, csrfToken, parseBody, seeOther, verifyCsrf } from '../../shared/http/forms.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import { consoleAccount, type RequireAccount } from '../../shared/console-account.js';
import { frameIdentity, type IdentityServices } from '../site/identity.js';

const KNOWN_KINDS = new Set(['backchannel_logout', 'notification', 'webhook']);

/**
 * The operator console's view of the job queue (S-56): the counts by state and the jobs parked as failed after
 * their last attempt, each with a retry (audited).
 */
export function jobRoutes(services: Pick<Services, 'jobs' | 'jobRetry'> & IdentityServices, requireAccount: RequireAccount): Router {
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
    await services.jobRetry.retry(id, auditContext(ctx, { type: 'operator', id: consoleAccount(ctx).id }));
    seeOther(ctx, '/operator/jobs?retried=1');
  });

  return router;
}
