// A business system's API on plain node:http, no framework: `protect` runs the handler only for a request whose
// access token meets the requirements and answers everything else per RFC 6750.
//
//   ISSUER=https://id.example.gov.cn RESOURCE=https://ce.example.gov.cn/api PORT=4003 node node-http.mjs
import http from 'node:http';
import { createVerifier, protect } from '@unit-oidc/rp-kit';

const { ISSUER, RESOURCE } = process.env;
const SCOPE = process.env.BUSINESS_SCOPE ?? 'biz:continuing_education';
const verifier = createVerifier({ issuer: ISSUER, audience: RESOURCE });

const server = http.createServer(
  protect(
    verifier,
    { unit: true, scopes: [SCOPE], realm: RESOURCE },
    (_req, res, identity) => {
      const { subject, unit, role, scopes } = identity;
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify({ framework: 'node:http', subject, unit: unit.id, role, scopes }));
    },
    (error) => console.error(error),
  ),
);

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
