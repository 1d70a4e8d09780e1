import { errors } from 'oidc-provider';
import type { Adapter } from 'oidc-provider';
import { createAdapter, sweepExpired } from '../../src/oidc/adapter.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';
import { statementsOf } from '../support/statements.js';

describe.each(databaseKinds())('oidc-provider adapter contract on %s', (kind) => {
  let test: TestDatabase;
  let clock = Date.now();
  let Model: new (name: string) => Adapter;

  beforeAll(async () => {
    test = await createTestDatabase(kind);
    Model = createAdapter(test.db, { now: () => clock });
  });
  afterAll(() => test.drop());
  beforeEach(() => {
    clock = Date.now();
  });

  it('when a payload is upserted, then find returns it and a second upsert replaces it', async () => {
    const tokens = new Model('AccessToken');
    await tokens.upsert('at-1', { jti: 'at-1', accountId: 'p1', grantId: 'g1', kind: 'AccessToken' }, 60);
    expect(await tokens.find('at-1')).toMatchObject({ jti: 'at-1', accountId: 'p1', grantId: 'g1' });
    await tokens.upsert('at-1', { jti: 'at-1', accountId: 'p2', grantId: 'g1', kind: 'AccessToken' }, 60);
    expect(await tokens.find('at-1')).toMatchObject({ accountId: 'p2' });
  });

  it('when the same id is used by two models, then they do not see each other', async () => {
    await new Model('AccessToken').upsert('shared', { kind: 'AccessToken' }, 60);
    expect(await new Model('RefreshToken').find('shared')).toBeUndefined();
  });

  it('when one id is found under several models at once, then one statement answers and each model gets its own artefact', async () => {
    await new Model('AccessToken').upsert('together', { kind: 'AccessToken', jti: 'a' }, 60);
    await new Model('RefreshToken').upsert('together', { kind: 'RefreshToken', jti: 'r' }, 60);
    await new Model('RefreshToken').consume('together');
    const sent = await statementsOf(test.db, async () => {
      const [access, credentials, refresh] = await Promise.all([
        new Model('AccessToken').find('together'),
        new Model('ClientCredentials').find('together'),
        new Model('RefreshToken').find('together'),
      ]);
      expect(access).toMatchObject({ jti: 'a' });
      expect(access).not.toHaveProperty('consumed');
      expect(credentials).toBeUndefined();
      expect(refresh).toMatchObject({ jti: 'r', consumed: expect.any(Number) as unknown });
    });
    expect(sent).toHaveLength(1);
  });

  it('when an artefact expires, then find, findByUid and findByUserCode no longer return it', async () => {
    const sessions = new Model('Session');
    const devices = new Model('DeviceCode');
    await sessions.upsert('s-exp', { uid: 'uid-exp', accountId: 'p1' }, 30);
    await devices.upsert('d-exp', { userCode: 'ABCD-EFGH', grantId: 'g-d' }, 30);
    expect(await sessions.findByUid('uid-exp')).toMatchObject({ uid: 'uid-exp' });
    expect(await devices.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
    clock += 31_000;
    expect(await sessions.find('s-exp')).toBeUndefined();
    expect(await sessions.findByUid('uid-exp')).toBeUndefined();
    expect(await devices.findByUserCode('ABCD-EFGH')).toBeUndefined();
  });

  it('when an artefact has no expiry, then it stays readable', async () => {
    const clients = new Model('Client');
    await clients.upsert('c-1', { client_id: 'c-1' });
    clock += 10 * 365 * 24 * 3600 * 1000;
    expect(await clients.find('c-1')).toMatchObject({ client_id: 'c-1' });
  });

  it('when an artefact is consumed, then find reports when', async () => {
    const codes = new Model('AuthorizationCode');
    await codes.upsert('code-1', { grantId: 'g-c1', kind: 'AuthorizationCode' }, 60);
    await codes.consume('code-1');
    const found = await codes.find('code-1');
    expect(found?.consumed).toEqual(expect.any(Number));
    expect(Math.abs((found?.consumed as number) - Math.floor(clock / 1000))).toBeLessThanOrEqual(1);
  });

  it('when 20 requests consume one code in parallel, then exactly one wins and the others get invalid_grant', async () => {
    const codes = new Model('AuthorizationCode');
    await codes.upsert('code-race', { grantId: 'g-race', kind: 'AuthorizationCode' }, 60);
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => codes.consume('code-race')));
    const winners = results.filter((result) => result.status === 'fulfilled');
    const losers = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(19);
    for (const loser of losers) expect(loser.reason).toBeInstanceOf(errors.InvalidGrant);
  });

  it('when a consumed refresh token is consumed again, then its grant is revoked (replay)', async () => {
    const refresh = new Model('RefreshToken');
    const access = new Model('AccessToken');
    const grants = new Model('Grant');
    await grants.upsert('g-replay', { jti: 'g-replay', accountId: 'p1', clientId: 'c' }, 600);
    await refresh.upsert('rt-1', { grantId: 'g-replay', kind: 'RefreshToken' }, 600);
    await access.upsert('at-r', { grantId: 'g-replay', kind: 'AccessToken' }, 600);
    await refresh.consume('rt-1');
    await expect(refresh.consume('rt-1')).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await access.find('at-r')).toBeUndefined();
    expect(await grants.find('g-replay')).toBeUndefined();
  });

  it('when an artefact is destroyed, then it is gone and others remain', async () => {
    const sessions = new Model('Session');
    await sessions.upsert('s-1', { uid: 'u-1' }, 60);
    await sessions.upsert('s-2', { uid: 'u-2' }, 60);
    await sessions.destroy('s-1');
    expect(await sessions.find('s-1')).toBeUndefined();
    expect(await sessions.findByUid('u-1')).toBeUndefined();
    expect(await sessions.find('s-2')).toMatchObject({ uid: 'u-2' });
  });

  it('when a grant is revoked, then every artefact issued under it goes and other grants stay', async () => {
    const models = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'];
    for (const name of models) {
      await new Model(name).upsert(`${name}-a`, { grantId: 'g-revoke', kind: name }, 600);
      await new Model(name).upsert(`${name}-b`, { grantId: 'g-keep', kind: name }, 600);
    }
    await new Model('AccessToken').revokeByGrantId('g-revoke');
    for (const name of models) {
      expect(await new Model(name).find(`${name}-a`)).toBeUndefined();
      expect(await new Model(name).find(`${name}-b`)).toMatchObject({ grantId: 'g-keep' });
    }
  });

  it('when expired rows are swept, then only expired rows are deleted', async () => {
    const tokens = new Model('AccessToken');
    await tokens.upsert('sweep-old', { kind: 'AccessToken' }, 1);
    await tokens.upsert('sweep-new', { kind: 'AccessToken' }, 3600);
    const removed = await sweepExpired(test.db, new Date(clock + 5000), 1);
    expect(removed).toBeGreaterThanOrEqual(1);
    const { rows } = await test.db.query<{ id: string }>("SELECT id FROM oidc_model WHERE id LIKE 'sweep-%'");
    expect(rows.map((row) => row.id)).toEqual(['sweep-new']);
  });

  it('Q-P6 when many rows are expired or consumed past the replay window, then the sweep removes them all in several short batches and keeps the rest', async () => {
    const tokens = new Model('AccessToken');
    const refresh = new Model('RefreshToken');
    for (let index = 0; index < 7; index += 1) await tokens.upsert(`batch-old-${index}`, { kind: 'AccessToken' }, 1);
    for (let index = 0; index < 3; index += 1) await tokens.upsert(`batch-live-${index}`, { kind: 'AccessToken' }, 3600);
    for (let index = 0; index < 3; index += 1) {
      await refresh.upsert(`batch-used-${index}`, { kind: 'RefreshToken' }, 14 * 24 * 3600);
      await refresh.consume(`batch-used-${index}`);
    }
    await refresh.upsert('batch-used-now', { kind: 'RefreshToken' }, 14 * 24 * 3600);
    // Consumed a day and more ago (past the replay window), except the last one, consumed just now.
    await test.db.query("UPDATE oidc_model SET consumed_at = now() - interval '2 days' WHERE id LIKE 'batch-used-_'");
    await refresh.consume('batch-used-now');
    let removed = 0;
    const sent = await statementsOf(test.db, async () => {
      removed = await sweepExpired(test.db, new Date(clock + 5000), 2);
    });
    expect(removed).toBeGreaterThanOrEqual(10);
    // 7 expired rows at 2 a batch and 3 consumed ones: every batch is its own DELETE, none unbounded.
    expect(sent.filter(({ sql }) => sql.startsWith('DELETE FROM oidc_model')).length).toBeGreaterThanOrEqual(4 + 2);
    expect(sent.every(({ sql }) => /ORDER BY (expires_at|consumed_at) LIMIT \$2 FOR UPDATE SKIP LOCKED/.test(sql))).toBe(true);
    const { rows } = await test.db.query<{ id: string }>("SELECT id FROM oidc_model WHERE id LIKE 'batch-%' ORDER BY id");
    expect(rows.map((row) => row.id)).toEqual(['batch-live-0', 'batch-live-1', 'batch-live-2', 'batch-used-now']);
  });
});
