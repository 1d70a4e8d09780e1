import { Router } from '@koa/router';
import type { Database } from '../db/database.js';

/** `/healthz`: the process is alive. `/readyz`: it can serve, i.e. the database answers. */
export function healthRoutes(db: Database): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const database = await db.ping(2000);
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ready' : 'unavailable', checks: { database: database ? 'ok' : 'unreachable' } };
  });
  return router;
}
