import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Durable effects (S-55, S-56, S-57).
 * - `job`: every effect that leaves a transaction (back-channel logout per RP, SMS, e-mail, and the decoy of a code
 *   send) is a row written in the transaction of the state change, then claimed by a worker of any instance
 *   (`FOR UPDATE SKIP LOCKED`, with a lease so that a job of a killed worker is claimed again), retried with backoff
 *   and parked as `failed` after `max_attempts`. Invariants: a state is one of four; a finished job has its time;
 *   a job never exceeds its attempts.
 * - `oidc_model.successor_id`: the refresh token that replaced a consumed one in the same token request, so that a
 *   retry within the reuse leeway can be told from a replay (the successor was never used).
 */
export class Jobs1764900300000 implements MigrationInterface {
  name = 'Jobs1764900300000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE job (
        id            uuid        PRIMARY KEY,
        kind          text        NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 64),
        payload       jsonb       NOT NULL,
        state         text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
        attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        max_attempts  integer     NOT NULL CHECK (max_attempts >= 1),
        run_at        timestamptz NOT NULL,
        locked_until  timestamptz,
        last_error    text,
        created_at    timestamptz NOT NULL,
        updated_at    timestamptz NOT NULL,
        finished_at   timestamptz,
        CHECK (attempts <= max_attempts),
        CHECK ((state IN ('done', 'failed')) = (finished_at IS NOT NULL)),
        CHECK (state <> 'running' OR locked_until IS NOT NULL)
      )`);
    await runner.query("CREATE INDEX job_claimable ON job (run_at) WHERE state IN ('pending', 'running')");
    await runner.query("CREATE INDEX job_finished ON job (state, finished_at) WHERE state IN ('done', 'failed')");
    await runner.query('ALTER TABLE oidc_model ADD COLUMN successor_id text');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('ALTER TABLE oidc_model DROP COLUMN successor_id');
    await runner.query('DROP TABLE job');
  }
}
