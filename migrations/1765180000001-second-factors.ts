import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Second factors of persons (issue #18): one TOTP authenticator per person (secret sealed with the data key, the
 * last step used so that a code works once) and single-use recovery codes, stored as keyed digests only.
 */
export class SecondFactors1765180000001 implements MigrationInterface {
  name = 'SecondFactors1765180000001';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE person_totp (
        person_id    uuid        PRIMARY KEY REFERENCES person (id),
        secret       text        NOT NULL,
        enrolled_at  timestamptz,
        last_step    bigint,
        created_at   timestamptz NOT NULL
      )`);
    await runner.query(`
      CREATE TABLE person_recovery_code (
        id         uuid        PRIMARY KEY,
        person_id  uuid        NOT NULL REFERENCES person (id),
        code_hmac  text        NOT NULL,
        created_at timestamptz NOT NULL,
        used_at    timestamptz
      )`);
    await runner.query('CREATE INDEX person_recovery_code_person ON person_recovery_code (person_id) WHERE used_at IS NULL');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE person_recovery_code');
    await runner.query('DROP TABLE person_totp');
  }
}
