import { Router } from '@koa/router';
import type { Database } from '../db/database.js';

/**
 * `/healthz`: the process is alive. `/readyz`: it can serve, i.e. the database answers and the process is not
 * draining before a shutdown (then load balancers stop sending it new requests).
 */
export function healthRoutes(db: Database, draining: () => boolean = () => false): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (draining()) {
      ctx.status = 503;
      ctx.body = { status: 'draining', checks: { shutdown: 'draining' } };
      return;
    }
    const database = await db.ping(2000);
    ctx.status = database ? 200 : 503;
    ctx.body = { status: database ? 'ready' : 'unavailable', checks: { database: database ? 'ok' : 'unreachable' } };
  });
  return router;
}
