import * as client from 'openid-client';
import * as jose from 'jose';
import { startTestApp, type TestApp } from '../support/app.js';
import { TEST_SECRET } from '../support/fixtures.js';

describe('foundation over HTTP', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  it('when openid-client discovers the issuer, then it accepts the metadata', async () => {
    const config = await client.discovery(new URL(app.issuer), 'test-rp', TEST_SECRET, undefined, { execute: [client.allowInsecureRequests] });
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(app.issuer);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'phone', 'unit', 'offline_access', 'biz:continuing_education']));
    expect(metadata.introspection_endpoint).toBeDefined();
    expect(metadata.revocation_endpoint).toBeDefined();
    expect(metadata.end_session_endpoint).toBeDefined();
    expect(metadata.backchannel_logout_supported).toBe(true);
  });

  it('when the JWKS is fetched, then it publishes RS256, ES256 and EdDSA public keys only', async () => {
    const discovery = (await (await fetch(`${app.url}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
    const response = await fetch(discovery.jwks_uri);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: jose.JWK[] };
    expect(jwks.keys.map((key) => key.alg)).toEqual(['RS256', 'ES256', 'EdDSA']);
    for (const key of jwks.keys) {
      expect(key).not.toHaveProperty('d');
      expect(key.kid).toBe(await jose.calculateJwkThumbprint(key));
    }
  });

  it('when /healthz and /readyz are asked, then both answer 200 with the database reachable', async () => {
    const health = await fetch(`${app.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${app.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { database: 'ok' } });
  });

  it('when a page does not exist, then a 404 page in Chinese carries the request id and the security headers', async () => {
    const response = await fetch(`${app.url}/no-such-page`, { headers: { 'X-Request-Id': 'req-12345678' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBe('req-12345678');
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    const body = await response.text();
    expect(body).toContain('您访问的页面不存在。');
    expect(body).toContain('req-12345678');
  });

  it('when English is asked for, then the error page is in English', async () => {
    const response = await fetch(`${app.url}/no-such-page?ui_locales=en`);
    expect(await response.text()).toContain('The page you asked for does not exist.');
  });

  it('when an unregistered client starts a sign-in, then the error page explains it without internals', async () => {
    const response = await fetch(`${app.url}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=http://evil.test/cb`, { redirect: 'manual' });
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('业务系统未登记或已停用。');
    expect(body).not.toMatch(/at .*\.js:\d+/);
  });
});
