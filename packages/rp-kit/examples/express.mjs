// A business system on Express: people sign in with the provider (openid-client, authorization code + PKCE), the
// pages are guarded by the ID-token session guard, the API by the access-token guard, and the provider's
// back-channel logout ends local sessions at once.
//
//   ISSUER=https://id.example.gov.cn CLIENT_ID=ce-portal CLIENT_SECRET=… RESOURCE=https://ce.example.gov.cn/api \
//   BASE_URL=http://127.0.0.1:4001 PORT=4001 node express.mjs
//
// Register BASE_URL/callback as redirect URI and BASE_URL/backchannel-logout as backchannel_logout_uri.
import crypto from 'node:crypto';
import express from 'express';
import * as client from 'openid-client';
import { createVerifier, expressGuard, expressSession, logoutEndpoint, requestIdentity, requestSession, SessionRevocations } from '@unit-oidc/rp-kit';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, RESOURCE, BASE_URL } = process.env;
const PORT = Number(process.env.PORT ?? 0);
const SCOPE = process.env.SCOPE ?? 'openid profile unit biz:continuing_education';
const BUSINESS_SCOPE = SCOPE.split(' ').find((scope) => scope.startsWith('biz:'));

const verifier = createVerifier({ issuer: ISSUER, audience: RESOURCE, clientId: CLIENT_ID });
const revocations = new SessionRevocations();
const oidc = await client.discovery(new URL(ISSUER), CLIENT_ID, CLIENT_SECRET, undefined, ISSUER.startsWith('http://') ? { execute: [client.allowInsecureRequests] } : undefined);

/** Server-side sessions; the cookie holds a random id only. */
const sessions = new Map();
const sessionId = (req) => /(?:^|;\s*)rp_session=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '')?.[1];
const cookie = (id) => `rp_session=${id}; Path=/; HttpOnly; SameSite=Lax${BASE_URL.startsWith('https:') ? '; Secure' : ''}`;

const app = express();

app.get('/login', async (req, res) => {
  const id = crypto.randomBytes(32).toString('base64url');
  const pending = { state: client.randomState(), nonce: client.randomNonce(), verifier: client.randomPKCECodeVerifier() };
  const returnTo = typeof req.query.return_to === 'string' && /^\/(?![/\\])/.test(req.query.return_to) ? req.query.return_to : '/';
  sessions.set(id, { pending: { ...pending, returnTo } });
  const url = client.buildAuthorizationUrl(oidc, {
    redirect_uri: `${BASE_URL}/callback`,
    scope: SCOPE,
    resource: RESOURCE,
    login_as: 'unit',
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: await client.calculatePKCECodeChallenge(pending.verifier),
    code_challenge_method: 'S256',
  });
  res.setHeader('set-cookie', cookie(id)).redirect(303, url.href);
});

app.get('/callback', async (req, res) => {
  const id = sessionId(req);
  const pending = id ? sessions.get(id)?.pending : undefined;
  if (!pending) return res.status(400).send('the sign-in expired, please sign in again');
  sessions.delete(id);
  try {
    const tokens = await client.authorizationCodeGrant(
      oidc,
      new URL(req.originalUrl, BASE_URL),
      { pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce },
      { resource: RESOURCE },
    );
    // The kit checks the ID token's signature too (the token endpoint response alone is not signed proof).
    const identity = await verifier.verifyIdToken(tokens.id_token, { nonce: pending.nonce });
    const fresh = crypto.randomBytes(32).toString('base64url'); // a new session id at sign-in (fixation)
    sessions.set(fresh, { idToken: tokens.id_token, accessToken: tokens.access_token, sid: identity.sessionId, sub: identity.subject });
    res.setHeader('set-cookie', cookie(fresh)).redirect(303, pending.returnTo);
  } catch (error) {
    res.status(502).send(`the sign-in failed: ${error.code ?? error.message}`);
  }
});

const signedIn = expressSession(verifier, { idToken: (req) => sessions.get(sessionId(req))?.idToken, loginUrl: '/login', unit: true, revocations });

app.get('/', signedIn, (req, res) => {
  const { subject, unit, role, scopes } = requestSession(req);
  res.json({ subject, unit: unit ? { id: unit.id, name: unit.name, verified: unit.verified } : null, role, scopes });
});

// The page calls its own API with the session's access token (a real RP would do this from the browser or a BFF).
app.get('/records', signedIn, async (req, res) => {
  const answer = await fetch(`${BASE_URL}/api/records`, { headers: { authorization: `Bearer ${sessions.get(sessionId(req)).accessToken}` } });
  res.status(answer.status).json(await answer.json());
});

app.get('/api/records', expressGuard(verifier, { unit: true, scopes: BUSINESS_SCOPE ? [BUSINESS_SCOPE] : [], realm: RESOURCE }), (req, res) => {
  const { subject, unit, role, scopes } = requestIdentity(req);
  res.json({ framework: 'express', subject, unit: unit.id, role, scopes });
});

app.post(
  '/backchannel-logout',
  logoutEndpoint(verifier, (notice) => {
    revocations.revoke(notice); // the guard refuses that session even if a copy of its ID token is replayed
    for (const [id, session] of sessions) {
      if (notice.sessionId ? session.sid === notice.sessionId : session.sub === notice.subject) sessions.delete(id);
    }
  }),
);

const server = app.listen(PORT, process.env.HOST ?? '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
