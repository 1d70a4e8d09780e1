import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';

/**
 * Issue #15 (Q-P2), S-55: the ambient transaction of a token request begins at its first statement, and a request
 * whose only statement is its last (`queryLast`: the saves of client_credentials) sends it alone, atomic by itself.
 */
describe.each(databaseKinds())('the ambient transaction on %s', (kind) => {
  let test: TestDatabase;
  const sent: string[] = [];
  beforeAll(async () => {
    test = await createTestDatabase(kind);
    await test.db.query('CREATE TABLE ambient_probe (n integer NOT NULL)');
    test.db.observe((sql) => sent.push(sql));
  });
  afterAll(() => test.drop());
  beforeEach(() => {
    sent.length = 0;
  });
  const probes = async () => (await test.db.query<{ n: number }>('SELECT n FROM ambient_probe ORDER BY n')).rows.map((row) => row.n);

  it('when the work sends no statement, then neither BEGIN nor COMMIT is sent', async () => {
    expect(await test.db.ambient(async () => 'nothing')).toBe('nothing');
    expect(sent).toEqual([]);
  });

  it('when a nested transaction registers an after-commit hook, then the transaction begins for it and the hook runs after COMMIT', async () => {
    let hooked = false;
    await test.db.ambient(() =>
      test.db.transaction(async (tx) => {
        tx.afterCommit(() => {
          hooked = true;
        });
      }),
    );
    expect(sent).toEqual(['BEGIN', 'SAVEPOINT sp1', 'RELEASE SAVEPOINT sp1', 'COMMIT']);
    expect(hooked).toBe(true);
  });

  it('when the only statement is the last one, then it runs alone and stays', async () => {
    await test.db.ambient(() => test.db.queryLast('INSERT INTO ambient_probe (n) VALUES (1)'));
    expect(sent).toEqual(['INSERT INTO ambient_probe (n) VALUES (1)']);
    expect(await probes()).toEqual([1]);
  });

  it('when the last statement follows another, then both are one transaction and a rollback undoes both', async () => {
    await test.db.ambient(
      async () => {
        await test.db.query('INSERT INTO ambient_probe (n) VALUES (2)');
        await test.db.queryLast('INSERT INTO ambient_probe (n) VALUES (3)');
        return 'refused';
      },
      { commitIf: () => false },
    );
    expect(sent).toEqual(['BEGIN', 'INSERT INTO ambient_probe (n) VALUES (2)', 'INSERT INTO ambient_probe (n) VALUES (3)', 'ROLLBACK']);
    expect(await probes()).toEqual([1]);
    await test.db.ambient(async () => {
      await test.db.query('INSERT INTO ambient_probe (n) VALUES (2)');
      await test.db.queryLast('INSERT INTO ambient_probe (n) VALUES (3)');
    });
    expect(await probes()).toEqual([1, 2, 3]);
  });

  it('when the work throws after its first statement, then the transaction rolls back', async () => {
    await expect(
      test.db.ambient(async () => {
        await test.db.query('INSERT INTO ambient_probe (n) VALUES (4)');
        throw new Error('lost');
      }),
    ).rejects.toThrow('lost');
    expect(sent.at(-1)).toBe('ROLLBACK');
    expect(await probes()).toEqual([1, 2, 3]);
  });
});
