import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Certificate squatting (issue #11, S-22): an appeal of kind `takeover` asks that the real unit take over an
 * unverified unit account registered with its certificate by someone else. The applicant names his or her own
 * person account (`applicant_account`, as typed: login name or mobile). It is resolved only when the operator
 * decides, so that filing never tells whether an account exists or is verified (S-29); approval makes that person,
 * if real-name verified, the unit's only binding, its common contact.
 */
export class AppealTakeover1764900800000 implements MigrationInterface {
  name = 'AppealTakeover1764900800000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`ALTER TABLE appeal DROP CONSTRAINT appeal_kind_check`);
    await runner.query(`ALTER TABLE appeal ADD CONSTRAINT appeal_kind_check CHECK (kind IN ('account', 'password', 'takeover'))`);
    await runner.query(`ALTER TABLE appeal ADD COLUMN applicant_account text CHECK (char_length(applicant_account) BETWEEN 1 AND 64)`);
    await runner.query(`ALTER TABLE appeal ADD CONSTRAINT appeal_takeover_applicant CHECK ((kind = 'takeover') = (applicant_account IS NOT NULL))`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query(`DELETE FROM appeal WHERE kind = 'takeover'`);
    await runner.query(`ALTER TABLE appeal DROP CONSTRAINT appeal_takeover_applicant`);
    await runner.query(`ALTER TABLE appeal DROP COLUMN applicant_account`);
    await runner.query(`ALTER TABLE appeal DROP CONSTRAINT appeal_kind_check`);
    await runner.query(`ALTER TABLE appeal ADD CONSTRAINT appeal_kind_check CHECK (kind IN ('account', 'password'))`);
  }
}
