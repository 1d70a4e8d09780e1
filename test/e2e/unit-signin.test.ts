import * as client from 'openid-client';
import * as jose from 'jose';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';

describe('sign in as a unit (C-UI2, C-T2–C-T5)', () => {
  let app: TestApp;
  let config: client.Configuration;
  let contact: TestPerson;
  let handler: TestPerson;
  let unit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp();
    config = await discover(app.issuer);
    contact = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    handler = await createPerson(app.app.services, { verified: true, legalName: '李四' });
    unit = await createUnit(app.app.services, contact, { name: '示例科技有限公司', verified: true });
    await bindHandler(app.app.services, unit, handler, ['biz:continuing_education']);
  });
  afterAll(() => app.close());

  const scope = 'openid profile unit biz:continuing_education';

  it('when lisi ticks 以单位身份登录 and picks the unit, then ID token, userinfo and a JWT access token carry the unit', async () => {
    const browser = new Browser(app.url);
    const resource = 'https://ce.rp.test/api';
    const authorization = await authorizationUrl(config, { scope, resource });
    const login = await browser.get(authorization.url.toString());
    expect(Browser.text(login)).toContain('以单位身份登录');
    const picker = await browser.submit(login, 'form#person-login', { account: handler.loginName, password: handler.password, unitMode: '1' });
    expect(Browser.text(picker)).toContain('使用选中的单位账号登录');
    expect(Browser.text(picker)).toContain('示例科技有限公司');
    const done = await browser.submit(picker, 'form#select-unit', { unitId: unit.id });
    const tokens = await redeem(config, authorization, callbackOf(done));
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      sub: handler.id,
      unit_id: unit.id,
      unit_name: '示例科技有限公司',
      unit_cert_type: 'uscc',
      unit_cert_no: unit.certNo,
      unit_verified: true,
      unit_role: 'handler',
      unit_scopes: ['biz:continuing_education'],
    });
    expect(tokens.scope?.split(' ')).toContain('biz:continuing_education');
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, handler.id);
    expect(userinfo).toMatchObject({ unit_id: unit.id, unit_role: 'handler', unit_scopes: ['biz:continuing_education'] });

    const jwtTokens = await client.refreshTokenGrant(config, tokens.refresh_token!, { resource }).catch((error: { cause?: unknown }) => {
      throw new Error(JSON.stringify(error.cause));
    });
    const jwks = jose.createRemoteJWKSet(new URL(`${app.issuer}/jwks`));
    const { payload, protectedHeader } = await jose.jwtVerify(jwtTokens.access_token, jwks, { issuer: app.issuer, audience: resource, typ: 'at+jwt' });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toMatchObject({ sub: handler.id, unit_id: unit.id, unit_role: 'handler', unit_verified: true, scope: 'biz:continuing_education' });
  });

  it('S-43 when the same person signs in without the checkbox, then no unit_* claim appears', async () => {
    const browser = new Browser(app.url);
    const authorization = await authorizationUrl(config, { scope });
    const login = await browser.get(authorization.url.toString());
    const done = await browser.submit(login, 'form#person-login', { account: handler.loginName, password: handler.password });
    const tokens = await redeem(config, authorization, callbackOf(done));
    expect(Object.keys(tokens.claims()!).filter((key) => key.startsWith('unit_'))).toEqual([]);
    expect(tokens.scope?.split(' ')).not.toContain('biz:continuing_education');
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, handler.id);
    expect(Object.keys(userinfo).filter((key) => key.startsWith('unit_'))).toEqual([]);
  });
});
