import { ConfigError, loadConfig } from '../src/config/env.js';
import { assertSessionPooling, migrate, openDatabase } from '../src/shared/db/database.js';

/**
 * `npm run migrate`: applies the pending migrations and exits, under the same advisory lock as the start (so a
 * Kubernetes init container in every pod, or a Job, applies them once). Needs only DATABASE_URL (and
 * DATABASE_POOL_MODE behind a transaction-pooling PgBouncer).
 */
try {
  const config = loadConfig();
  if (!config.databaseUrl) throw new ConfigError('DATABASE_URL must be set: the embedded database is migrated by the start itself');
  const db = await openDatabase({ url: config.databaseUrl, poolSize: 2, poolMode: config.databasePoolMode, applicationName: 'unit-oidc-provider-migrate' });
  try {
    await assertSessionPooling(db);
    const applied = await migrate(db);
    console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'the schema is up to date');
  } finally {
    await db.close();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? `cannot migrate: ${error.message}` : error);
  process.exit(1);
}
