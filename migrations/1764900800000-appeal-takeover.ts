import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Certificate squatting (issue #11, S-22): an appeal of kind `takeover` asks that the real unit take over an
 * unverified unit account registered with its certificate by someone else. The applicant is a real-name verified
 * person (`applicant_person_id`); approval makes that person the unit's only binding, its common contact.
 */
export class AppealTakeover1764900800000 implements MigrationInterface {
  name = 'AppealTakeover1764900800000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE appeal DROP CONSTRAINT appeal_kind_check`);
    await runner.query(`ALTER TABLE appeal ADD CONSTRAINT appeal_kind_check CHECK (kind IN ('account', 'password', 'takeover'))`);
    await runner.query(`ALTER TABLE appeal ADD COLUMN applicant_person_id uuid REFERENCES person (id)`);
    await runner.query(`ALTER TABLE appeal ADD CONSTRAINT appeal_takeover_applicant CHECK ((kind = 'takeover') = (applicant_person_id IS NOT NULL))`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DELETE FROM appeal WHERE kind = 'takeover'`);
    await runner.query(`ALTER TABLE appeal DROP CONSTRAINT appeal_takeover_applicant`);
    await runner.query(`ALTER TABLE appeal DROP COLUMN applicant_person_id`);
    await runner.query(`ALTER TABLE appeal DROP CONSTRAINT appeal_kind_check`);
    await runner.query(`ALTER TABLE appeal ADD CONSTRAINT appeal_kind_check CHECK (kind IN ('account', 'password'))`);
  }
}
