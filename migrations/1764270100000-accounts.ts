import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Persons, operators, one-time codes, throttling counters, the notification outbox and the append-only audit log.
 * Ids are application-generated UUIDs (never reused, S-44).
 */
export class Accounts1764270100000 implements MigrationInterface {
  name = 'Accounts1764270100000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE person (
        id                    uuid        PRIMARY KEY,
        login_name            text        NOT NULL CHECK (char_length(login_name) BETWEEN 4 AND 32),
        password_hash         text        NOT NULL,
        password_changed_at   timestamptz NOT NULL,
        mobile                text        NOT NULL CHECK (mobile ~ '^1[3-9][0-9]{9}$'),
        mobile_verified_at    timestamptz,
        realname_status       text        NOT NULL DEFAULT 'none'
                              CHECK (realname_status IN ('none', 'pending', 'verified', 'rejected')),
        legal_name            text        CHECK (char_length(legal_name) BETWEEN 2 AND 50),
        id_number_hmac        text,
        id_number_masked      text,
        realname_submitted_at timestamptz,
        realname_decided_at   timestamptz,
        realname_decided_by   uuid,
        realname_note         text,
        status                text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        created_at            timestamptz NOT NULL,
        updated_at            timestamptz NOT NULL,
        CHECK (realname_status = 'none' OR (legal_name IS NOT NULL AND id_number_hmac IS NOT NULL))
      )`);
    await runner.query('CREATE UNIQUE INDEX person_login_name_key ON person (lower(login_name))');
    await runner.query('CREATE UNIQUE INDEX person_mobile_key ON person (mobile)');
    await runner.query('CREATE UNIQUE INDEX person_id_number_key ON person (id_number_hmac) WHERE id_number_hmac IS NOT NULL');
    await runner.query("CREATE INDEX person_realname_pending ON person (realname_submitted_at) WHERE realname_status = 'pending'");

    await runner.query(`
      CREATE TABLE operator (
        id                uuid        PRIMARY KEY,
        login_name        text        NOT NULL CHECK (char_length(login_name) BETWEEN 3 AND 32),
        display_name      text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 50),
        password_hash     text        NOT NULL,
        totp_secret       text,
        totp_enrolled_at  timestamptz,
        totp_last_step    bigint,
        status            text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        created_at        timestamptz NOT NULL,
        updated_at        timestamptz NOT NULL
      )`);
    await runner.query('CREATE UNIQUE INDEX operator_login_name_key ON operator (lower(login_name))');

    await runner.query(`
      CREATE TABLE one_time_code (
        id           uuid        PRIMARY KEY,
        purpose      text        NOT NULL,
        subject      text        NOT NULL,
        destination  text        NOT NULL,
        code_hmac    text        NOT NULL,
        attempts     integer     NOT NULL DEFAULT 0,
        max_attempts integer     NOT NULL,
        created_at   timestamptz NOT NULL,
        expires_at   timestamptz NOT NULL,
        consumed_at  timestamptz
      )`);
    await runner.query('CREATE INDEX one_time_code_subject ON one_time_code (purpose, subject, created_at DESC)');

    await runner.query(`
      CREATE TABLE rate_limit (
        key           text        PRIMARY KEY,
        window_start  timestamptz NOT NULL,
        count         integer     NOT NULL,
        locked_until  timestamptz,
        lockouts      integer     NOT NULL DEFAULT 0
      )`);

    await runner.query(`
      CREATE TABLE notification_outbox (
        id          uuid        PRIMARY KEY,
        channel     text        NOT NULL CHECK (channel IN ('sms', 'email')),
        recipient   text        NOT NULL,
        template    text        NOT NULL,
        body        text        NOT NULL,
        created_at  timestamptz NOT NULL,
        sent_at     timestamptz,
        error       text
      )`);
    await runner.query('CREATE INDEX notification_outbox_recipient ON notification_outbox (recipient, created_at DESC)');

    await runner.query(`
      CREATE TABLE audit_event (
        id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at              timestamptz NOT NULL,
        action          text        NOT NULL,
        outcome         text        NOT NULL CHECK (outcome IN ('success', 'failure')),
        actor_type      text        NOT NULL CHECK (actor_type IN ('person', 'unit', 'operator', 'system', 'anonymous')),
        actor_id        text,
        acting_unit_id  uuid,
        target_type     text,
        target_id       text,
        ip              text,
        request_id      text,
        detail          jsonb       NOT NULL DEFAULT '{}'::jsonb
      )`);
    await runner.query('CREATE INDEX audit_event_at ON audit_event (at DESC)');
    await runner.query('CREATE INDEX audit_event_actor ON audit_event (actor_type, actor_id, at DESC)');
    await runner.query('CREATE INDEX audit_event_target ON audit_event (target_type, target_id, at DESC)');
    await runner.query('CREATE INDEX audit_event_unit ON audit_event (acting_unit_id, at DESC) WHERE acting_unit_id IS NOT NULL');
    await runner.query(`
      CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_event is append-only';
      END $$`);
    await runner.query(`
      CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
      FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE audit_event');
    await runner.query('DROP FUNCTION audit_event_append_only()');
    await runner.query('DROP TABLE notification_outbox');
    await runner.query('DROP TABLE rate_limit');
    await runner.query('DROP TABLE one_time_code');
    await runner.query('DROP TABLE operator');
    await runner.query('DROP TABLE person');
  }
}
