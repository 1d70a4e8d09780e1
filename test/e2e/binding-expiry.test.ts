import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { discover } from '../support/rp.js';
import { bindHandler, createUnit } from '../support/units.js';
import { introspect, signInAsUnit, startLogoutReceiver, tryRefresh, unitClientsFile, verifyLogoutToken, type LogoutReceiver } from '../support/unit-flows.js';

/** R-B6, S-56, S-57: expiry and unbinding revoke inside their transaction and write the RPs' logouts as jobs. */
describe('revocation inside the state change (R-B4, R-B6, S-56, S-57)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let logout: LogoutReceiver;
  let zhangsan: TestPerson;
  const CE = 'biz:continuing_education';

  beforeAll(async () => {
    logout = await startLogoutReceiver();
    app = await startTestApp({ clients: unitClientsFile({ backchannelLogoutUri: logout.uri }) });
    config = await discover(app.issuer);
    zhangsan = await createPerson(app.app.services, { verified: true, legalName: '张三' });
  }, 120_000);
  afterAll(async () => {
    await app?.close();
    await logout?.close();
  });
  beforeEach(async () => {
    await logout.quiet(0);
  });

  async function handlerSignedIn() {
    const services = app.app.services;
    const handler = await createPerson(services, { verified: true, legalName: '李四' });
    const unit = await createUnit(services, zhangsan, { verified: true, name: `单位${Math.random().toString(36).slice(2, 8)}` });
    const bindingId = await bindHandler(services, unit, handler, [CE]);
    const { tokens } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    return { handler, unit, bindingId, tokens };
  }

  const expire = (bindingId: string) => app.db.query("UPDATE binding SET valid_until = now() - interval '1 second' WHERE id = $1", [bindingId]);

  it('R-B6 when a binding expires, is extended and expires again, then each expiry revokes the tokens of its time and logs the RP out', async () => {
    const { handler, unit, bindingId, tokens } = await handlerSignedIn();
    await expire(bindingId);
    expect(await app.app.services.bindings.processExpired()).toBe(1);
    expect(await tryRefresh(config, tokens.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect(await verifyLogoutToken(await logout.next(), app.issuer, 'test-rp')).toMatchObject({ sub: handler.id });
    expect(await app.app.services.bindings.processExpired()).toBe(0);

    // A new validity period re-arms the expiry.
    const nextYear = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString().slice(0, 10);
    await app.app.services.bindings.setScopes(unit.id, bindingId, [CE], undefined, nextYear, { actor: { type: 'unit', id: unit.id } });
    const { rows } = await app.db.query<{ expiry_processed_at: Date | null }>('SELECT expiry_processed_at FROM binding WHERE id = $1', [bindingId]);
    expect(rows).toEqual([{ expiry_processed_at: null }]);
    const { tokens: again } = await signInAsUnit(config, app.url, handler, unit.id, { scope: `openid profile unit ${CE}` });
    expect((await introspect(config, again.access_token)).active).toBe(true);
    await expire(bindingId);
    expect(await app.app.services.bindings.processExpired()).toBe(1);
    expect(await tryRefresh(config, again.refresh_token!)).toMatchObject({ ok: false, error: 'invalid_grant' });
    expect((await introspect(config, again.access_token)).active).toBe(false);
    expect(await verifyLogoutToken(await logout.next(), app.issuer, 'test-rp')).toMatchObject({ sub: handler.id, sid: (again.claims() as { sid?: string }).sid });
  });

  it('S-56 when the transaction of an unbind rolls back, then no token is revoked and no logout job exists; when it commits, both happen together', async () => {
    const { unit, bindingId, tokens } = await handlerSignedIn();
    const jobs = async () => Number((await app.db.query<{ n: string }>("SELECT count(*) AS n FROM job WHERE kind = 'backchannel_logout'")).rows[0]!.n);
    const before = await jobs();
    await app.db.ambient(() => app.app.services.bindings.unbind(unit.id, bindingId, { actor: { type: 'unit', id: unit.id } }), { commitIf: () => false });
    expect(await jobs()).toBe(before);
    expect((await introspect(config, tokens.access_token)).active).toBe(true);
    expect(await logout.quiet(300)).toBe(0);

    await app.app.services.bindings.unbind(unit.id, bindingId, { actor: { type: 'unit', id: unit.id } });
    expect(await jobs()).toBe(before + 1);
    expect((await introspect(config, tokens.access_token)).active).toBe(false);
    await logout.next();
  });
});
