import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Storage for every node-oidc-provider model (sessions, interactions, grants, codes, tokens …). */
export class OidcModels1764270000000 implements MigrationInterface {
  name = 'OidcModels1764270000000';

  async up(runner: QueryRunner): Promise<void> {
    await runner.query(`
      CREATE TABLE oidc_model (
        model       text        NOT NULL,
        id          text        NOT NULL,
        payload     jsonb       NOT NULL,
        grant_id    text,
        user_code   text,
        uid         text,
        account_id  text,
        expires_at  timestamptz,
        consumed_at timestamptz,
        PRIMARY KEY (model, id)
      )`);
    await runner.query('CREATE INDEX oidc_model_grant_id ON oidc_model (grant_id) WHERE grant_id IS NOT NULL');
    await runner.query('CREATE UNIQUE INDEX oidc_model_uid ON oidc_model (model, uid) WHERE uid IS NOT NULL');
    await runner.query('CREATE UNIQUE INDEX oidc_model_user_code ON oidc_model (model, user_code) WHERE user_code IS NOT NULL');
    await runner.query('CREATE INDEX oidc_model_account ON oidc_model (account_id, model) WHERE account_id IS NOT NULL');
    await runner.query('CREATE INDEX oidc_model_expires_at ON oidc_model (expires_at) WHERE expires_at IS NOT NULL');
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.query('DROP TABLE oidc_model');
  }
}
