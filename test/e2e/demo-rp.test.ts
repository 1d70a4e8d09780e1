import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { startDemoRp, type RunningDemoRp } from '../../demo/rp-app.js';
import { demoSystem } from '../../demo/systems.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { freePort } from '../support/process.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { jobsSettled } from '../support/jobs.js';

/** The demo business systems (继续教育, 公务员考录, 网办平台) as real HTTP servers against the real provider. */

const SECRETS: Record<string, string> = {
  'ce-demo': `ce-${crypto.randomBytes(24).toString('base64url')}`,
  'cse-demo': `cse-${crypto.randomBytes(24).toString('base64url')}`,
  'hall-demo': `hall-${crypto.randomBytes(24).toString('base64url')}`,
};

function clientsFile(origins: Record<string, string>): Record<string, unknown> {
  const business = (code: string, zh: string, en: string, origin: string, requiresVerifiedUnit = false, page = '/') => ({
    code,
    name: { 'zh-CN': zh, en },
    requiresVerifiedUnit,
    portalUrl: `${origin}${page}`,
    resource: `${origin}/api`,
  });
  const rp = (clientId: string, zh: string, scopes: string[], businessCode: string) => ({
    client_id: clientId,
    client_secret: SECRETS[clientId],
    client_name: { 'zh-CN': zh },
    redirect_uris: [`${origins[clientId]}/callback`],
    post_logout_redirect_uris: [`${origins[clientId]}/`],
    backchannel_logout_uri: `${origins[clientId]}/backchannel-logout`,
    scopes: ['openid', 'profile', 'offline_access', 'unit', ...scopes],
    first_party: true,
    business: businessCode,
  });
  return {
    businesses: [
      business('continuing_education', '继续教育', 'Continuing education', origins['ce-demo']!),
      business('civil_service_exam', '公务员考录', 'Civil-servant recruitment', origins['cse-demo']!),
      business('online_service_hall', '网办平台', 'Online service hall', origins['hall-demo']!),
      business('social_insurance', '社会保险', 'Social insurance', origins['hall-demo']!, true, '/social-insurance'),
    ],
    clients: [
      rp('ce-demo', '继续教育', ['biz:continuing_education'], 'continuing_education'),
      rp('cse-demo', '公务员考录', ['biz:civil_service_exam'], 'civil_service_exam'),
      rp('hall-demo', '网办平台', ['biz:online_service_hall', 'biz:social_insurance'], 'online_service_hall'),
    ],
  };
}

describe('demo business systems (npm run demo) end to end', () => {
  let app: TestApp;
  const rps: Record<string, RunningDemoRp> = {};
  let handler: TestPerson;
  let examOnly: TestPerson;
  let unit: TestUnit;
  let otherUnit: TestUnit;

  beforeAll(async () => {
    const origins: Record<string, string> = {};
    for (const clientId of Object.keys(SECRETS)) origins[clientId] = `http://127.0.0.1:${await freePort()}`;
    app = await startTestApp({ clients: clientsFile(origins) });
    for (const clientId of Object.keys(SECRETS)) {
      rps[clientId] = await startDemoRp({
        system: demoSystem(clientId),
        issuer: app.issuer,
        clientId,
        clientSecret: SECRETS[clientId]!,
        redirectUri: `${origins[clientId]}/callback`,
        port: Number(new URL(origins[clientId]!).port),
      });
    }
    const contact = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    handler = await createPerson(app.app.services, { verified: true, legalName: '李四' });
    examOnly = await createPerson(app.app.services, { verified: true, legalName: '王五' });
    unit = await createUnit(app.app.services, contact, { name: '示例科技有限公司', verified: true });
    otherUnit = await createUnit(app.app.services, contact, { name: '示例教育中心', verified: false });
    await bindHandler(app.app.services, unit, handler, ['biz:continuing_education', 'biz:online_service_hall', 'biz:social_insurance']);
    await bindHandler(app.app.services, otherUnit, handler, ['biz:continuing_education']);
    await bindHandler(app.app.services, unit, examOnly, ['biz:civil_service_exam']);
  });
  afterAll(async () => {
    for (const rp of Object.values(rps)) await rp.close();
    await app?.close();
  });

  /** Opens an RP URL as a browser would and follows the redirects to wherever they lead (RP or provider). */
  async function open(browser: Browser, url: string): Promise<Page> {
    return browser.navigateAll(await browser.navigate(url));
  }

  /** Signs in at the provider's page (ticking 以单位身份登录 and picking `unitId` when given) and returns to the RP. */
  async function signIn(browser: Browser, start: string, person: TestPerson, unitId?: string): Promise<Page> {
    const login = await open(browser, start);
    expect(new URL(login.url).origin).toBe(app.issuer);
    let page = await browser.submit(login, 'form#person-login', { account: person.loginName, password: person.password, ...(unitId ? { unitMode: '1' } : {}) });
    if (unitId) {
      expect(Browser.text(page)).toContain('使用选中的单位账号登录');
      page = await browser.submit(page, 'form#select-unit', { unitId });
    }
    return browser.navigateAll(page);
  }

  it('when a handler with the permission signs in as the unit, then the page shows person and unit and the API call with the JWT access token succeeds', async () => {
    const ce = rps['ce-demo']!;
    const browser = new Browser(app.issuer);
    const home = await open(browser, `${ce.url}/`);
    expect(home.status).toBe(200);
    expect(Browser.text(home)).toContain('您尚未登录');

    const page = await signIn(browser, `${ce.url}/login?as=unit`, handler, unit.id);
    expect(page.url).toBe(`${ce.url}/`);
    expect(page.status).toBe(200);
    const text = Browser.text(page);
    expect(text).toContain('当前用户：李四');
    expect(text).toContain('代表单位：示例科技有限公司');
    expect(text).toContain(unit.certNo);
    expect(text).toContain('已实名认证');
    expect(text).toContain('经办人员');
    expect(text).toContain('本单位人员学时登记');
    expect(page.html.querySelectorAll('#business tbody tr')).toHaveLength(3);
    // What the API itself saw in the access token, rendered by the page.
    expect(page.html.querySelector('#api-unit')?.text).toBe(unit.id);
    expect(page.html.querySelector('#api-result')?.text).toContain('biz:continuing_education');
    expect(page.html.querySelector('#api-result')?.text).toContain(handler.id);
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");

    // The API is a resource server of its own: no token → RFC 6750 challenge.
    const api = await fetch(`${ce.localUrl}/api/continuing-education/records`);
    expect(api.status).toBe(401);
    expect(api.headers.get('www-authenticate')).toMatch(/^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/api"$/);

    // The session cookie holds only a random id.
    const cookies = await browser.jar.getCookies(`${ce.url}/`);
    const session = cookies.find((cookie) => cookie.key === 'ce-demo_sid');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('lax');
    expect(session?.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('C-UI6 issue 10 when a person acting for a unit opens a portal tile, then the business system signs in for that unit without any page', async () => {
    const browser = new Browser(app.issuer);
    await signIn(browser, `${rps['ce-demo']!.url}/login?as=unit`, handler, unit.id);
    const portal = await browser.get('/');
    const tile = portal.html
      .querySelectorAll('a.tile[data-state="open"]')
      .map((link) => new URL(link.getAttribute('href')!))
      .find((url) => url.origin === rps['hall-demo']!.url);
    expect(tile?.searchParams.get('login_as')).toBe('unit');
    expect(tile?.searchParams.get('unit_hint')).toBe(unit.id);
    const landed = await open(browser, tile!.toString());
    expect(new URL(landed.url).origin).toBe(rps['hall-demo']!.url);
    expect(landed.status).toBe(200);
    expect(Browser.text(landed)).toContain('代表单位：示例科技有限公司');
    expect(landed.html.querySelector('#api-unit')?.text).toBe(unit.id);
  });

  it('when a handler without the business permission signs in, then he is refused with a clear page; the system he may use lets him in (SSO)', async () => {
    const browser = new Browser(app.issuer);
    const refused = await signIn(browser, `${rps['ce-demo']!.url}/login?as=unit`, examOnly, unit.id);
    expect(refused.status).toBe(403);
    const text = Browser.text(refused);
    expect(text).toContain('无业务权限');
    expect(text).toContain('您代表的单位“示例科技有限公司”未授予您“继续教育”业务权限');
    expect(text).toContain('子账户信息');
    expect(refused.html.querySelector('#switch-unit')?.getAttribute('href')).toBe('/login?switch=1&return=%2F');
    expect(refused.html.querySelector('#business')).toBeNull();

    // Single sign-on: 公务员考录 gets the same person and unit without another password.
    const exam = await open(browser, `${rps['cse-demo']!.url}/login`);
    expect(exam.url).toBe(`${rps['cse-demo']!.url}/`);
    expect(exam.status).toBe(200);
    expect(Browser.text(exam)).toContain('本单位招录职位');
    expect(exam.html.querySelector('#api-unit')?.text).toBe(unit.id);
  });

  it('when a person signs in personally, then he is asked to sign in as a unit; the link restarts with login_as=unit and the picker, no password', async () => {
    const hall = rps['hall-demo']!;
    const browser = new Browser(app.issuer);
    const personal = await signIn(browser, `${hall.url}/login`, handler);
    expect(personal.status).toBe(403);
    expect(Browser.text(personal)).toContain('请以单位身份登录');
    expect(Browser.text(personal)).toContain('您当前以个人身份登录');
    const link = personal.html.querySelector('#sign-in-as-unit')?.getAttribute('href');
    expect(link).toBe('/login?as=unit&return=%2F');

    const restart = await browser.navigate(new URL(link!, hall.url).toString());
    expect(new URL(restart.headers.get('location')!).searchParams.get('login_as')).toBe('unit');
    const picker = await browser.navigateAll(restart);
    expect(new URL(picker.url).origin).toBe(app.issuer);
    expect(Browser.text(picker)).toContain('使用选中的单位账号登录');
    expect(picker.html.querySelector('form#person-login')).toBeNull();
    const page = await browser.navigateAll(await browser.submit(picker, 'form#select-unit', { unitId: unit.id }));
    expect(page.status).toBe(200);
    expect(Browser.text(page)).toContain('本单位办件');
    expect(Browser.text(page)).toContain('代表单位：示例科技有限公司');

    // 社会保险 needs a verified unit: fine for this one …
    const insurance = await open(browser, `${hall.url}/social-insurance`);
    expect(insurance.status).toBe(200);
    expect(Browser.text(insurance)).toContain('本单位社会保险缴费');
  });

  it('when the unit is switched to an unverified one, then the business that needs a verified unit is refused with the reason', async () => {
    const hall = rps['hall-demo']!;
    const browser = new Browser(app.issuer);
    await signIn(browser, `${hall.url}/login?as=unit`, handler, unit.id);
    const picker = await open(browser, `${hall.url}/login?switch=1&return=/social-insurance`);
    expect(Browser.text(picker)).toContain('示例教育中心');
    // C-UI3 at the provider: the unit is not verified and 社会保险 needs it; the person continues without it.
    const interstitial = await browser.submit(picker, 'form#select-unit', { unitId: otherUnit.id });
    expect(interstitial.html.querySelector('form#continue-unverified')).not.toBeNull();
    const page = await browser.navigateAll(await browser.submit(interstitial, 'form#continue-unverified'));
    expect(page.url).toBe(`${hall.url}/social-insurance`);
    expect(page.status).toBe(403);
    expect(Browser.text(page)).toContain('代表单位：示例教育中心');
    expect(Browser.text(page)).toContain('尚未完成实名认证');
  });

  it('when the person signs out at one system, then the provider notifies the others by back-channel logout and their sessions end', async () => {
    const ce = rps['ce-demo']!;
    const hall = rps['hall-demo']!;
    const browser = new Browser(app.issuer);
    const first = await signIn(browser, `${hall.url}/login?as=unit`, handler, unit.id);
    expect(first.status).toBe(200);
    const second = await open(browser, `${ce.url}/login`);
    expect(second.status).toBe(200);
    const hallSessions = hall.sessions.size;

    const logout = await browser.request(`${ce.url}/logout`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: second.html.querySelector('input[name=csrf]')!.getAttribute('value')! }).toString(),
    });
    expect(logout.status).toBe(302);
    const confirm = await browser.get(logout.headers.get('location')!);
    const done = await browser.submit(confirm, 'form[id="op.logoutForm"]', {}, { name: 'logout', value: 'yes' });
    expect(done.headers.get('location')).toBe(`${ce.url}/`);

    expect(hall.sessions.size).toBe(hallSessions - 1);
    const after = await open(browser, `${hall.url}/`);
    expect(Browser.text(after)).toContain('您尚未登录');
  });

  it('when the unit cancels the binding of a signed-in handler, then the business system names the unit whose session ended, and signing in for it again shows “您与…的绑定已取消” (issue 14)', async () => {
    const ce = rps['ce-demo']!;
    const unbound = await createPerson(app.app.services, { verified: true, legalName: '赵六' });
    const bindingId = await bindHandler(app.app.services, unit, unbound, ['biz:continuing_education']);
    const browser = new Browser(app.issuer);
    const signedIn = await signIn(browser, `${ce.url}/login?as=unit`, unbound, unit.id);
    expect(Browser.text(signedIn)).toContain('示例科技有限公司');
    await app.app.services.bindings.unbind(unit.id, bindingId, { actor: { type: 'unit', id: unit.id }, actingUnitId: unit.id });
    await jobsSettled(app.db); // the back-channel logout reaches the business system
    const after = await open(browser, `${ce.url}/`);
    expect(Browser.text(after)).toContain('您尚未登录');
    expect(after.html.querySelector('#session-ended')?.text).toContain('您代表“示例科技有限公司”的登录已结束');
    const again = await open(browser, new URL(after.html.querySelector('#sign-in-ended-unit')!.getAttribute('href')!, ce.url).toString());
    // The provider's SSO session is still there: its picker says why the unit is not offered.
    expect(new URL(again.url).origin).toBe(app.issuer);
    expect(Browser.text(again)).toContain('您与示例科技有限公司的绑定已取消。');
  });

  it('when a logout token is forged, replayed or carries a nonce, then /backchannel-logout answers 400 and ends nothing', async () => {
    const ce = rps['ce-demo']!;
    const browser = new Browser(app.issuer);
    await signIn(browser, `${ce.url}/login?as=unit`, handler, unit.id);
    const sessionsBefore = ce.sessions.size;
    const jwks = JSON.parse(fs.readFileSync(path.join(app.config.certsDir, 'jwks.json'), 'utf8')) as { keys: (jose.JWK & { kid: string })[] };
    const rsa = jwks.keys.find((key) => key.alg === 'RS256')!;
    const key = await jose.importJWK(rsa, 'RS256');
    const logoutToken = (claims: Record<string, unknown>) => {
      const now = Math.floor(Date.now() / 1000);
      return new jose.SignJWT({
        iss: app.issuer,
        aud: 'ce-demo',
        iat: now,
        exp: now + 120,
        jti: crypto.randomUUID(),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        sub: handler.id,
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: rsa.kid })
        .sign(key);
    };
    const post = (token: string) =>
      fetch(`${ce.localUrl}/backchannel-logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }).toString(),
      });
    const { privateKey } = await jose.generateKeyPair('RS256');
    const foreign = await new jose.SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, sub: handler.id, jti: 'x' })
      .setProtectedHeader({ alg: 'RS256', typ: 'logout+jwt', kid: rsa.kid })
      .setIssuer(app.issuer)
      .setAudience('ce-demo')
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
    for (const token of [
      foreign,
      await logoutToken({ iss: 'https://id.evil.example' }),
      await logoutToken({ sub: undefined }),
      await logoutToken({ nonce: 'n' }),
      await logoutToken({ events: {} }),
      await logoutToken({ aud: 'cse-demo' }),
      'not-a-jwt',
    ]) {
      const response = await post(token);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: 'invalid_request' });
    }
    expect(ce.sessions.size).toBe(sessionsBefore);

    const valid = await logoutToken({});
    expect((await post(valid)).status).toBe(200);
    expect(ce.sessions.size).toBeLessThan(sessionsBefore);
    expect((await post(valid)).status).toBe(400); // replay
  });
});
