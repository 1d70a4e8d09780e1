import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When the person last chose this unit in the unit picker (issue #15, Q-P6): a person bound to hundreds of units
 * sees the units used most recently first, a page at a time, instead of every unit at once. Null: never chosen.
 */
export class BindingLastSelected1765190000001 implements MigrationInterface {
  name = 'BindingLastSelected1765190000001';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE binding ADD COLUMN last_selected_at timestamptz');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE binding DROP COLUMN last_selected_at');
  }
}
