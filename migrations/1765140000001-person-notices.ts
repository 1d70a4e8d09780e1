import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Notices to people (issue 14): what a unit did to a person's binding (an invitation, an unbinding), shown in the
 * account centre until read, besides the SMS sent through the notifier in the same transaction. Invariants: a
 * notice belongs to one person and names one unit and binding; its kind is one of the known ones; it is read at
 * most once (read_at set once, never before it was written). Notices go with their person or binding
 * (ON DELETE CASCADE): a re-created account never inherits them (S-44); the audit log keeps the history.
 */
export class PersonNotices1765140000001 implements MigrationInterface {
  name = 'PersonNotices1765140000001';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE person_notice (
        id          uuid        PRIMARY KEY,
        person_id   uuid        NOT NULL REFERENCES person (id) ON DELETE CASCADE,
        kind        text        NOT NULL CHECK (kind IN ('binding_invited', 'binding_removed')),
        -- no foreign key of its own: the unit is the binding's (which has one), and a key-share lock on the unit row
        -- from an unbinding would invert the lock order of 设为常用联系人 (unit, then bindings) and deadlock
        unit_id     uuid        NOT NULL,
        binding_id  uuid        NOT NULL REFERENCES binding (id) ON DELETE CASCADE,
        -- the unit's name when it happened (a later name change does not rewrite what the person was told)
        unit_name   text        NOT NULL CHECK (char_length(unit_name) BETWEEN 1 AND 200),
        created_at  timestamptz NOT NULL,
        read_at     timestamptz,
        CHECK (read_at IS NULL OR read_at >= created_at)
      )`);
    await runner.query('CREATE INDEX person_notice_person ON person_notice (person_id, created_at DESC)');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE person_notice');
  }
}
