import Router from '@koa/router';
import { routesOnProviderPaths } from '../../src/app.js';

/**
 * The provider's token and authorization endpoints skip our routers (issue #15, Q-P1/Q-P2: CPU per request), so a
 * route of ours on one of their paths could never be reached: the start refuses such a route, naming it.
 */
describe('routes on the paths the provider answers alone', () => {
  const exact = new Set(['/token', '/auth']);

  it('when a router has a route on a provider endpoint or under the authorization resume, then it is named', () => {
    const router = new Router();
    router.get('/auth/:uid/extra', (ctx) => void (ctx.body = 'x'));
    router.post('/token', (ctx) => void (ctx.body = 'x'));
    router.get('/account', (ctx) => void (ctx.body = 'x'));
    expect(routesOnProviderPaths([router], exact, '/auth/')).toEqual(['/auth/:uid/extra', '/token']);
  });

  it('when the routes only share a prefix of a name (/authority, /tokens), then none is named', () => {
    const router = new Router();
    router.get('/authority', (ctx) => void (ctx.body = 'x'));
    router.get('/tokens', (ctx) => void (ctx.body = 'x'));
    expect(routesOnProviderPaths([router], exact, '/auth/')).toEqual([]);
  });
});
