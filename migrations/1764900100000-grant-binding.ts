import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * S-46: a grant belongs to the binding that authorised it. grant_unit records that binding; every access check
 * (refresh, userinfo, introspection, claims) requires that very binding to be in force, so a new binding of the
 * same person to the same unit never revives tokens issued under an earlier one.
 *
 * Existing links get the binding in force now for their (unit, person) when it was created before the link;
 * links for which there is none authorise nothing already (their access ended) and are removed.
 */
export class GrantBinding1764900100000 implements MigrationInterface {
  name = 'GrantBinding1764900100000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE grant_unit ADD COLUMN binding_id uuid REFERENCES binding (id) ON DELETE CASCADE');
    await runner.query(`
      UPDATE grant_unit g SET binding_id = b.id FROM binding b
      WHERE b.unit_id = g.unit_id AND b.person_id = g.person_id AND b.status = 'active' AND b.created_at <= g.created_at`);
    await runner.query('DELETE FROM grant_unit WHERE binding_id IS NULL');
    await runner.query('ALTER TABLE grant_unit ALTER COLUMN binding_id SET NOT NULL');
    await runner.query('CREATE INDEX grant_unit_client_person ON grant_unit (client_id, person_id, created_at)');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP INDEX grant_unit_client_person');
    await runner.query('ALTER TABLE grant_unit DROP COLUMN binding_id');
  }
}
