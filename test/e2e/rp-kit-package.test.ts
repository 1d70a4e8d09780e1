import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { testClient, testClientsFile, TEST_SECRET } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { freePort } from '../support/process.js';
import { authorizationUrl, callbackOf, discover } from '../support/rp.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';

/**
 * Issue #17, S-9, C-T2, C-T4: `npm pack` of the RP kit gives a tarball that a fresh project outside this repository
 * installs from the registry (with Express, Koa and openid-client), and the kit's Express, Koa and node:http
 * examples, run from that project, verify the real provider's tokens: access tokens on the three APIs, the
 * ID-token session of the Express web app, and the provider's back-channel logout ending that session.
 */

const execFileAsync = promisify(execFile);
/** npm runs here inside `npm test`: its npm_* variables (local prefix, package, lifecycle) must not leak into the fresh project. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_|INIT_CWD$)/i.test(name)));
const run = (command: string, args: string[], cwd: string) => execFileAsync(command, args, { cwd, env: cleanEnv, maxBuffer: 10 * 1024 * 1024 });
const KIT = path.resolve('packages/rp-kit');
const RESOURCE = 'https://ce.rp.test/api';
const SCOPE = 'openid profile unit biz:continuing_education';

interface Example {
  url: string;
  child: ChildProcess;
  output: () => string;
}

/** Starts an example of the installed package and waits for its "listening on" line. */
async function startExample(cwd: string, file: string, env: Record<string, string>): Promise<Example> {
  const child = spawn(process.execPath, [file], { cwd, env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}:\n${output}`)));
  });
  return { url, child, output: () => output };
}

async function stop(example: Example | undefined): Promise<void> {
  if (!example || example.child.exitCode !== null) return;
  const exited = new Promise((resolve) => example.child.on('exit', resolve));
  example.child.kill('SIGTERM');
  await exited;
}

async function api(url: string, token?: string): Promise<{ status: number; challenge: string | null; body: Record<string, unknown> }> {
  const response = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, challenge: response.headers.get('www-authenticate'), body: (await response.json()) as Record<string, unknown> };
}

/** The access token of a sign-in through the provider's pages with the test client (as the unit when given). */
async function accessToken(app: TestApp, person: TestPerson, unitId?: string): Promise<string> {
  const config = await discover(app.issuer);
  const browser = new Browser(app.config.issuer);
  const authorization = await authorizationUrl(config, { scope: SCOPE, resource: RESOURCE });
  let page = await browser.submit(await browser.get(authorization.url.toString()), 'form#person-login', {
    account: person.loginName,
    password: person.password,
    ...(unitId ? { unitMode: '1' } : {}),
  });
  if (unitId) page = await browser.submit(page, 'form#select-unit', { unitId });
  const tokens = await client.authorizationCodeGrant(
    config,
    callbackOf(page),
    { pkceCodeVerifier: authorization.verifier, expectedState: authorization.state, expectedNonce: authorization.nonce },
    { resource: RESOURCE },
  );
  return tokens.access_token;
}

describe('RP kit: the packed tarball in a fresh project (issue #17)', () => {
  let work: string;
  let project: string;
  let app: TestApp;
  let contact: TestPerson;
  let handler: TestPerson;
  let unit: TestUnit;
  let bindingId: string;
  let expressPort: number;
  const examples: Record<'express' | 'koa' | 'http', Example | undefined> = { express: undefined, koa: undefined, http: undefined };

  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'rp-kit-pack-'));
    // npm pack runs the kit's prepack (its own tsc build) and writes the tarball a registry would serve. It runs on a
    // copy of the workspace (the repository's node_modules linked in for tsc, jose and @types/node), so that the
    // shared packages/rp-kit/dist that other test files' processes import is never rebuilt under them.
    const copy = path.join(work, 'rp-kit');
    fs.mkdirSync(copy);
    for (const entry of ['package.json', 'README.md', 'tsconfig.json', 'src', 'examples']) fs.cpSync(path.join(KIT, entry), path.join(copy, entry), { recursive: true });
    fs.symlinkSync(path.resolve('node_modules'), path.join(copy, 'node_modules'), 'dir');
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], copy);
    const [tarball] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string }[];
    project = path.join(work, 'consumer');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'rp-kit-consumer', private: true, type: 'module' }));
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        path.join(work, tarball!.filename),
        'express@5',
        'koa@3',
        'openid-client@6',
        'typescript@5.9',
        '@types/node@24',
      ],
      project,
    );

    expressPort = await freePort();
    const expressUrl = `http://127.0.0.1:${expressPort}`;
    app = await startTestApp({
      clients: testClientsFile([
        testClient(),
        testClient({
          client_id: 'express-rp',
          redirect_uris: [`${expressUrl}/callback`],
          post_logout_redirect_uris: [`${expressUrl}/`],
          backchannel_logout_uri: `${expressUrl}/backchannel-logout`,
        }),
      ]),
    });
    contact = await createPerson(app.app.services, { verified: true, legalName: '张三' });
    handler = await createPerson(app.app.services, { verified: true, legalName: '李四' });
    unit = await createUnit(app.app.services, contact, { name: '示例科技有限公司', verified: true });
    bindingId = await bindHandler(app.app.services, unit, handler, ['biz:continuing_education']);

    const env = { ISSUER: app.issuer, RESOURCE, CLIENT_ID: 'express-rp' };
    const examplesDir = path.join(project, 'node_modules', '@unit-oidc', 'rp-kit', 'examples');
    examples.express = await startExample(project, path.join(examplesDir, 'express.mjs'), { ...env, CLIENT_SECRET: TEST_SECRET, BASE_URL: expressUrl, PORT: String(expressPort) });
    examples.koa = await startExample(project, path.join(examplesDir, 'koa.mjs'), env);
    examples.http = await startExample(project, path.join(examplesDir, 'node-http.mjs'), env);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(Object.values(examples).map(stop));
    await app?.close();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('when the tarball is installed, then it holds the compiled kit with its types and README and depends on jose only', () => {
    const installed = path.join(project, 'node_modules', '@unit-oidc', 'rp-kit');
    const pkg = JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(pkg.dependencies)).toEqual(['jose']);
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/webhooks.d.ts', 'README.md', 'examples/express.mjs']) {
      expect([file, fs.existsSync(path.join(installed, file))]).toEqual([file, true]);
    }
    expect(fs.existsSync(path.join(installed, 'src'))).toBe(false);
    expect(fs.existsSync(path.join(installed, 'test'))).toBe(false);
    expect(fs.existsSync(path.join(project, 'node_modules', 'oidc-provider'))).toBe(false);
  });

  it('when a TypeScript project type-checks against the installed package, then its declarations stand alone (strict, NodeNext)', async () => {
    fs.writeFileSync(
      path.join(project, 'check.ts'),
      [
        "import http from 'node:http';",
        "import { createVerifier, createWebhookVerifier, expressGuard, isEvent, protect, type AccessTokenIdentity, type IdTokenIdentity, type UnitRole } from '@unit-oidc/rp-kit';",
        "const verifier = createVerifier({ issuer: 'https://id.example.gov.cn', audience: 'https://ce.example.gov.cn/api', clientId: 'ce' });",
        'export const check = async (token: string): Promise<UnitRole | undefined> => { const identity: AccessTokenIdentity = await verifier.verifyAccessToken(token); return identity.role; };',
        'export const session = async (token: string): Promise<string[]> => { const identity: IdTokenIdentity = await verifier.verifyIdToken(token); return identity.scopes; };',
        'export const server = http.createServer(protect(verifier, { unit: true }, (_req, res, identity) => { res.end(identity.unit?.id); }));',
        'export const middleware: (req: http.IncomingMessage, res: http.ServerResponse, next: (error?: unknown) => void) => void = expressGuard(verifier);',
        "const event = createWebhookVerifier({ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }).verify('{}', {}).event;",
        "export const renamed: string | undefined = isEvent(event, 'unit.renamed') ? event.data.previousName : undefined;",
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', noEmit: true, types: ['node'] }, files: ['check.ts'] }),
    );
    const result = await run(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project).catch(
      (error: { stdout: string }) => error,
    );
    expect(result.stdout).toBe('');
  });

  it('when a unit token of the real provider is sent to the Express, Koa and node:http APIs, then each returns the person, unit, role and scopes', async () => {
    const token = await accessToken(app, handler, unit.id);
    for (const [framework, example] of [
      ['express', examples.express],
      ['koa', examples.koa],
      ['node:http', examples.http],
    ] as const) {
      const answer = await api(`${example!.url}/api/records`, token);
      expect([framework, answer.status, answer.body]).toEqual([
        framework,
        200,
        { framework, subject: handler.id, unit: unit.id, role: 'handler', scopes: ['biz:continuing_education'] },
      ]);
    }
  });

  it('when a personal token or no token is sent, then the APIs answer 403 insufficient_scope naming unit, or 401 with a bare challenge', async () => {
    const personal = await accessToken(app, handler);
    for (const example of [examples.express, examples.koa, examples.http]) {
      const refused = await api(`${example!.url}/api/records`, personal);
      expect([refused.status, refused.body.reason]).toEqual([403, 'unit_required']);
      expect(refused.challenge).toContain('error="insufficient_scope"');
      expect(refused.challenge).toContain('scope="unit biz:continuing_education"');
      const missing = await api(`${example!.url}/api/records`);
      expect([missing.status, missing.challenge]).toEqual([401, `Bearer realm="${RESOURCE}"`]);
    }
  });

  it('when a person signs in to the Express web app as the unit, then its session guard shows the unit, and the back-channel logout of an unbinding ends it (R-B4)', async () => {
    const site = examples.express!.url;
    const anonymous = await fetch(`${site}/`, { redirect: 'manual' });
    expect([anonymous.status, anonymous.headers.get('location')]).toEqual([303, '/login?return_to=%2F']);

    const login = await fetch(`${site}/login?return_to=/records`, { redirect: 'manual' });
    const loginCookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const browser = new Browser(app.config.issuer);
    let page: Page = await browser.get(login.headers.get('location')!);
    page = await browser.submit(page, 'form#person-login', { account: handler.loginName, password: handler.password, unitMode: '1' });
    page = await browser.submit(page, 'form#select-unit', { unitId: unit.id });
    const callback = page.headers.get('location')!;
    expect(callback.startsWith(`${site}/callback?`)).toBe(true);
    const signedIn = await fetch(callback, { headers: { cookie: loginCookie }, redirect: 'manual' });
    expect([signedIn.status, signedIn.headers.get('location')]).toEqual([303, '/records']);
    const cookie = signedIn.headers.get('set-cookie')!.split(';')[0]!;
    expect(cookie).not.toBe(loginCookie);

    const home = await fetch(`${site}/`, { headers: { cookie }, redirect: 'manual' });
    expect([home.status, await home.json()]).toEqual([
      200,
      { subject: handler.id, unit: { id: unit.id, name: '示例科技有限公司', verified: true }, role: 'handler', scopes: ['biz:continuing_education'] },
    ]);
    const records = await fetch(`${site}/records`, { headers: { cookie } });
    expect([records.status, await records.json()]).toMatchObject([200, { framework: 'express', unit: unit.id, role: 'handler' }]);

    await app.app.services.bindings.unbind(unit.id, bindingId, { actor: { type: 'unit', id: unit.id } });
    // The provider delivers the logout token to the example (now or from its job queue); wait for its effect.
    let after = await fetch(`${site}/`, { headers: { cookie }, redirect: 'manual' });
    for (let attempt = 0; attempt < 100 && after.status === 200; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await fetch(`${site}/`, { headers: { cookie }, redirect: 'manual' });
    }
    expect([after.status, after.headers.get('location')]).toEqual([303, '/login?return_to=%2F']);
  });
});
