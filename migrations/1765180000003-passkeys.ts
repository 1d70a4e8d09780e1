import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Passkeys (WebAuthn) of persons (issue #18): the credential's public key and signature counter, and the one-time
 * challenges of registrations and sign-ins (consumed by the check that uses them).
 */
export class Passkeys1765180000003 implements MigrationInterface {
  name = 'Passkeys1765180000003';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE person_passkey (
        id            uuid        PRIMARY KEY,
        person_id     uuid        NOT NULL REFERENCES person (id),
        credential_id text        NOT NULL UNIQUE CHECK (char_length(credential_id) BETWEEN 16 AND 1400),
        public_key    text        NOT NULL,
        counter       bigint      NOT NULL DEFAULT 0,
        transports    text[]      NOT NULL DEFAULT '{}',
        device_type   text        NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
        backed_up     boolean     NOT NULL,
        created_at    timestamptz NOT NULL,
        last_used_at  timestamptz
      )`);
    await runner.query('CREATE INDEX person_passkey_person ON person_passkey (person_id)');
    await runner.query(`
      CREATE TABLE webauthn_challenge (
        challenge  text        PRIMARY KEY,
        purpose    text        NOT NULL CHECK (purpose IN ('register', 'authenticate')),
        subject    text        NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE webauthn_challenge');
    await runner.query('DROP TABLE person_passkey');
  }
}
