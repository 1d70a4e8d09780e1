import type * as client from 'openid-client';
import * as jose from 'jose';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, discover } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import {
  createOperator,
  introspect,
  issueCode,
  pickerChoices,
  refresh,
  scopesOf,
  signInAsUnit,
  startLogoutReceiver,
  tryRefresh,
  unitClaimsOf,
  unitClientsFile,
  userinfo,
  verifyLogoutToken,
  type LogoutReceiver,
  type Tokens,
} from '../support/unit-flows.js';

/**
 * What happens to tokens already issued for a unit when the unit's side changes: unbinding (S-41, R-B4),
 * narrowed permissions (S-42, R-B3), verification and renaming (C-T5, R-U4, R-U5), expiry of the binding and
 * disabling of the unit or the person (R-B6). The RP is openid-client; its back-channel logout endpoint is a
 * test server on 127.0.0.1 registered for test-rp.
 */
describe('unit access changes after sign-in (S-41, S-42, R-B3, R-B4, R-B6, C-T5)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let logout: LogoutReceiver;
  let zhangsan: TestPerson;
  let operatorId: string;

  const CE = 'biz:continuing_education';
  const CSE = 'biz:civil_service_exam';
  const HALL = 'biz:online_service_hall';
  const SI = 'biz:social_insurance';

  beforeAll(async () => {
    logout = await startLogoutReceiver();
    app = await startTestApp({ clients: unitClientsFile({ backchannelLogoutUri: logout.uri }) });
    config = await discover(app.issuer);
    zhangsan = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    operatorId = await createOperator(app.app.services);
  }, 120_000); // the app, keys and argon2 hashes take a while on a loaded machine
  afterAll(async () => {
    await app?.close();
    await logout?.close();
  });
  beforeEach(async () => {
    await logout.quiet(0); // requests of earlier tests are not this test's
  });

  interface Setup {
    handler: TestPerson;
    unit: TestUnit;
    bindingId: string;
  }

  async function handlerOf(scopes: string[], options: { verified?: boolean; name?: string } = {}): Promise<Setup> {
    const services = app.app.services;
    const handler = await createPerson(services, { verified: true, legalName: '李四' });
    const unit = await createUnit(services, zhangsan, { verified: options.verified ?? true, name: options.name ?? `单位${Math.random().toString(36).slice(2, 8)}` });
    const bindingId = await bindHandler(services, unit, handler, scopes);
    return { handler, unit, bindingId };
  }

  const unitCtx = (unit: TestUnit) => ({ actor: { type: 'unit' as const, id: unit.id } });
  const operatorCtx = () => ({ actor: { type: 'operator' as const, id: operatorId } });

  /** Everything an RP may still try with what it holds; all of it must fail. */
  async function expectNoAccess(tokens: Tokens): Promise<void> {
    const refreshed = await tryRefresh(config, tokens.refresh_token!);
    expect(refreshed).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect((await introspect(config, tokens.access_token)).active).toBe(false);
    expect((await introspect(config, tokens.refresh_token!)).active).toBe(false);
    expect((await userinfo(config, tokens.access_token)).status).toBe(401);
  }

  async function expectLogoutFor(handler: TestPerson, tokens: Tokens): Promise<void> {
    const request = await logout.next();
    const payload = await verifyLogoutToken(request, app.issuer, 'test-rp');
    const idToken = tokens.claims() as { sid?: string };
    expect(idToken.sid).toBeTruthy();
    expect(payload).toMatchObject({ sub: handler.id, sid: idToken.sid });
  }

  it.each([
    ['session-bound tokens', {}],
    ['offline_access tokens (prompt=consent)', { offline: true }],
  ])(
    'S-41 R-B4 when the unit unbinds the handler (%s), then refresh gives invalid_grant, introspection inactive, userinfo 401, the RP gets a back-channel logout and the picker no longer offers the unit',
    async (_what, variant: { offline?: boolean }) => {
      const { handler, unit, bindingId } = await handlerOf([CE]);
      const params: Record<string, string> = variant.offline ? { scope: `openid profile unit offline_access ${CE}`, prompt: 'consent' } : { scope: `openid profile unit ${CE}` };
      const { browser, tokens } = await signInAsUnit(config, app.url, handler, unit.id, params);
      if (variant.offline) expect(scopesOf(tokens)).toContain('offline_access');
      expect(tokens.claims()).toMatchObject({ sub: handler.id, unit_id: unit.id });
      expect(tokens.refresh_token).toBeTruthy();
      const before = await introspect(config, tokens.access_token);
      expect(before).toMatchObject({ active: true, sub: handler.id, unit_id: unit.id, unit_role: 'handler' });
      expect((await userinfo(config, tokens.access_token)).status).toBe(200);

      await app.app.services.bindings.unbind(unit.id, bindingId, unitCtx(unit));

      await expectNoAccess(tokens);
      await expectLogoutFor(handler, tokens);

      // In the same SSO session the unit is gone from the picker.
      const again = await authorizationUrl(config, { scope: `openid profile unit ${CE}`, login_as: 'unit' });
      const picker = await browser.get(again.url.toString());
      expect(picker.html.querySelector('input[type=password]')).toBeNull();
      expect(pickerChoices(picker).unitIds).toEqual([]);
      expect(Browser.text(picker)).not.toContain(unit.name);
      expect(Browser.text(picker)).toContain('您目前没有可代表的单位');
    },
  );

  it('S-41 when the binding ends without the revocation having run (e.g. written by another instance), then refresh, introspection and userinfo still refuse: the binding is re-checked', async () => {
    const { handler, unit, bindingId } = await handlerOf([CE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    await app.db.query("UPDATE binding SET status = 'unbound', ended_at = now() WHERE id = $1", [bindingId]);
    await expectNoAccess(tokens);
  });

  it('S-42 R-B3 when the unit narrows the permissions, then the issued access token turns inactive and the next refresh carries the narrower set in scope and unit_scopes', async () => {
    const { handler, unit, bindingId } = await handlerOf([CE, CSE]);
    const scope = `openid profile unit ${CE} ${CSE}`;
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope });
    expect(scopesOf(tokens)).toEqual(expect.arrayContaining([CE, CSE]));
    expect(tokens.claims()).toMatchObject({ unit_scopes: expect.arrayContaining([CE, CSE]) });
    expect(await introspect(config, tokens.access_token)).toMatchObject({ active: true });

    await app.app.services.bindings.setScopes(unit.id, bindingId, [CE], undefined, undefined, unitCtx(unit));

    expect((await introspect(config, tokens.access_token)).active).toBe(false);
    const narrowed = await refresh(config, tokens.refresh_token!);
    expect(scopesOf(narrowed.tokens)).toContain(CE);
    expect(scopesOf(narrowed.tokens)).not.toContain(CSE);
    expect(unitClaimsOf(narrowed.claims)).toMatchObject({ unit_id: unit.id, unit_scopes: [CE] });
    const info = await userinfo(config, narrowed.tokens.access_token);
    expect(info).toMatchObject({ status: 200, body: { unit_scopes: [CE] } });
    const state = await introspect(config, narrowed.tokens.access_token);
    expect(state).toMatchObject({ active: true, unit_id: unit.id, unit_scopes: [CE] });
    expect(String(state.scope).split(' ')).not.toContain(CSE);

    // Asking the refresh explicitly for the withdrawn scope does not bring it back.
    const asked = await tryRefresh(config, narrowed.tokens.refresh_token!, { scope: `openid unit ${CE} ${CSE}` });
    let latest = narrowed.tokens.refresh_token!;
    if (asked.ok) {
      expect(scopesOf(asked.tokens)).not.toContain(CSE);
      expect(unitClaimsOf(asked.claims).unit_scopes).toEqual([CE]);
      latest = asked.tokens.refresh_token!;
    } else {
      expect(asked.error).toBe('invalid_scope');
    }

    // C-T4: a JWT access token for the withdrawn business's API does not carry it either.
    const forApi = await tryRefresh(config, latest, { resource: 'https://cse.rp.test/api' });
    if (forApi.ok) {
      const payload = jose.decodeJwt(forApi.tokens.access_token);
      expect(String(payload.scope ?? '').split(' ')).not.toContain(CSE);
    } else {
      expect(['invalid_target', 'invalid_scope', 'invalid_grant']).toContain(forApi.error);
    }
  });

  it('S-42 when the handler is granted fewer business scopes than the RP asks for, then the tokens never carry more than the current set', async () => {
    const { handler, unit } = await handlerOf([CE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE} ${CSE} ${HALL}` });
    expect(scopesOf(tokens).filter((scope) => scope.startsWith('biz:'))).toEqual([CE]);
    expect(tokens.claims()).toMatchObject({ unit_scopes: [CE] });
    const state = await introspect(config, tokens.access_token);
    expect(
      String(state.scope)
        .split(' ')
        .filter((scope) => scope.startsWith('biz:')),
    ).toEqual([CE]);
  });

  it('S-42 R-B3 when the unit widens the permissions again, then a scope the RP asked for comes back at the next refresh but a scope never requested or consented does not appear', async () => {
    const { handler, unit, bindingId } = await handlerOf([CE, CSE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE} ${CSE}` });
    await app.app.services.bindings.setScopes(unit.id, bindingId, [CE], undefined, undefined, unitCtx(unit));
    const narrowed = await refresh(config, tokens.refresh_token!);
    expect(scopesOf(narrowed.tokens)).not.toContain(CSE);

    await app.app.services.bindings.setScopes(unit.id, bindingId, [CE, CSE, HALL], undefined, undefined, unitCtx(unit));
    const widened = await refresh(config, narrowed.tokens.refresh_token!);
    expect(scopesOf(widened.tokens)).toEqual(expect.arrayContaining([CE, CSE]));
    expect(scopesOf(widened.tokens)).not.toContain(HALL);
    expect(unitClaimsOf(widened.claims).unit_scopes).toEqual(expect.arrayContaining([CE, CSE]));
    expect(unitClaimsOf(widened.claims).unit_scopes).not.toContain(HALL);
    const info = await userinfo(config, widened.tokens.access_token);
    expect(info.body.unit_scopes).not.toContain(HALL);

    // Asking the refresh for the scope never consented is refused, not granted.
    const asked = await tryRefresh(config, widened.tokens.refresh_token!, { scope: `openid unit ${CE} ${HALL}` });
    if (asked.ok) expect(scopesOf(asked.tokens)).not.toContain(HALL);
    else expect(asked.error).toBe('invalid_scope');
  });

  it('C-T5 R-U5 when an unverified unit is verified with a counter code after sign-in, then the next refresh has unit_verified=true and the business that requires verification', async () => {
    const { handler, unit } = await handlerOf([CE, SI], { verified: false });
    const scope = `openid profile unit ${CE} ${SI}`;
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope });
    expect(tokens.claims()).toMatchObject({ unit_id: unit.id, unit_verified: false, unit_scopes: [CE] });
    expect(scopesOf(tokens)).toContain(CE);
    expect(scopesOf(tokens)).not.toContain(SI);

    const code = await issueCode(app.app.services, operatorId, unit.id);
    await app.app.services.verification.redeem(unit.id, code, unitCtx(unit));

    const after = await refresh(config, tokens.refresh_token!);
    expect(unitClaimsOf(after.claims)).toMatchObject({ unit_id: unit.id, unit_verified: true });
    expect(unitClaimsOf(after.claims).unit_scopes).toEqual(expect.arrayContaining([CE, SI]));
    expect(scopesOf(after.tokens)).toEqual(expect.arrayContaining([CE, SI]));
    const info = await userinfo(config, after.tokens.access_token);
    expect(info.body).toMatchObject({ unit_verified: true });
    expect(info.body.unit_scopes).toEqual(expect.arrayContaining([CE, SI]));
  });

  it('C-T5 R-U4 when a verified unit changes its name, then the next refresh and userinfo carry the new unit_name without signing out', async () => {
    const { handler, unit } = await handlerOf([CE], { name: '旧名称有限公司' });
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    expect(tokens.claims()).toMatchObject({ unit_name: '旧名称有限公司' });

    await app.app.services.units.changeVerifiedName(unit.id, '新名称有限公司', unitCtx(unit));

    const after = await refresh(config, tokens.refresh_token!);
    expect(unitClaimsOf(after.claims)).toMatchObject({ unit_id: unit.id, unit_name: '新名称有限公司' });
    const info = await userinfo(config, after.tokens.access_token);
    expect(info.body).toMatchObject({ unit_name: '新名称有限公司' });
  });

  it('R-B6 when the binding passes its validity period, then refresh gives invalid_grant and introspection inactive at once, and the expiry sweep revokes the grant and notifies the RP', async () => {
    const { handler, unit, bindingId } = await handlerOf([CE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    await app.db.query("UPDATE binding SET valid_until = now() - interval '1 minute' WHERE id = $1", [bindingId]);

    await expectNoAccess(tokens);
    expect(await logout.quiet(200)).toBe(0); // the sweep has not run yet

    expect(await app.app.services.bindings.processExpired()).toBeGreaterThanOrEqual(1);
    await expectLogoutFor(handler, tokens);
    const { rows } = await app.db.query<{ count: string }>('SELECT count(*)::text AS count FROM grant_unit WHERE person_id = $1 AND unit_id = $2', [handler.id, unit.id]);
    expect(rows[0]?.count).toBe('0');
    await expectNoAccess(tokens);
    // A second sweep finds nothing more to do for it and sends nothing again.
    await app.app.services.bindings.processExpired();
    expect(await logout.quiet(200)).toBe(0);
  });

  it('R-B6 S-24 when an operator disables the unit, then refresh gives invalid_grant, introspection inactive, userinfo 401 and the RP gets a back-channel logout', async () => {
    const { handler, unit } = await handlerOf([CE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    await app.app.services.units.setStatus(unit.id, 'disabled', operatorCtx());
    await expectNoAccess(tokens);
    await expectLogoutFor(handler, tokens);
  });

  it('R-B6 S-24 when an operator disables the person, then refresh gives invalid_grant, introspection inactive, userinfo 401 and the RP gets a back-channel logout', async () => {
    const { handler, unit } = await handlerOf([CE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    await app.app.services.persons.setStatus(handler.id, 'disabled', operatorCtx());
    await expectNoAccess(tokens);
    await expectLogoutFor(handler, tokens);
  });

  it.each([
    ['the unit', "UPDATE unit SET status = 'disabled' WHERE id = $1", (setup: Setup) => setup.unit.id],
    ['the person', "UPDATE person SET status = 'disabled' WHERE id = $1", (setup: Setup) => setup.handler.id],
  ])('R-B6 when %s is disabled without the revocation having run, then no path gives tokens or claims any more', async (_what, sql, id) => {
    const setup = await handlerOf([CE]);
    const { tokens } = await signInAsUnit(config, app.url, setup.handler, setup.unit.id, { scope: `openid profile unit ${CE}` });
    await app.db.query(sql, [id(setup)]);
    await expectNoAccess(tokens);
  });
});
