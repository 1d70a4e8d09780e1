import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for cost that stays flat as data grows (issue #15, Q-P6), found with EXPLAIN on the preloaded database
 * of the scale benchmark (bench/scale-explain.ts, bench/results/scale-explain-*.md):
 * - 子账户信息 reads a unit's live bindings a page at a time, contact first: without an index in that order every
 *   page reads and sorts all of a unit's bindings (thousands for a large unit);
 * - the periodic sweep deletes consumed artefacts past the replay window: without an index on consumed_at each
 *   batch scanned the whole oidc_model table (millions of live rows) to find them;
 * - the unit log reads a unit's entries newest first with the id as tie-break (ORDER BY at DESC, id DESC): the
 *   index on (acting_unit_id, at DESC) did not give that order, so the planner walked the global `at` index and
 *   filtered by unit, which is fast only while the unit's entries are the newest of the whole log. The new index
 *   replaces it (same rows, one more column), so audit writes keep the same number of indexes.
 */
export class ScaleIndexes1765150000001 implements MigrationInterface {
  name = 'ScaleIndexes1765150000001';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`CREATE INDEX binding_unit_page ON binding (unit_id, (role = 'contact') DESC, created_at, id) WHERE status IN ('pending', 'active')`);
    await runner.query('CREATE INDEX oidc_model_consumed_at ON oidc_model (consumed_at) WHERE consumed_at IS NOT NULL');
    await runner.query('CREATE INDEX audit_event_unit_page ON audit_event (acting_unit_id, at DESC, id DESC) WHERE acting_unit_id IS NOT NULL');
    await runner.query('DROP INDEX audit_event_unit');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('CREATE INDEX audit_event_unit ON audit_event (acting_unit_id, at DESC) WHERE acting_unit_id IS NOT NULL');
    await runner.query('DROP INDEX audit_event_unit_page');
    await runner.query('DROP INDEX oidc_model_consumed_at');
    await runner.query('DROP INDEX binding_unit_page');
  }
}
