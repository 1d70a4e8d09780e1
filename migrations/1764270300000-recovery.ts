import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Appeals (申诉, R-R3): an applicant's request to recover a unit account or its password, with the uploaded
 * certificate documents stored in the database (outside the web root, S-35). The unit is the one registered
 * with the certificate when the appeal was filed (none for an unknown certificate: the form never says so,
 * S-22). An approved appeal holds the HMAC of a single-use link, never the link itself.
 */
export class Recovery1764270300000 implements MigrationInterface {
  name = 'Recovery1764270300000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE appeal (
        id               uuid        PRIMARY KEY,
        reference        text        NOT NULL UNIQUE CHECK (reference ~ '^[A-Z0-9]{12}$'),
        kind             text        NOT NULL CHECK (kind IN ('account', 'password')),
        cert_type        text        NOT NULL,
        cert_no          text        NOT NULL CHECK (char_length(cert_no) BETWEEN 2 AND 40),
        unit_id          uuid        REFERENCES unit (id),
        applicant_name   text        NOT NULL CHECK (char_length(applicant_name) BETWEEN 2 AND 50),
        contact_channel  text        NOT NULL CHECK (contact_channel IN ('sms', 'email')),
        contact          text        NOT NULL CHECK (char_length(contact) BETWEEN 3 AND 254),
        locale           text        NOT NULL CHECK (locale IN ('zh-CN', 'en')),
        status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'completed')),
        submitted_ip     text,
        created_at       timestamptz NOT NULL,
        decided_at       timestamptz,
        decided_by       uuid        REFERENCES operator (id),
        decision_note    text,
        link_hmac        text        UNIQUE,
        link_expires_at  timestamptz,
        link_used_at     timestamptz,
        CHECK ((status = 'pending') = (decided_at IS NULL)),
        CHECK (status NOT IN ('approved', 'completed') OR (link_hmac IS NOT NULL AND link_expires_at IS NOT NULL)),
        CHECK ((status = 'completed') = (link_used_at IS NOT NULL))
      )`);
    await runner.query('CREATE INDEX appeal_status ON appeal (status, created_at)');
    await runner.query('CREATE INDEX appeal_unit ON appeal (unit_id) WHERE unit_id IS NOT NULL');

    await runner.query(`
      CREATE TABLE appeal_document (
        id            uuid        PRIMARY KEY,
        appeal_id     uuid        NOT NULL REFERENCES appeal (id) ON DELETE CASCADE,
        seq           integer     NOT NULL CHECK (seq BETWEEN 1 AND 5),
        filename      text        NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 100),
        content_type  text        NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
        size          integer     NOT NULL CHECK (size BETWEEN 1 AND 5242880),
        sha256        text        NOT NULL,
        content       bytea       NOT NULL,
        created_at    timestamptz NOT NULL,
        UNIQUE (appeal_id, seq)
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE appeal_document');
    await runner.query('DROP TABLE appeal');
  }
}
