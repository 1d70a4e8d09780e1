// A business system's API on Koa: the access-token guard (RFC 9068 JWTs of the provider, RFC 6750 answers) and
// the back-channel logout endpoint.
//
//   ISSUER=https://id.example.gov.cn CLIENT_ID=ce-portal RESOURCE=https://ce.example.gov.cn/api PORT=4002 node koa.mjs
import Koa from 'koa';
import { createVerifier, identityOf, koaLogoutEndpoint, requireUnit } from '@unit-oidc/rp-kit';

const { ISSUER, CLIENT_ID, RESOURCE } = process.env;
const SCOPE = process.env.BUSINESS_SCOPE ?? 'biz:continuing_education';
const verifier = createVerifier({ issuer: ISSUER, audience: RESOURCE, clientId: CLIENT_ID });

const records = requireUnit(verifier, { scopes: [SCOPE], realm: RESOURCE });
const logout = koaLogoutEndpoint(verifier, (notice) => {
  console.log(`back-channel logout of sid ${notice.sessionId ?? '-'} sub ${notice.subject ?? '-'}`);
});

const app = new Koa();
app.use(async (ctx, next) => {
  if (ctx.path === '/api/records') {
    return records(ctx, async () => {
      const { subject, unit, role, scopes } = identityOf(ctx);
      ctx.body = { framework: 'koa', subject, unit: unit.id, role, scopes };
    });
  }
  if (ctx.path === '/backchannel-logout') return logout(ctx);
  return next();
});

const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
