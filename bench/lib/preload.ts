// Provincial-size data for the scale benchmark (Q-P6, bench/scale.ts), generated inside PostgreSQL with set-based
// SQL (generate_series, INSERT … SELECT): one statement per table, no row crosses the wire. Rows are valid for the
// schema's constraints (unique live bindings, one contact per unit, mobile numbers, login names) and their ids are
// derived from their number (md5 → uuid), so bindings and audit rows can point at persons and units without a join.
import { performance } from 'node:perf_hooks';
import type { Database, Queryable } from '../../src/shared/db/database.js';
import { keysWithPrefix } from '../../src/shared/i18n/index.js';

/** The sizes of issue #15 at factor 1. */
export const FULL_SIZE = { persons: 1_000_000, units: 200_000, bindings: 2_000_000, oidcModels: 5_000_000, audit: 10_000_000 };

export type Sizes = typeof FULL_SIZE;

export function scaled(factor: number): Sizes {
  const of = (value: number) => Math.max(1, Math.round(value * factor));
  return { persons: of(FULL_SIZE.persons), units: of(FULL_SIZE.units), bindings: of(FULL_SIZE.bindings), oidcModels: of(FULL_SIZE.oidcModels), audit: of(FULL_SIZE.audit) };
}

const personId = (n: string) => `md5('bulk-person-' || (${n}))::uuid`;
const unitId = (n: string) => `md5('bulk-unit-' || (${n}))::uuid`;
/**
 * An identifier shaped like the ones node-oidc-provider generates (nanoid: 43 characters of the URL-safe base64
 * alphabet, uniformly random), derived from `tag` and the row number: the preloaded artefacts' ids, sessions' uids
 * and grant ids are spread over the key space as a live database's are, so a new token's index entries land between
 * existing ones, on pages written long before, as they would in production. (Ids like 'bulk' || n sort together
 * in one corner of each index: every new random id then lands beside them, on the few pages the run itself fills,
 * and the preloaded database behaved like an empty one for every insert; issue #15, Q-P6.)
 */
export const artefactId = (tag: string, n: string) => `translate(rtrim(encode(sha256(convert_to('${tag}-' || (${n}), 'UTF8')), 'base64'), '='), '+/', '-_')`;

/** Loads the sizes into an empty, migrated database; returns the seconds each table took. */
export async function preload(database: Database, sizes: Sizes): Promise<Record<string, number>> {
  const seconds: Record<string, number> = {};
  // Units and their contact bindings in one transaction: a deferred trigger wants exactly one contact per unit.
  await database.transaction((db) => loadTables(db, sizes, seconds));
  const start = performance.now();
  // VACUUM as well: a live database's tables have been vacuumed long since (visibility map, hint bits), and with
  // autovacuum on (bench/with-own-postgres.sh) it would otherwise vacuum the freshly loaded tables for minutes in
  // the middle of the measurement.
  await database.query('VACUUM (ANALYZE)');
  seconds.vacuum_analyze = (performance.now() - start) / 1000;
  return seconds;
}

async function loadTables(db: Queryable, sizes: Sizes, seconds: Record<string, number>): Promise<void> {
  const timed = async (name: string, sql: string, params: unknown[]) => {
    const start = performance.now();
    await db.query(sql, params);
    seconds[name] = (performance.now() - start) / 1000;
  };
  const { persons, units, bindings, oidcModels, audit } = sizes;
  await timed(
    'person',
    `
    INSERT INTO person (id, login_name, password_hash, password_changed_at, mobile, created_at, updated_at)
    SELECT ${personId('n')}, 'bulk' || n, 'not-a-hash', now(), '16' || lpad(n::text, 9, '0'), now() - n * interval '1 second', now()
      FROM generate_series(1, $1::int) AS n`,
    [persons],
  );
  await timed(
    'unit',
    `
    INSERT INTO unit (id, name, cert_type, cert_no, login_name, password_hash, password_changed_at, verified_at, verified_by, registered_by, created_at, updated_at)
    SELECT ${unitId('n')}, '批量单位' || n, 'other', 'BULK' || n, 'bulkunit' || n, 'not-a-hash', now(), now(), 'bench',
           ${personId('1 + n % $2::int')}, now() - n * interval '1 second', now()
      FROM generate_series(1, $1::int) AS n`,
    [units, persons],
  );
  // Every unit has its contact; the other bindings are handlers, up to ten rounds over the units, each round
  // with another person (offset by a tenth of the persons), a tenth of them ended.
  const handlers = Math.max(0, bindings - units);
  await timed(
    'binding',
    `
    INSERT INTO binding (id, unit_id, person_id, role, status, scopes, created_at, updated_at, accepted_at, ended_at)
    SELECT md5('bulk-binding-' || n)::uuid, ${unitId('1 + n % $2::int')},
           CASE WHEN n < $2::int THEN ${personId('1 + n % $3::int')}
                ELSE ${personId('1 + ((n % $2::int) + (n / $2::int) * (1 + $3::int / 12)) % $3::int')} END,
           CASE WHEN n < $2::int THEN 'contact' ELSE 'handler' END,
           CASE WHEN n >= $2::int AND n % 10 = 0 THEN 'unbound' ELSE 'active' END,
           '{biz:continuing_education}', now() - n * interval '1 second', now(), now(),
           CASE WHEN n >= $2::int AND n % 10 = 0 THEN now() END
      FROM generate_series(0, $1::int - 1) AS n`,
    [units + handlers, units, persons],
  );
  // Live provider artefacts: a grant per four rows, its tokens, sessions with their uid; all unexpired.
  await timed(
    'oidc_model',
    `
    INSERT INTO oidc_model (model, id, payload, grant_id, uid, account_id, expires_at)
    SELECT m.model, ${artefactId('bulk', 'n')}, jsonb_build_object('kind', m.model, 'jti', ${artefactId('bulk', 'n')}, 'accountId', ${personId('1 + n % $2::int')}::text),
           CASE WHEN m.model IN ('AccessToken', 'RefreshToken', 'AuthorizationCode') THEN ${artefactId('bulk-grant', 'n / 4')} END,
           CASE WHEN m.model = 'Session' THEN ${artefactId('bulk-uid', 'n')} END,
           ${personId('1 + n % $2::int')}::text, now() + interval '1 day' + (n % 3600) * interval '1 second'
      FROM generate_series(1, $1::int) AS n,
           LATERAL (SELECT (ARRAY['AccessToken', 'RefreshToken', 'Grant', 'Session', 'AuthorizationCode', 'ClientCredentials', 'Interaction'])[1 + n % 7] AS model) AS m`,
    [oidcModels, persons],
  );
  // The audit trail: persons acting, half of them for a unit, over the last year.
  await timed(
    'audit_event',
    `
    INSERT INTO audit_event (at, action, outcome, actor_type, actor_id, acting_unit_id, target_type, target_id, detail)
    SELECT now() - (n % 31536000) * interval '1 second', ($4::text[])[1 + n % cardinality($4::text[])], 'success', 'person',
           ${personId('1 + n % $2::int')}::text, CASE WHEN n % 2 = 0 THEN ${unitId('1 + n % $3::int')} END,
           'unit', ${unitId('1 + n % $3::int')}::text, '{}'::jsonb
      FROM generate_series(1, $1::int) AS n`,
    [audit, persons, units, keysWithPrefix('audit.action.').map((key) => key.slice('audit.action.'.length))],
  );
}

/**
 * `count` handlers bound to `unit` (persons inserted with it, set-based) and `logRows` entries of the unit's log:
 * the unit of 子账户信息 and of the unit log. Returns nothing: the pages read them.
 */
export async function addHandlers(db: Queryable, unit: string, count: number, logRows: number, tag: string): Promise<void> {
  await db.query(
    `
    WITH people AS (
      INSERT INTO person (id, login_name, password_hash, password_changed_at, mobile, created_at, updated_at)
      SELECT md5($3 || '-person-' || n)::uuid, $3 || n, 'not-a-hash', now(), '15' || lpad(n::text, 9, '0'), now(), now()
        FROM generate_series(1, $2::int) AS n
      RETURNING id)
    INSERT INTO binding (id, unit_id, person_id, role, status, scopes, created_at, updated_at, accepted_at)
    SELECT gen_random_uuid(), $1::uuid, id, 'handler', 'active', '{biz:continuing_education}', now(), now(), now() FROM people`,
    [unit, count, tag],
  );
  await db.query(
    `
    INSERT INTO audit_event (at, action, outcome, actor_type, actor_id, acting_unit_id, target_type, target_id, detail)
    SELECT now() - n * interval '1 minute', 'unit.bind', 'success', 'unit', $1::text, $1::uuid, 'person', md5($3 || '-person-' || (1 + n % $4::int))::uuid::text, '{}'::jsonb
      FROM generate_series(1, $2::int) AS n`,
    [unit, logRows, tag, Math.max(1, count)],
  );
}

/**
 * Units (verified) with `person` as their common contact (a unit must have one, and it is a live binding like a
 * handler's): the unit picker of a person with many bindings.
 */
export async function bindUnits(database: Database, person: string, count: number, tag: string): Promise<string[]> {
  const { rows } = await database.transaction((db) =>
    db.query<{ id: string }>(
      `
    WITH units AS (
      INSERT INTO unit (id, name, cert_type, cert_no, login_name, password_hash, password_changed_at, verified_at, verified_by, registered_by, created_at, updated_at)
      SELECT md5($3 || '-unit-' || n)::uuid, '压测单位' || n, 'other', $3 || 'C' || n, $3 || 'u' || n, 'not-a-hash', now(), now(), 'bench', $1::uuid, now(), now()
        FROM generate_series(1, $2::int) AS n
      RETURNING id)
    INSERT INTO binding (id, unit_id, person_id, role, status, scopes, created_at, updated_at, accepted_at)
    SELECT gen_random_uuid(), id, $1::uuid, 'contact', 'active', '{biz:continuing_education}', now(), now(), now() FROM units
    RETURNING unit_id AS id`,
      [person, count, tag],
    ),
  );
  return rows.map((row) => row.id);
}

/**
 * `count` expired provider artefacts (access tokens that ended in the hour before, a millisecond apart, as tokens
 * issued one after another expire): what the periodic sweep removes.
 */
export async function addExpired(db: Queryable, count: number, tag: string): Promise<void> {
  await db.query(
    `
    INSERT INTO oidc_model (model, id, payload, grant_id, account_id, expires_at)
    SELECT 'AccessToken', $2 || n, jsonb_build_object('kind', 'AccessToken', 'jti', $2 || n), $2 || 'g' || (n / 4), 'expired', now() - interval '1 hour' + (n % 3600000) * interval '1 millisecond'
      FROM generate_series(1, $1::int) AS n`,
    [count, tag],
  );
}
