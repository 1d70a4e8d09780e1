import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Units, their name history, handler bindings and counter verification codes. The invariants are enforced here
 * as well as in code, so concurrent requests cannot break them: unique (certificate type, number); one live
 * binding per (unit, person); exactly one active common contact per unit (a deferred constraint trigger checks
 * "at least one" at commit, a partial unique index "at most one"); one live verification code per unit.
 */
export class Units1764270200000 implements MigrationInterface {
  name = 'Units1764270200000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE unit (
        id                  uuid        PRIMARY KEY,
        name                text        NOT NULL CHECK (char_length(name) BETWEEN 2 AND 100),
        cert_type           text        NOT NULL CHECK (cert_type IN ('uscc', 'org_code', 'business_license', 'public_institution', 'other')),
        cert_no             text        NOT NULL CHECK (char_length(cert_no) BETWEEN 2 AND 40),
        login_name          text        NOT NULL CHECK (char_length(login_name) BETWEEN 4 AND 32),
        password_hash       text        NOT NULL,
        password_changed_at timestamptz NOT NULL,
        verified_at         timestamptz,
        verified_by         text,
        status              text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
        registered_by       uuid        NOT NULL REFERENCES person (id),
        created_at          timestamptz NOT NULL,
        updated_at          timestamptz NOT NULL
      )`);
    await runner.query('CREATE UNIQUE INDEX unit_certificate_key ON unit (cert_type, cert_no)');
    await runner.query('CREATE UNIQUE INDEX unit_login_name_key ON unit (lower(login_name))');
    await runner.query('CREATE INDEX unit_cert_no ON unit (cert_no)');

    await runner.query(`
      CREATE TABLE unit_name_history (
        id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        unit_id     uuid        NOT NULL REFERENCES unit (id),
        old_name    text        NOT NULL,
        new_name    text        NOT NULL,
        changed_at  timestamptz NOT NULL,
        changed_by  text        NOT NULL
      )`);
    await runner.query('CREATE INDEX unit_name_history_unit ON unit_name_history (unit_id, changed_at DESC)');

    await runner.query(`
      CREATE TABLE binding (
        id           uuid        PRIMARY KEY,
        unit_id      uuid        NOT NULL REFERENCES unit (id),
        person_id    uuid        NOT NULL REFERENCES person (id),
        role         text        NOT NULL CHECK (role IN ('handler', 'contact')),
        status       text        NOT NULL CHECK (status IN ('pending', 'active', 'declined', 'unbound')),
        scopes       text[]      NOT NULL DEFAULT '{}',
        valid_from   timestamptz,
        valid_until  timestamptz,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        accepted_at  timestamptz,
        ended_at     timestamptz,
        -- set when the expiry of the validity period has been acted on (grants revoked, R-B6)
        expiry_processed_at timestamptz,
        CHECK (role = 'handler' OR status = 'active'),
        CHECK (valid_until IS NULL OR valid_from IS NULL OR valid_until > valid_from)
      )`);
    await runner.query("CREATE UNIQUE INDEX binding_live_key ON binding (unit_id, person_id) WHERE status IN ('pending', 'active')");
    await runner.query("CREATE UNIQUE INDEX binding_contact_key ON binding (unit_id) WHERE role = 'contact' AND status = 'active'");
    await runner.query("CREATE INDEX binding_person ON binding (person_id) WHERE status IN ('pending', 'active')");
    await runner.query("CREATE INDEX binding_expiring ON binding (valid_until) WHERE status = 'active' AND valid_until IS NOT NULL AND expiry_processed_at IS NULL");
    await runner.query(`
      CREATE FUNCTION unit_has_one_contact(affected uuid) RETURNS void LANGUAGE plpgsql AS $$
      DECLARE
        contacts integer;
      BEGIN
        -- a unit deleted in the same transaction needs no contact
        IF NOT EXISTS (SELECT 1 FROM unit WHERE id = affected) THEN
          RETURN;
        END IF;
        SELECT count(*) INTO contacts FROM binding WHERE unit_id = affected AND role = 'contact' AND status = 'active';
        IF contacts <> 1 THEN
          RAISE EXCEPTION 'unit % must have exactly one active common contact, has %', affected, contacts
            USING ERRCODE = '23514', CONSTRAINT = 'unit_one_contact';
        END IF;
      END $$`);
    await runner.query(`
      CREATE FUNCTION binding_one_contact() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'UPDATE' OR TG_OP = 'DELETE' THEN
          PERFORM unit_has_one_contact(OLD.unit_id);
        END IF;
        IF TG_OP = 'INSERT' OR TG_OP = 'UPDATE' THEN
          PERFORM unit_has_one_contact(NEW.unit_id);
        END IF;
        RETURN NULL;
      END $$`);
    await runner.query(`
      CREATE CONSTRAINT TRIGGER binding_one_contact AFTER INSERT OR UPDATE OR DELETE ON binding
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION binding_one_contact()`);
    await runner.query(`
      CREATE FUNCTION unit_one_contact() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM unit_has_one_contact(NEW.id);
        RETURN NULL;
      END $$`);
    // A unit is registered together with its first contact (R-U1): it cannot be committed without one.
    await runner.query(`
      CREATE CONSTRAINT TRIGGER unit_one_contact AFTER INSERT ON unit
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION unit_one_contact()`);
    // A binding always belongs to the same unit and person (S-44): they are never reassigned.
    await runner.query(`
      CREATE FUNCTION binding_fixed_parties() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.unit_id <> OLD.unit_id OR NEW.person_id <> OLD.person_id THEN
          RAISE EXCEPTION 'a binding keeps its unit and person' USING ERRCODE = '23514', CONSTRAINT = 'binding_fixed_parties';
        END IF;
        RETURN NEW;
      END $$`);
    await runner.query(`
      CREATE TRIGGER binding_fixed_parties BEFORE UPDATE ON binding FOR EACH ROW EXECUTE FUNCTION binding_fixed_parties()`);

    await runner.query(`
      CREATE TABLE unit_verification_code (
        id             uuid        PRIMARY KEY,
        unit_id        uuid        NOT NULL REFERENCES unit (id),
        code_hmac      text        NOT NULL,
        hint           text        NOT NULL,
        issued_by      uuid        NOT NULL REFERENCES operator (id),
        issued_at      timestamptz NOT NULL,
        expires_at     timestamptz NOT NULL,
        attempts       integer     NOT NULL DEFAULT 0,
        used_at        timestamptz,
        used_by        text,
        invalidated_at timestamptz
      )`);
    await runner.query('CREATE UNIQUE INDEX unit_verification_code_live ON unit_verification_code (unit_id) WHERE used_at IS NULL AND invalidated_at IS NULL');
    await runner.query('CREATE INDEX unit_verification_code_unit ON unit_verification_code (unit_id, issued_at DESC)');

    // The unit chosen in a sign-in lives with the grant (node-oidc-provider's Grant has no place for it): one
    // grant per (client, person, unit), so switching unit never reuses another unit's grant.
    await runner.query(`
      CREATE TABLE grant_unit (
        grant_id    text        PRIMARY KEY,
        client_id   text        NOT NULL,
        person_id   uuid        NOT NULL,
        unit_id     uuid        NOT NULL,
        created_at  timestamptz NOT NULL
      )`);
    await runner.query('CREATE INDEX grant_unit_person_unit ON grant_unit (person_id, unit_id)');
    await runner.query('CREATE INDEX grant_unit_unit ON grant_unit (unit_id)');

    // The identity a person acts as in an SSO session (C-UI6): a unit, or personally when unit_id is null.
    await runner.query(`
      CREATE TABLE session_unit (
        session_uid  text        PRIMARY KEY,
        person_id    uuid        NOT NULL,
        unit_id      uuid,
        selected_at  timestamptz NOT NULL
      )`);
    await runner.query('CREATE INDEX session_unit_unit ON session_unit (unit_id, person_id) WHERE unit_id IS NOT NULL');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE session_unit');
    await runner.query('DROP TABLE grant_unit');
    await runner.query('DROP TABLE unit_verification_code');
    await runner.query('DROP TABLE binding');
    await runner.query('DROP FUNCTION binding_fixed_parties()');
    await runner.query('DROP FUNCTION binding_one_contact()');
    await runner.query('DROP TABLE unit_name_history');
    await runner.query('DROP TABLE unit');
    await runner.query('DROP FUNCTION unit_one_contact()');
    await runner.query('DROP FUNCTION unit_has_one_contact(uuid)');
  }
}
