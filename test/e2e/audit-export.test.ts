import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runScript } from '../support/process.js';
import { testClientsFile } from '../support/fixtures.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { AuditLog } from '../../src/modules/audit/audit-log.js';

/** Issue #16: the audit log exported as JSON lines for a SIEM (npm run admin -- audit:export). */

const ADMIN = path.resolve('dist/scripts/admin.js');

interface Line {
  id: string;
  at: string;
  action: string;
  outcome: string;
  actor: { type: string; id: string | null };
  target: { type: string; id: string } | null;
  detail: Record<string, unknown>;
}

const lines = (stdout: string): Line[] =>
  stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Line);

describe('audit export as JSON lines (npm run admin -- audit:export)', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uop-audit-export-'));
    fs.writeFileSync(path.join(dir, 'clients.json'), JSON.stringify(testClientsFile()));
    env = { CERTS_DIR: path.join(dir, 'certs'), DATA_DIR: path.join(dir, 'data'), CLIENTS_FILE: path.join(dir, 'clients.json'), DEMO_DATA: 'false' };
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('when events were recorded, then the export prints one JSON object per line, oldest first, and resumes after an id', async () => {
    for (const login of ['siem1', 'siem2', 'siem3']) expect((await runScript(ADMIN, env, ['operator:create', '--login', login, '--name', login])).code).toBe(0);
    const all = await runScript(ADMIN, env, ['audit:export']);
    expect(all.code).toBe(0);
    const exported = lines(all.stdout).filter((line) => line.action === 'operator.create');
    expect(exported).toHaveLength(3);
    for (const line of exported) {
      expect(line).toMatchObject({ outcome: 'success', target: { type: 'operator', id: expect.any(String) } });
      expect(new Date(line.at).toISOString()).toBe(line.at);
    }
    const ids = lines(all.stdout).map((line) => BigInt(line.id));
    expect([...ids].sort((a, b) => (a < b ? -1 : 1))).toEqual(ids);

    const resumed = await runScript(ADMIN, env, ['audit:export', '--after-id', exported[0]!.id]);
    expect(lines(resumed.stdout).map((line) => line.id)).toEqual(
      lines(all.stdout)
        .map((line) => line.id)
        .filter((id) => BigInt(id) > BigInt(exported[0]!.id)),
    );
    const future = await runScript(ADMIN, env, ['audit:export', '--since', '2999-01-01T00:00:00Z']);
    expect([future.code, future.stdout]).toEqual([0, '']);
  });

  it.each([
    [['--since', 'yesterday'], '--since must be an ISO date or time'],
    [['--until', '2026-13-45'], '--until must be an ISO date or time'],
    [['--after-id', '1; DROP TABLE audit_event'], '--after-id must be the id of an exported event'],
  ])('when audit:export is given %j, then it exits 1 with one line', async (args, message) => {
    const run = await runScript(ADMIN, env, ['audit:export', ...args]);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe(`error: ${run.stderr.trim().slice(7)}`);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });
});

describe('AuditLog.export paging', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(() => database.drop());

  it('when more events exist than a page holds, then the pages together hold each event once, in order, within the time window', async () => {
    const log = (at: Date) => new AuditLog(database.db, () => at);
    const base = Date.parse('2026-11-30T00:00:00Z');
    for (let i = 0; i < 7; i += 1) await log(new Date(base + i * 60_000)).record({ actor: { type: 'system' } }, { action: 'test.paging', detail: { i } });
    const seen: number[] = [];
    const audit = new AuditLog(database.db);
    for await (const record of audit.export({ pageSize: 2, since: new Date(base + 60_000), until: new Date(base + 6 * 60_000) })) {
      if (record.action === 'test.paging') seen.push(record.detail.i as number);
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });
});
