import { errors } from 'oidc-provider';
import type { Adapter } from 'oidc-provider';
import { asTokenRequest, createAdapter } from '../../src/oidc/adapter.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';

/**
 * S-55: the writes of one token request commit together or not at all (an ambient transaction joined by every
 * statement of the request), and a short reuse leeway covers a response the client never received.
 */
describe.each(databaseKinds())('atomic token requests and the refresh reuse leeway on %s', (kind) => {
  let test: TestDatabase;
  let clock = Date.now();
  let Model: new (name: string) => Adapter;

  /**
   * One token request as `atomicTokenRequests` runs it: an ambient transaction committed when the library answers
   * (success, or an OAuth error such as invalid_grant, whose replay revocation must stay), rolled back otherwise.
   */
  async function tokenRequest<T>(work: () => Promise<T>): Promise<T> {
    const outcome = await test.db.ambient(
      () =>
        asTokenRequest(work).then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        ),
      { commitIf: (result) => !('error' in result) || result.error instanceof errors.OIDCProviderError },
    );
    if ('error' in outcome) throw outcome.error;
    return outcome.value;
  }

  beforeAll(async () => {
    test = await createTestDatabase(kind);
    Model = createAdapter(test.db, { now: () => clock, refreshReuseSeconds: 10 });
  });
  afterAll(() => test.drop());
  beforeEach(() => {
    clock = Date.now();
  });

  async function chain(prefix: string): Promise<{ refresh: Adapter; grants: Adapter; access: Adapter }> {
    const refresh = new Model('RefreshToken');
    const grants = new Model('Grant');
    const access = new Model('AccessToken');
    await grants.upsert(`${prefix}-g`, { jti: `${prefix}-g`, accountId: 'p1', clientId: 'c' }, 600);
    await refresh.upsert(`${prefix}-rt1`, { grantId: `${prefix}-g`, kind: 'RefreshToken' }, 600);
    return { refresh, grants, access };
  }

  /** What the library does on a refresh: consume the old token, save its successor and an access token. */
  async function rotate(refresh: Adapter, access: Adapter, from: string, to: string, grantId: string, failBeforeSave = false): Promise<void> {
    await refresh.consume(from);
    if (failBeforeSave) throw new Error('connection lost');
    await refresh.upsert(to, { grantId, kind: 'RefreshToken' }, 600);
    await access.upsert(`at-${to}`, { grantId, kind: 'AccessToken' }, 600);
  }

  it('S-55 when a token request fails between the consume and the save, then nothing was written and the retry with the same token succeeds once', async () => {
    const { refresh, access } = await chain('crash');
    await expect(tokenRequest(() => rotate(refresh, access, 'crash-rt1', 'crash-rt2', 'crash-g', true))).rejects.toThrow('connection lost');
    expect(await refresh.find('crash-rt1')).not.toHaveProperty('consumed');
    await tokenRequest(() => rotate(refresh, access, 'crash-rt1', 'crash-rt2', 'crash-g'));
    expect(await refresh.find('crash-rt2')).toMatchObject({ grantId: 'crash-g' });
    expect(await access.find('at-crash-rt2')).toMatchObject({ grantId: 'crash-g' });
  });

  it('S-55 when the rotated token is presented again within the leeway while its successor is unused, then it rotates again and the unused successor is deleted', async () => {
    const { refresh, access, grants } = await chain('lost');
    await tokenRequest(() => rotate(refresh, access, 'lost-rt1', 'lost-rt2', 'lost-g'));
    clock += 5_000;
    await tokenRequest(async () => {
      expect(await refresh.find('lost-rt1')).not.toHaveProperty('consumed');
      await rotate(refresh, access, 'lost-rt1', 'lost-rt3', 'lost-g');
    });
    expect(await refresh.find('lost-rt2')).toBeUndefined();
    expect(await refresh.find('lost-rt3')).toMatchObject({ grantId: 'lost-g' });
    expect(await grants.find('lost-g')).toBeDefined();
  });

  it('S-7 when the rotated token is presented after its successor was used, then it is a replay and the grant is revoked', async () => {
    const { refresh, access, grants } = await chain('used');
    await tokenRequest(() => rotate(refresh, access, 'used-rt1', 'used-rt2', 'used-g'));
    await tokenRequest(() => rotate(refresh, access, 'used-rt2', 'used-rt3', 'used-g'));
    await expect(tokenRequest(() => rotate(refresh, access, 'used-rt1', 'used-rt4', 'used-g'))).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await grants.find('used-g')).toBeUndefined();
    expect(await refresh.find('used-rt3')).toBeUndefined();
  });

  it('S-7 when the rotated token is presented after the leeway, then it is a replay even though the successor is unused', async () => {
    const { refresh, access, grants } = await chain('late');
    await tokenRequest(() => rotate(refresh, access, 'late-rt1', 'late-rt2', 'late-g'));
    clock += 11_000;
    await tokenRequest(async () => {
      expect(await refresh.find('late-rt1')).toHaveProperty('consumed');
    });
    await expect(tokenRequest(() => refresh.consume('late-rt1'))).rejects.toBeInstanceOf(errors.InvalidGrant);
    expect(await grants.find('late-g')).toBeUndefined();
  });

  it('S-55 when a nested transaction fails inside a token request, then only its savepoint rolls back and after-commit hooks run only on commit', async () => {
    const hooks: string[] = [];
    await test.db.ambient(async () => {
      await test.db.query("INSERT INTO job (id, kind, payload, max_attempts, run_at, created_at, updated_at) VALUES (gen_random_uuid(), 'outer', '{}', 1, now(), now(), now())");
      await expect(
        test.db.transaction(async (tx) => {
          tx.afterCommit(() => hooks.push('inner'));
          await tx.query("INSERT INTO job (id, kind, payload, max_attempts, run_at, created_at, updated_at) VALUES (gen_random_uuid(), 'inner', '{}', 1, now(), now(), now())");
          throw new Error('refused');
        }),
      ).rejects.toThrow('refused');
      await test.db.transaction(async (tx) => tx.afterCommit(() => hooks.push('kept')));
      expect(hooks).toEqual([]);
    });
    const { rows } = await test.db.query<{ kind: string }>("SELECT kind FROM job WHERE kind IN ('outer', 'inner')");
    expect(rows.map((row) => row.kind)).toEqual(['outer']);
    // The failed savepoint's hook was registered on the same transaction, which committed: both ran after it.
    expect(hooks).toEqual(['inner', 'kept']);
    await test.db.ambient(
      async () => {
        await test.db.transaction(async (tx) => tx.afterCommit(() => hooks.push('rolled back')));
      },
      { commitIf: () => false },
    );
    expect(hooks).not.toContain('rolled back');
  });
});
