import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { TEST_SECRET, testClient } from '../support/fixtures.js';
import { createPerson } from '../support/people.js';
import { discover } from '../support/rp.js';
import { listed, statementsOf, type SentStatement } from '../support/statements.js';
import { bindHandler, createUnit } from '../support/units.js';
import { introspect, openAndLogIn, pickerChoices, refresh, signInAsUnit, unitClientsFile, userinfo } from '../support/unit-flows.js';
import { Browser } from '../support/browser.js';
import { authorizationUrl } from '../support/rp.js';
import { basicAuthorization } from '../support/oauth.js';

/**
 * The statements each hot path sends (issue #15, Q-P2): counted, not timed. Claims still come from current data
 * at every issuance and introspection (C-T5): the unit, binding and person are read by every request.
 */
/**
 * Both kinds of unit token a relying party holds: one with offline_access, and one bound to the sign-in's session
 * (without offline_access the library checks, at every use, the session it expires with: read with the token).
 */
const TOKEN_KINDS = [
  ['with offline_access', 'offline_access '],
  ['bound to the session (no offline_access)', ''],
] as const;

const CE = 'biz:continuing_education';

/** The app with the unit clients and a client_credentials service, and no job poll in the background: every statement counted belongs to the request. */
async function startCounted(): Promise<{ app: TestApp; config: client.Configuration }> {
  const app = await startTestApp({
    clients: unitClientsFile({ more: [testClient({ client_id: 'service', client_secret: `${TEST_SECRET}-service`, grant_types: ['client_credentials'], scopes: [CE] })] }),
    env: { JOB_POLL_MS: '60000' },
  });
  return { app, config: await discover(app.issuer) };
}

describe.each(TOKEN_KINDS)('statements per request on the token endpoints (Q-P2, C-T5), a token %s', (_kind, offline) => {
  let app: TestApp;
  let config: client.Configuration;
  let tokens: { access: string; refresh: string };

  beforeAll(async () => {
    ({ app, config } = await startCounted());
    const contact = await createPerson(app.app.services, { verified: true });
    const unit = await createUnit(app.app.services, contact, { verified: true });
    const handler = await createPerson(app.app.services, { verified: true });
    await bindHandler(app.app.services, unit, handler, [CE]);
    const signIn = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${offline}${CE}`, prompt: 'consent' });
    tokens = { access: signIn.tokens.access_token, refresh: String(signIn.tokens.refresh_token) };
  });
  afterAll(() => app?.close());

  /** '' within the budget, else the statements sent (so that a failure shows them). */
  const overBudget = (statements: SentStatement[], budget: number) => (statements.length <= budget ? '' : listed(statements));
  const count = (statements: SentStatement[], pattern: RegExp) => statements.filter(({ sql }) => pattern.test(sql)).length;

  it('C-T5 when a unit access token is introspected without token_type_hint, then the answer comes from current data in few statements', async () => {
    const statements = await statementsOf(app.db, async () => {
      expect(await introspect(config, tokens.access)).toMatchObject({ active: true, unit_role: 'handler' });
    });
    // One lookup of the token for the three models it may be, which also reads the grant, the person, the
    // grant's unit link, the unit and the binding: all current (C-T5), nothing kept beyond this request.
    expect(count(statements, /FROM oidc_model o .*WHERE o\.model = ANY\(\$1\) AND o\.id = \$2/)).toBe(1);
    expect(count(statements, /JOIN grant_unit .*JOIN unit .*JOIN binding /)).toBe(1);
    expect(statements.filter(({ model }) => model === 'AccessToken' || model === 'RefreshToken' || model === 'ClientCredentials')).toEqual([]);
    expect(count(statements, /^BEGIN$/)).toBe(0);
    expect(overBudget(statements, 1)).toBe('');
  });

  it('C-T5 when a unit access token is introspected with token_type_hint, then it is one statement too', async () => {
    const statements = await statementsOf(app.db, async () => {
      expect(await client.tokenIntrospection(config, tokens.access, { token_type_hint: 'access_token' })).toMatchObject({ active: true, unit_role: 'handler' });
    });
    expect(overBudget(statements, 1)).toBe('');
  });

  it('C-T5 when the person is disabled between two introspections, then the next one answers inactive: nothing is kept across requests', async () => {
    const [personId] = (await app.db.query<{ account_id: string }>("SELECT account_id FROM oidc_model WHERE model = 'AccessToken' LIMIT 1")).rows.map((row) => row.account_id);
    expect(await introspect(config, tokens.access)).toMatchObject({ active: true });
    await app.db.query("UPDATE person SET status = 'disabled' WHERE id = $1", [personId]);
    try {
      expect(await introspect(config, tokens.access)).toMatchObject({ active: false });
    } finally {
      await app.db.query("UPDATE person SET status = 'active' WHERE id = $1", [personId]);
    }
    expect(await introspect(config, tokens.access)).toMatchObject({ active: true, unit_role: 'handler' });
  });

  it('C-T5 when the unit access token asks for userinfo, then the claims come from current data in one statement', async () => {
    const statements = await statementsOf(app.db, async () => {
      const answer = await userinfo(config, tokens.access);
      expect(answer).toMatchObject({ status: 200, body: { unit_role: 'handler' } });
    });
    expect(overBudget(statements, 1)).toBe('');
  });

  it('when a refresh token is rotated, then the request runs in one transaction', async () => {
    const statements = await statementsOf(app.db, async () => {
      const refreshed = await refresh(config, tokens.refresh);
      tokens = { access: refreshed.tokens.access_token, refresh: String(refreshed.tokens.refresh_token) };
    });
    // BEGIN, the token's lookup (with its grant, person, unit link, unit and binding, and the grant's lock), its
    // consumption, the successor and the access token saved together, COMMIT (issue #15).
    expect(overBudget(statements, 5)).toBe('');
    expect(count(statements, /^BEGIN$/)).toBe(1);
    expect(count(statements, /^COMMIT$/)).toBe(1);
  });

  it('C-T5 when the sign-in session has ended, then a session-bound token is inactive at its next introspection and one with offline_access is not', async () => {
    expect(await introspect(config, tokens.access)).toMatchObject({ active: true });
    // The session read with the token is the current one: once it is gone, a session-bound token is inactive; a
    // token with offline_access outlives it.
    const saved = await app.db.query<{ id: string; payload: unknown; expires_at: Date | null }>("SELECT id, payload, expires_at FROM oidc_model WHERE model = 'Session'");
    await app.db.query("DELETE FROM oidc_model WHERE model = 'Session'");
    try {
      expect(await introspect(config, tokens.access)).toMatchObject({ active: !!offline });
    } finally {
      for (const row of saved.rows) {
        await app.db.query("INSERT INTO oidc_model (model, id, payload, uid, expires_at) VALUES ('Session', $1, $2, $2::jsonb->>'uid', $3)", [
          row.id,
          JSON.stringify(row.payload),
          row.expires_at,
        ]);
      }
    }
    expect(await introspect(config, tokens.access)).toMatchObject({ active: true });
  });
});

describe('statements per request of client_credentials and the unit picker (Q-P2, Q-P6)', () => {
  let app: TestApp;
  let config: client.Configuration;

  beforeAll(async () => {
    ({ app, config } = await startCounted());
  });
  afterAll(() => app?.close());

  const overBudget = (statements: SentStatement[], budget: number) => (statements.length <= budget ? '' : listed(statements));
  const count = (statements: SentStatement[], pattern: RegExp) => statements.filter(({ sql }) => pattern.test(sql)).length;

  it('when a service asks for a client_credentials token, then the token is stored', async () => {
    const statements = await statementsOf(app.db, async () => {
      const response = await fetch(config.serverMetadata().token_endpoint!, {
        method: 'POST',
        headers: { authorization: basicAuthorization('service', `${TEST_SECRET}-service`), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      expect(response.status).toBe(200);
    });
    expect(count(statements, /^INSERT INTO oidc_model/)).toBe(1);
    // Its one statement alone: no BEGIN or COMMIT around a single write (issue #15).
    expect(overBudget(statements, 1)).toBe('');
  });

  it('Q-P1 when a handler signs in again for the same unit, then the whole flow stays within its statement budget and the grant is neither saved nor linked again', async () => {
    const services = app.app.services;
    const contact = await createPerson(services, { verified: true });
    const unit = await createUnit(services, contact, { verified: true });
    const handler = await createPerson(services, { verified: true });
    await bindHandler(services, unit, handler, [CE]);
    const params = { scope: `openid profile unit ${CE}` };
    const first = await signInAsUnit(config, app.url, handler, unit.id, params);
    let again: Awaited<ReturnType<typeof signInAsUnit>> | undefined;
    // authorize → login page → password with 以单位身份登录 → picker → unit → code → token, in a new browser.
    const statements = await statementsOf(app.db, async () => {
      again = await signInAsUnit(config, app.url, handler, unit.id, params);
    });
    expect(again?.tokens.id_token).toBeDefined();
    // The same grant (found by its link to this client, person, unit and binding), holding what is asked already.
    const grantOf = async (accessToken: string) =>
      (await app.db.query<{ grant_id: string }>("SELECT grant_id FROM oidc_model WHERE model = 'AccessToken' AND id = $1", [accessToken])).rows[0]?.grant_id;
    const grantId = await grantOf(first.tokens.access_token);
    expect(grantId).toBeDefined();
    expect(await grantOf(again!.tokens.access_token)).toBe(grantId);
    expect(statements.filter(({ model, sql }) => model === 'Grant' && /^INSERT/.test(sql))).toEqual([]);
    expect(count(statements, /^INSERT INTO grant_unit/)).toBe(0);
    expect(count(statements, /FROM grant_unit WHERE grant_id = \$1/)).toBe(0);
    // The sign-in throttle: the account's and the IP's attempts taken in one statement, the success in one.
    expect(count(statements, /rate_limit/)).toBe(2);
    expect(overBudget(statements, 40)).toBe('');
  });

  it('Q-P6 when a person bound to many units opens the unit picker, then the page sends as many statements as for a person with one unit', async () => {
    const services = app.app.services;
    /** The statements of re-reading the picker page of a person who is the contact of `units` units. */
    const pickerStatements = async (units: number) => {
      const person = await createPerson(services, { verified: true });
      for (let index = 0; index < units; index += 1) await createUnit(services, person, { verified: true });
      const browser = new Browser(app.url);
      const picker = await openAndLogIn(browser, await authorizationUrl(config, { scope: `openid profile unit ${CE}`, login_as: 'unit' }), person, true);
      expect(pickerChoices(picker).unitIds).toHaveLength(units);
      return statementsOf(app.db, async () => {
        const again = await browser.get(picker.url);
        expect(pickerChoices(again).unitIds).toHaveLength(units);
      });
    };
    const one = await pickerStatements(1);
    const many = await pickerStatements(6);
    expect(many.length === one.length ? '' : `1 unit: ${one.length}, 6 units: ${many.length}\n${listed(many)}`).toBe('');
  }, 120_000);
});
