// Q-P6: the query plans of the statements the scale benchmark's paths run whose cost could grow with the data
// (lists and sweeps; the token endpoints' lookups are by primary key), on a database preloaded like bench/scale.ts
// (--factor, default 0.1), with EXPLAIN (ANALYZE, BUFFERS). Deletes are explained inside a rolled-back
// transaction. Writes bench/results/scale-explain-<factor>.md. A fresh database next to TEST_DATABASE_URL /
// BENCH_DATABASE_URL, dropped at the end.
import { migrate, openDatabase, type Queryable } from '../src/shared/db/database.js';
import { REPLAY_DETECTION_MS, SWEEP_BATCH_STATEMENTS, SWEEP_START } from '../src/oidc/adapter.js';
import { createPostgresDatabase } from '../test/support/database.js';
import { addExpired, addHandlers, artefactId, bindUnits, preload, scaled } from './lib/preload.js';
import { fixed, keyValues, log, machine, option, writeResult } from './lib/report.js';

const factor = Number(option('factor', 'BENCH_FACTOR', '0.1'));
const handlers = Number(option('handlers', 'BENCH_HANDLERS', '5000'));
process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

const info = machine();
const created = await createPostgresDatabase();
const db = await openDatabase({ url: created.url, poolSize: 2 });
const sections: string[] = [];
try {
  await migrate(db);
  const sizes = scaled(factor);
  log(`preloading ${JSON.stringify(sizes)}`);
  const seconds = await preload(db, sizes);
  log(`preloaded: ${JSON.stringify(seconds)}`);
  const person = '00000000-0000-4000-8000-000000000001';
  await db.query(
    `INSERT INTO person (id, login_name, password_hash, password_changed_at, mobile, created_at, updated_at)
                  VALUES ($1, 'explainer', 'x', now(), '14000000001', now(), now())`,
    [person],
  );
  const [unit] = await bindUnits(db, person, 200, 'explain');
  await addHandlers(db, unit!, handlers, handlers * 10, 'explainh');
  await addExpired(db, Math.round(1_000_000 * factor), 'explainexp');
  await db.query('ANALYZE');
  const { rows: someBindings } = await db.query<{ person_id: string }>('SELECT person_id FROM binding WHERE unit_id = $1 LIMIT 51', [unit]);
  const live = "('pending', 'active')";
  const now = new Date();
  const statements: [string, string, unknown[]][] = [
    [
      "子账户信息: one page of the unit's bindings (src/modules/bindings/store.ts listForUnit)",
      `SELECT id FROM binding WHERE unit_id = $1 AND status IN ${live} ORDER BY (role = 'contact') DESC, created_at, id LIMIT $2 OFFSET $3`,
      [unit, 51, 0],
    ],
    [
      '子账户信息: a deep page (page 100)',
      `SELECT id FROM binding WHERE unit_id = $1 AND status IN ${live} ORDER BY (role = 'contact') DESC, created_at, id LIMIT $2 OFFSET $3`,
      [unit, 51, 99 * 50],
    ],
    ['子账户信息: the persons of a page (persons.byIds)', 'SELECT id FROM person WHERE id = ANY($1::uuid[])', [someBindings.map((row) => row.person_id)]],
    [
      'unit log: first page (src/modules/audit/audit-log.ts list)',
      'SELECT id FROM audit_event WHERE acting_unit_id = $1 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3',
      [unit, 51, 0],
    ],
    ["unit picker: the person's live bindings (listForPerson)", `SELECT id FROM binding WHERE person_id = $1 AND status IN ${live} ORDER BY created_at`, [person]],
    [
      'unit picker: their units (units.byIds)',
      'SELECT id FROM unit WHERE id = ANY($1::uuid[])',
      [(await db.query<{ unit_id: string }>('SELECT unit_id FROM binding WHERE person_id = $1', [person])).rows.map((row) => row.unit_id)],
    ],
    [
      'token endpoints: an artefact by id (adapter find)',
      'SELECT payload FROM oidc_model WHERE model = $1 AND id = $2',
      ['AccessToken', (await db.query<{ id: string }>(`SELECT ${artefactId('bulk', '7')} AS id`)).rows[0]!.id],
    ],
    ...SWEEP_BATCH_STATEMENTS.map((sql, index): [string, string, unknown[]] => [
      `sweep: one batch of ${index === 0 ? 'expired artefacts' : 'artefacts consumed past the replay window'} (src/oidc/adapter.ts sweepExpired)`,
      sql,
      [index === 0 ? now : new Date(now.getTime() - REPLAY_DETECTION_MS), 1000, SWEEP_START],
    ]),
  ];
  for (const [title, sql, params] of statements) {
    const explain = async (q: Queryable) => (await q.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params)).rows.map((row) => row['QUERY PLAN']).join('\n');
    let plan = '';
    await db
      .transaction(async (tx) => {
        plan = await explain(tx);
        throw new Error('rollback');
      })
      .catch((error: unknown) => {
        if (!(error instanceof Error && error.message === 'rollback')) throw error;
      });
    sections.push(`### ${title}\n\n\`\`\`sql\n${sql.replace(/\s+/g, ' ')}\n\`\`\`\n\n\`\`\`\n${plan}\n\`\`\``);
    log(`${title}: ${/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? '?'} ms`);
  }
  const written = writeResult(
    `scale-explain-${factor}`,
    `# Q-P6 · Query plans on the preloaded database (factor ${factor})

\`node --import ./bench/register.mjs bench/scale-explain.ts --factor ${factor}\`: the statements of the scale benchmark's
paths whose cost could grow with the data, on a database preloaded as by \`npm run bench:scale\`
(${Object.entries(sizes)
      .map(([key, value]) => `${value.toLocaleString('en')} ${key}`)
      .join(', ')}), plus a unit with ${handlers}
handlers and ${handlers * 10} log entries, a person with 200 units and ${Math.round(1_000_000 * factor).toLocaleString('en')} expired
artefacts. EXPLAIN (ANALYZE, BUFFERS), each in a rolled-back transaction. Select lists are shortened to \`id\`.

## Machine

${keyValues({
  ...info,
  'preload seconds': Object.entries(seconds)
    .map(([key, value]) => `${key} ${fixed(value)}`)
    .join(', '),
})}

## Plans

${sections.join('\n\n')}
`,
  );
  log(`wrote ${written}`);
} finally {
  await db.close();
  await created.drop();
}
