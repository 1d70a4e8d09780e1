import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import { DataSource, MigrationExecutor, type EntityManager, type QueryRunner } from 'typeorm';
import { ConfigError } from '../../config/env.js';
import { startEmbeddedDatabase, type EmbeddedDatabase } from './embedded.js';
import { migrations } from '../../../migrations/index.js';
import { metrics, type PoolStats } from '../metrics.js';
import { databaseSpan } from '../tracing.js';

export interface QueryResult<T> {
  rows: T[];
  rowCount: number;
}

/** Anything that runs SQL: the database itself or a transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
}

export interface Transaction extends Queryable {
  manager: EntityManager;
  /** Runs `hook` once the outermost transaction has committed (never after a rollback). */
  afterCommit(hook: () => void): void;
}

export interface AmbientOptions<T> {
  /** Decides from the result whether to commit (default: always); false rolls back and still returns the result. */
  commitIf?: (result: T) => boolean;
}

export interface Database extends Queryable {
  kind: 'postgres' | 'pglite';
  /** `transaction`: behind a transaction-pooling PgBouncer (no named prepared statements, no session locks). */
  poolMode: 'session' | 'transaction';
  dataSource: DataSource;
  /** One transaction; inside an ambient transaction it is a savepoint of that one. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Runs `work` in one transaction that every statement of its async context joins (`query`, `transaction`, so
   * code that never sees a transaction, such as node-oidc-provider's adapter calls, writes in it too). Used for a
   * whole token request (S-55). Commits when `work` resolves (and `commitIf` agrees), rolls back when it throws.
   */
  ambient<T>(work: () => Promise<T>, options?: AmbientOptions<T>): Promise<T>;
  /** True when a trivial query answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; undefined selects embedded PGlite. */
  url: string | undefined;
  /** PGlite directory; undefined keeps the embedded database in memory. */
  dataDir?: string | undefined;
  /** Start a new PGlite directory from the build's template (default true). */
  template?: boolean;
  poolSize?: number;
  /**
   * `session` (default): a direct connection or a session-pooling PgBouncer; statements are prepared once per
   * connection under a name. `transaction`: a transaction-pooling PgBouncer (1.18, Debian 12's, forgets named
   * statements between transactions): unnamed statements only and a transaction-scoped migration lock.
   */
  poolMode?: 'session' | 'transaction';
  applicationName?: string;
  onPoolError?: (error: Error) => void;
}

/** The part of pg's Pool (and of a pooled client) the plain-statement path uses. */
interface PgPool extends PoolStatsSource {
  query<T>(config: { name?: string; text: string; values: unknown[] }): Promise<{ rows: T[]; rowCount: number | null }>;
}

interface PoolStatsSource {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/** Times a statement for the metrics (`uop_db_query_duration_seconds`) and, when tracing is on, a span. */
async function timed<T>(sql: string, work: () => Promise<T>): Promise<T> {
  const end = metrics.queryTimer();
  const span = databaseSpan(sql);
  try {
    const result = await work();
    end(true);
    return result;
  } catch (error) {
    end(false);
    span.setStatus({ code: 2 }); // SpanStatusCode.ERROR
    throw error;
  } finally {
    span.end();
  }
}

/** The transaction of the current async context, while it is open (see `Database.ambient`). */
interface Ambient {
  tx: Transaction;
  open: boolean;
  savepoints: number;
}

const ambientContext = new AsyncLocalStorage<Ambient>();

function currentAmbient(): Ambient | undefined {
  const ambient = ambientContext.getStore();
  return ambient?.open ? ambient : undefined;
}

/** Arbitrary constant identifying the migration lock among advisory locks. */
const MIGRATION_LOCK = 7_130_113;

async function runOn<T>(runner: QueryRunner, sql: string, params?: unknown[]): Promise<QueryResult<T>> {
  const result = await timed(sql, () => runner.query(sql, params, true));
  return { rows: (result.records ?? []) as T[], rowCount: result.affected ?? 0 };
}

function describeConnectionError(error: unknown, target: string): ConfigError {
  const err = error as NodeJS.ErrnoException & { code?: string };
  const reason = err.code ?? err.message ?? String(error);
  return new ConfigError(`cannot connect to the database at ${target} (${reason}); check DATABASE_URL and that PostgreSQL is running`);
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'DATABASE_URL';
  }
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  const common = {
    type: 'postgres' as const,
    // Data access is explicit SQL in each module's store; TypeORM provides the pool, transactions and migrations.
    entities: [],
    migrations,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    migrationsRun: false,
    installExtensions: false,
    logging: false,
    applicationName: options.applicationName ?? 'unit-oidc-provider',
    connectTimeoutMS: 5000,
    poolErrorHandler: (error: Error) => options.onPoolError?.(error),
  };
  let dataSource: DataSource;
  if (options.url) {
    dataSource = new DataSource({
      ...common,
      url: options.url,
      poolSize: options.poolSize ?? 10,
      extra: { idleTimeoutMillis: 30_000 },
    });
  } else {
    embedded = await startEmbeddedDatabase(options.dataDir, options.template ?? true);
    dataSource = new DataSource({
      ...common,
      host: embedded.connection.host,
      port: embedded.connection.port,
      username: embedded.connection.user,
      database: embedded.connection.database,
      poolSize: 1,
      extra: { idleTimeoutMillis: 0 },
    });
  }
  try {
    await dataSource.initialize();
  } catch (error) {
    await embedded?.stop();
    throw describeConnectionError(error, options.url ? redact(options.url) : 'the embedded database');
  }

  async function withRunner<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = dataSource.createQueryRunner();
    try {
      return await work(runner);
    } finally {
      await runner.release();
    }
  }

  // Plain statements go straight to the driver's pool (no TypeORM query runner per statement), each prepared once
  // per connection under a name derived from its text, so PostgreSQL parses and plans it once. This is the hot
  // path of the provider's adapter (bench/results: about 40% less CPU per refresh).
  // Behind a transaction-pooling PgBouncer a named statement prepared on one server connection is unknown to the
  // next one, so that mode sends unnamed statements (parsed each time, still one round trip).
  const pool = (dataSource.driver as unknown as { master: PgPool }).master;
  const poolMode = options.poolMode ?? 'session';
  const unregisterPool = metrics.registerPool((): PoolStats => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }));
  const statementNames = new Map<string, string>();
  const statementName = (sql: string): string => {
    let name = statementNames.get(sql);
    if (!name) {
      name = `s${statementNames.size}`;
      statementNames.set(sql, name);
    }
    return name;
  };
  const statementFor = (sql: string, params?: unknown[]) => (poolMode === 'session'
    ? { name: statementName(sql), text: sql, values: params ?? [] }
    : { text: sql, values: params ?? [] });

  async function begin<T>(work: (tx: Transaction) => Promise<T>, commitIf?: (result: T) => boolean): Promise<T> {
    return withRunner(async (runner) => {
      const hooks: (() => void)[] = [];
      // One connection runs one statement at a time: statements issued concurrently (the library's
      // Promise.all of adapter calls in a token request) are queued here, in order.
      let previous: Promise<unknown> = Promise.resolve();
      await runner.startTransaction();
      // Statements of a transaction are prepared too, like those of the pool (a token request runs in one).
      const connection = (runner as unknown as { databaseConnection?: PgPool }).databaseConnection;
      const execute = <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> => (connection
        ? timed(sql, () => connection.query<R>(statementFor(sql, params))).then((result) => ({ rows: result.rows, rowCount: result.rowCount ?? 0 }))
        : runOn<R>(runner, sql, params));
      const serial = <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> => {
        const run = previous.then(() => execute<R>(sql, params));
        previous = run.catch(() => undefined);
        return run;
      };
      let result: T;
      try {
        result = await work({
          manager: runner.manager,
          query: serial,
          afterCommit: (hook) => hooks.push(hook),
        });
        if (commitIf && !commitIf(result)) {
          await runner.rollbackTransaction().catch(() => undefined);
          return result;
        }
        await runner.commitTransaction();
      } catch (error) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      }
      for (const hook of hooks) hook();
      return result;
    });
  }

  let closed = false;
  return {
    kind: options.url ? 'postgres' : 'pglite',
    poolMode,
    dataSource,
    async query<T>(sql: string, params?: unknown[]) {
      const ambient = currentAmbient();
      if (ambient) return ambient.tx.query<T>(sql, params);
      const result = await timed(sql, () => pool.query<T>(statementFor(sql, params)));
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    },
    async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
      const ambient = currentAmbient();
      if (!ambient) return begin(work);
      const savepoint = `sp${++ambient.savepoints}`;
      await ambient.tx.query(`SAVEPOINT ${savepoint}`);
      try {
        const result = await work(ambient.tx);
        await ambient.tx.query(`RELEASE SAVEPOINT ${savepoint}`);
        return result;
      } catch (error) {
        await ambient.tx.query(`ROLLBACK TO SAVEPOINT ${savepoint}`).catch(() => undefined);
        throw error;
      }
    },
    async ambient<T>(work: () => Promise<T>, options: AmbientOptions<T> = {}): Promise<T> {
      if (currentAmbient()) return work();
      return begin(async (tx) => {
        const ambient: Ambient = { tx, open: true, savepoints: 0 };
        try {
          return await ambientContext.run(ambient, work);
        } finally {
          // Anything the request left running (a promise not awaited) goes back to the pool, never to a
          // finished transaction.
          ambient.open = false;
        }
      }, options.commitIf);
    },
    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const probe = withRunner((runner) => runOn(runner, 'SELECT 1')).then(() => true, () => false);
      try {
        return await Promise.race([probe, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      unregisterPool();
      await dataSource.destroy().catch(() => undefined);
      await embedded?.stop();
    },
  };
}

/**
 * Applies pending migrations in one transaction while holding a PostgreSQL advisory lock, so that instances
 * starting together apply them once. Returns the names of the migrations applied.
 */
export async function migrate(db: Database): Promise<string[]> {
  const runner = db.dataSource.createQueryRunner();
  if (db.poolMode === 'transaction') return migrateInTransaction(db, runner);
  try {
    await runner.connect();
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      const executor = new MigrationExecutor(db.dataSource, runner);
      executor.transaction = 'all';
      const applied = await executor.executePendingMigrations();
      return applied.map((migration) => migration.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

/**
 * The same under transaction pooling, where a session lock would stay on whichever server connection took it:
 * the lock is `pg_advisory_xact_lock`, taken first in the one transaction that applies the migrations and
 * released by its commit or rollback.
 */
async function migrateInTransaction(db: Database, runner: QueryRunner): Promise<string[]> {
  try {
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const executor = new MigrationExecutor(db.dataSource, runner);
      executor.transaction = 'all'; // joins the transaction already open
      const applied = await executor.executePendingMigrations();
      await runner.commitTransaction();
      return applied.map((migration) => migration.name);
    } catch (error) {
      if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  } finally {
    await runner.release();
  }
}

/**
 * Refuses a transaction-pooling connection in `session` mode, where named statements would fail at random: two
 * connections of our pool that are both open are distinct PostgreSQL backends unless a pooler shares one
 * server connection between them (PgBouncer hands the connection the first released to the next client).
 */
export async function assertSessionPooling(db: Database): Promise<void> {
  if (db.kind !== 'postgres' || db.poolMode !== 'session') return;
  const first = db.dataSource.createQueryRunner();
  const second = db.dataSource.createQueryRunner();
  try {
    await first.connect();
    await second.connect();
    const pid = async (runner: QueryRunner) => String((await runner.query('SELECT pg_backend_pid() AS pid') as { pid: number }[])[0]?.pid);
    const a = await pid(first);
    const b = await pid(second);
    if (a === b) {
      throw new ConfigError('the database connection is pooled per transaction (PgBouncer pool_mode=transaction?): set DATABASE_POOL_MODE=transaction, or use pool_mode=session');
    }
  } finally {
    await first.release();
    await second.release();
  }
}
