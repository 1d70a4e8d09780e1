import { Router } from '@koa/router';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';

/**
 * Pages of the platform itself: 隐私政策 and 用户协议 (linked from every page's footer and from registration), and
 * outside production the development outbox at /dev/outbox, readable without signing in, so that a newcomer
 * registering or recovering an account finds the SMS code (production has no outbox: the route is not mounted).
 */
export function siteRoutes(services: Pick<Services, 'config' | 'notifier'>): Router {
  const router = new Router();
  router.get('/privacy', (ctx) => render(ctx, 'site/privacy.njk', { section: 'privacy' }));
  router.get('/terms', (ctx) => render(ctx, 'site/terms.njk', { section: 'terms' }));
  if (services.config.mode !== 'production') {
    router.get('/dev/outbox', async (ctx) => render(ctx, 'site/outbox.njk', { messages: await services.notifier.outbox(50) }));
  }
  return router;
}
