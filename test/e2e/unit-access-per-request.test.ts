import { jest } from '@jest/globals';
import * as jose from 'jose';
import type * as client from 'openid-client';
import { requestUnitAccess } from '../../src/oidc/accounts.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson } from '../support/people.js';
import { discoverWith } from '../support/rp.js';
import { bindHandler, createUnit } from '../support/units.js';
import { ALL_BUSINESS_SCOPES, refresh, signInAsUnit } from '../support/unit-flows.js';

const CE = 'biz:continuing_education';
const CE_API = 'https://ce.rp.test/api';

/**
 * Issue #13: a token request's unit access is computed once, by a memoised function each provider hook calls
 * (findAccount, the resource server's scope, the JWT access token's claims), not handed from one hook to the next.
 */
describe('unit access, once per request (C-T4, C-T5)', () => {
  let app: TestApp;
  let rp: client.Configuration;
  beforeAll(async () => {
    app = await startTestApp({ clients: testClientsFile([testClient({ scopes: ['openid', 'profile', 'offline_access', 'unit', ...ALL_BUSINESS_SCOPES] })]) });
    rp = await discoverWith(app.issuer, 'test-rp', 'client_secret_basic');
  });
  afterAll(() => app.close());

  it('when a refresh asks for a business API, then the grant link is read once and the JWT carries the unit and its scope', async () => {
    const services = app.app.services;
    const contact = await createPerson(services, { verified: true });
    const unit = await createUnit(services, contact, { verified: true });
    const person = await createPerson(services, { verified: true });
    await bindHandler(services, unit, person, [CE]);
    const { tokens } = await signInAsUnit(rp, app.url, person, unit.id, { scope: `openid unit offline_access ${CE}`, resource: CE_API });
    const reads = jest.spyOn(services.unitGrants, 'forGrant');
    try {
      const { tokens: refreshed } = await refresh(rp, tokens.refresh_token!, { resource: CE_API });
      expect(reads).toHaveBeenCalledTimes(1);
      expect(jose.decodeJwt(refreshed.access_token)).toMatchObject({ aud: CE_API, unit_id: unit.id, unit_role: 'handler', scope: CE });
    } finally {
      reads.mockRestore();
    }
  });

  it('when the same request asks twice, then it is computed once; another request computes its own', async () => {
    const services = app.app.services;
    const reads = jest.spyOn(services.unitGrants, 'forGrant');
    try {
      const request = {};
      const personId = '6f1c2b4e-8a2d-4c1e-9f00-1234567890ab';
      const first = requestUnitAccess(request, services, personId, 'no-such-grant');
      expect(requestUnitAccess(request, services, personId, 'no-such-grant')).toBe(first);
      expect(await first).toBeUndefined();
      await requestUnitAccess({}, services, personId, 'no-such-grant');
      expect(reads).toHaveBeenCalledTimes(2);
    } finally {
      reads.mockRestore();
    }
  });
});
