import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClients } from '../../src/config/clients.js';
import { ConfigError } from '../../src/config/env.js';
import { testClient, testClientsFile, TEST_SECRET } from '../support/fixtures.js';

describe('clients.json', () => {
  let dir: string;
  let file: string;
  const write = (value: unknown) => fs.writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  const load = (env: Record<string, string> = {}, mode: 'development' | 'production' = 'development') => loadClients({ file, mode, dataDir: path.join(dir, 'data'), env });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-clients-'));
    file = path.join(dir, 'clients.json');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('when the file is valid, then clients become provider metadata and businesses get their scope', () => {
    write(testClientsFile());
    const catalog = load();
    expect(catalog.businesses.map((b) => b.scope)).toContain('biz:continuing_education');
    expect(catalog.clients[0]).toMatchObject({
      clientId: 'test-rp',
      firstParty: true,
      business: 'continuing_education',
      metadata: { client_id: 'test-rp', client_secret: TEST_SECRET, response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    });
  });

  it.each([
    ['a redirect URI that is not absolute', { redirect_uris: ['/cb'] }, 'client "test-rp": redirect_uris must be absolute'],
    ['an unknown field', { colour: 'red' }, 'client "test-rp": colour: property colour should not exist'],
    ['an unknown scope', { scopes: ['openid', 'biz:unknown'] }, 'client "test-rp": scopes: unknown scope "biz:unknown"'],
    ['an unknown business', { business: 'fishing' }, 'client "test-rp": business: "fishing" is not in businesses'],
    ['a short literal secret', { client_secret: 'short' }, 'client "test-rp": client_secret must be at least 32 characters'],
    ['a secret on a public client', { token_endpoint_auth_method: 'none' }, 'client "test-rp": client_secret must be absent'],
    ['no client_id', { client_id: undefined }, 'client #1: client_id'],
    ['no client_name', { client_name: undefined }, 'client "test-rp": client_name is required'],
    ['a client_name that is text', { client_name: 'Test RP' }, 'client "test-rp": client_name must be an object'],
    ['a client_name without zh-CN', { client_name: { en: 'Test RP' } }, 'client "test-rp": client_name.zh-CN'],
  ])('when a client has %s, then loading fails naming the client and the field', (_what, change, message) => {
    write(testClientsFile([testClient(change)]));
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(message);
  });

  it.each([
    ['a business', { scopes: ['openid', 'manage'], business: 'continuing_education' }],
    ['a business scope', { scopes: ['openid', 'biz:continuing_education', 'manage'], business: undefined }],
    ['the unit scope', { scopes: ['openid', 'unit', 'manage'], business: undefined }],
  ])('S-47 when a business system with %s also asks for the manage scope, then loading fails with a clear message', (_what, change) => {
    write(testClientsFile([testClient(change)]));
    expect(load).toThrow(ConfigError);
    expect(load).toThrow('client "test-rp": scopes: a business system (business, unit or biz: scopes) cannot hold the management scope "manage"');
  });

  it('S-47 when a management client holds only manage and OIDC scopes, then it loads', () => {
    write(testClientsFile([testClient({ scopes: ['openid', 'manage'], business: undefined })]));
    expect(load().clients[0]?.clientId).toBe('test-rp');
  });

  it('when a client is listed twice, then loading fails', () => {
    write(testClientsFile([testClient(), testClient()]));
    expect(load).toThrow('client "test-rp" is listed twice');
  });

  it('when the file is not JSON or missing, then the message says so', () => {
    write('{ "clients": [');
    expect(load).toThrow('clients.json: is not valid JSON');
    fs.rmSync(file);
    expect(load).toThrow('clients.json: not found');
  });

  it('when a secret is an env: reference, then it is read from the environment', () => {
    write(testClientsFile([testClient({ client_secret: 'env:RP_SECRET' })]));
    const secret = 'x'.repeat(40);
    expect(load({ RP_SECRET: secret }).clients[0]?.metadata.client_secret).toBe(secret);
  });

  it('when an env: reference is unset in production, then loading fails; in development a secret is generated once', () => {
    write(testClientsFile([testClient({ client_secret: 'env:RP_SECRET' })]));
    expect(() => load({}, 'production')).toThrow('client "test-rp": client_secret: environment variable RP_SECRET is not set');
    const first = load();
    const generated = first.generatedSecrets['test-rp'];
    expect(generated).toHaveLength(43);
    expect(load().clients[0]?.metadata.client_secret).toBe(generated);
    expect(fs.statSync(path.join(dir, 'data', 'dev-client-secrets.json')).mode & 0o777).toBe(0o600);
  });

  const WHSEC = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

  it('when a client has a webhook with an env: secret, then it is resolved from the environment and kept off the provider metadata', () => {
    write(testClientsFile([testClient({ webhooks: { url: 'https://rp.example/hooks', secret: 'env:RP_WEBHOOK_SECRET' } })]));
    const client = load({ RP_WEBHOOK_SECRET: WHSEC }, 'production').clients[0]!;
    expect(client.webhook).toEqual({ url: 'https://rp.example/hooks', secret: WHSEC });
    expect(JSON.stringify(client.metadata)).not.toContain(WHSEC);
  });

  it.each([
    [
      'an unset env: secret',
      { url: 'https://rp.example/hooks', secret: 'env:NOT_SET_ANYWHERE' },
      'development',
      'client "test-rp": webhooks.secret: environment variable NOT_SET_ANYWHERE is not set',
    ],
    [
      'a secret that is not whsec_',
      { url: 'https://rp.example/hooks', secret: 'a-plain-password-of-enough-length-000' },
      'development',
      'client "test-rp": webhooks.secret must be whsec_ followed by the base64',
    ],
    ['a whsec_ secret that is too short', { url: 'https://rp.example/hooks', secret: 'whsec_c2hvcnQ=' }, 'development', 'webhooks.secret must be whsec_'],
    [
      'an http URL in production',
      { url: 'http://rp.example/hooks', secret: 'env:RP_WEBHOOK_SECRET' },
      'production',
      'client "test-rp": webhooks.url must be an https URL in production',
    ],
    ['a URL that is not absolute', { url: '/hooks', secret: 'env:RP_WEBHOOK_SECRET' }, 'development', 'client "test-rp": webhooks.url must be an absolute http(s) URL'],
    ['an unknown field', { url: 'https://rp.example/hooks', secret: 'env:RP_WEBHOOK_SECRET', events: ['unit.renamed'] }, 'development', 'property events should not exist'],
  ] as const)('when a webhook has %s, then loading fails with a clear message', (_what, webhooks, mode, message) => {
    write(testClientsFile([testClient({ webhooks })]));
    const run = () => load({ RP_WEBHOOK_SECRET: WHSEC }, mode);
    expect(run).toThrow(ConfigError);
    expect(run).toThrow(message);
  });

  it('when the repository clients.json is loaded, then it is valid', () => {
    const catalog = loadClients({ file: path.resolve('clients.json'), mode: 'development', dataDir: path.join(dir, 'data'), env: {} });
    expect(catalog.clients.map((client) => client.clientId)).toEqual(['ce-demo', 'cse-demo', 'hall-demo']);
  });
});
