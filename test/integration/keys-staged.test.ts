import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { rotateKeys } from '../../src/oidc/keys.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';

/** A JWT access token from client credentials (signed with the provider's current RS256 key). */
async function signingKid(app: TestApp): Promise<string> {
  const response = await fetch(`${app.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`machine:${TEST_SECRET}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'https://ce.rp.test/api', scope: 'biz:continuing_education' }),
  });
  const body = (await response.json()) as { access_token: string };
  return jose.decodeProtectedHeader(body.access_token).kid!;
}

async function publishedKids(app: TestApp): Promise<string[]> {
  return ((await (await fetch(`${app.url}/jwks`)).json()) as { keys: jose.JWK[] }).keys.map((key) => key.kid!);
}

describe('staged key rotation (S-12, C-T7)', () => {
  let database: TestDatabase;
  const clients = testClientsFile([
    testClient(),
    testClient({ client_id: 'machine', grant_types: ['client_credentials'], redirect_uris: ['http://rp.test/unused'], scopes: ['biz:continuing_education'] }),
  ]);

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it('when keys are staged, then they are published but do not sign; once promoted they sign and the old keys stay published', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-keys-'));
    const first = await startTestApp({ database, clients, dir });
    const original = await signingKid(first);
    await first.close();

    const staged = await rotateKeys(`${dir}/certs`, 3600, new Date(), 'stage');
    const second = await startTestApp({ database, clients, dir });
    expect(await publishedKids(second)).toEqual(expect.arrayContaining([original, ...staged.added]));
    expect(await signingKid(second)).toBe(original);
    await second.close();

    const promoted = await rotateKeys(`${dir}/certs`, 3600, new Date(), 'promote');
    expect(promoted.promoted).toEqual(staged.added);
    expect(promoted.added).toEqual([]);
    const third = await startTestApp({ database, clients, dir });
    try {
      expect(staged.added).toContain(await signingKid(third));
      expect(await publishedKids(third)).toContain(original);
      await expect(rotateKeys(`${dir}/certs`, 3600, new Date(), 'promote')).rejects.toThrow('no staged keys');
    } finally {
      await third.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
