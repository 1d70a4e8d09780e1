import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-unit policy (issue #18): a unit that requires a second factor of every handler acting for it has a row here
 * (when the unit console turned it on). No row: the password is enough for that unit.
 */
export class UnitMfaPolicy1765180000002 implements MigrationInterface {
  name = 'UnitMfaPolicy1765180000002';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE unit_mfa_policy (
        unit_id     uuid        PRIMARY KEY REFERENCES unit (id),
        required_at timestamptz NOT NULL
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE unit_mfa_policy');
  }
}
