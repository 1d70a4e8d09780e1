import 'reflect-metadata';
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { DataSource, MigrationExecutor, type QueryRunner } from 'typeorm';
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
  /** Runs `hook` once the outermost transaction has committed (never after a rollback). */
  afterCommit(hook: () => void): void;
}

export interface AmbientOptions<T> {
  /** Decides from the result whether to commit (default: always); false rolls back and still returns the result. */
  commitIf?: (result: T) => boolean;
}

/** Sees every statement sent to the database (`BEGIN`, `COMMIT` and savepoints included), before it is sent. */
export type StatementObserver = (sql: string, params: readonly unknown[]) => void;

export interface Database extends Queryable {
  kind: 'postgres' | 'pglite';
  /** `transaction`: behind a transaction-pooling PgBouncer (no named prepared statements, no session locks). */
  poolMode: 'session' | 'transaction';
  /** TypeORM, for its migrations only; it runs them on the pool of this database (`driver` option). */
  dataSource: DataSource;
  /** One transaction; inside an ambient transaction it is a savepoint of that one. */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * Runs `work` in one transaction that every statement of its async context joins (`query`, `transaction`, so
   * code that never sees a transaction, such as node-oidc-provider's adapter calls, writes in it too). Used for a
   * whole token request (S-55). Commits when `work` resolves (and `commitIf` agrees), rolls back when it throws.
   */
  ambient<T>(work: () => Promise<T>, options?: AmbientOptions<T>): Promise<T>;
  /**
   * The last statement of the ambient transaction (issue #15): when the transaction has sent nothing yet, the
   * statement runs alone, on the pool (one statement is atomic by itself: no BEGIN, no COMMIT), and the ambient
   * transaction ends there (what the context sends afterwards runs on its own). Otherwise, and outside an ambient
   * transaction, it is `query`. The caller sends it only when the work is to be kept: nothing rolls it back.
   */
  queryLast<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
  /** Adds an observer of every statement (statement counts in tests and benchmarks); returns its removal. */
  observe(observer: StatementObserver): () => void;
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
  /** Begins the transaction at its first statement (a request that sends none sends no BEGIN either). */
  tx: Transaction;
  /** True once the first statement was issued, i.e. BEGIN sent or on its way. */
  begun: () => boolean;
  open: boolean;
  savepoints: number;
}

/** A transaction begun on a connection of the pool, ended once by `end`. */
interface OpenTransaction {
  tx: Transaction;
  /** Commits (`commit`, hooks run after it) or rolls back, then gives the connection back; throws when COMMIT fails. */
  end(commit: boolean): Promise<void>;
}

const ambientContext = new AsyncLocalStorage<Ambient>();

function currentAmbient(): Ambient | undefined {
  const ambient = ambientContext.getStore();
  return ambient?.open ? ambient : undefined;
}

/** Arbitrary constant identifying the migration lock among advisory locks. */
const MIGRATION_LOCK = 7_130_113;

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
  let connection: pg.PoolConfig;
  if (options.url) {
    connection = { connectionString: options.url, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 };
  } else {
    embedded = await startEmbeddedDatabase(options.dataDir, options.template ?? true);
    // PGlite is one session: one connection, kept open.
    connection = { ...embedded.connection, max: 1, idleTimeoutMillis: 0 };
  }
  // The one pool of this database: every statement, in a transaction or not, runs on it (`run` below). TypeORM
  // is kept for its migrations and gets this same pool through its public `driver` option, so that PGlite's
  // single connection is never opened twice and nothing reaches into TypeORM's internals.
  const pool = new pg.Pool({ ...connection, application_name: options.applicationName ?? 'unit-oidc-provider', connectionTimeoutMillis: 5000 });
  pool.on('error', (error) => options.onPoolError?.(error));
  const dataSource = new DataSource({
    type: 'postgres',
    driver: {
      ...pg,
      Pool: function SharedPool() {
        return pool;
      },
    },
    // Data access is explicit SQL in each module's store; TypeORM applies the migrations.
    entities: [],
    migrations,
    migrationsTableName: 'schema_migrations',
    synchronize: false,
    migrationsRun: false,
    installExtensions: false,
    logging: false,
  });
  try {
    await dataSource.initialize();
  } catch (error) {
    await pool.end().catch(() => undefined);
    await embedded?.stop();
    throw describeConnectionError(error, options.url ? redact(options.url) : 'the embedded database');
  }

  // Each statement is prepared once per connection under a name derived from its text, so PostgreSQL parses and
  // plans it once: the hot path of the provider's adapter (bench/results: about 40% less CPU per refresh).
  // Behind a transaction-pooling PgBouncer a named statement prepared on one server connection is unknown to the
  // next one, so that mode sends unnamed statements (parsed each time, still one round trip).
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
  const observers = new Set<StatementObserver>();

  /** The one statement path: on the pool (a connection per statement) or on a transaction's connection. */
  async function run<T>(target: pg.Pool | pg.PoolClient, sql: string, params: unknown[] = []): Promise<QueryResult<T>> {
    for (const observer of observers) observer(sql, params);
    const statement = poolMode === 'session' ? { name: statementName(sql), text: sql, values: params } : { text: sql, values: params };
    const result = await timed(sql, () => target.query<T & pg.QueryResultRow>(statement));
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async function open(): Promise<OpenTransaction> {
    const client = await pool.connect();
    // A connection whose transaction could not be ended, or that failed while checked out (the server went away:
    // pg reports it as an event, which must not go unhandled), is closed instead of going back to the pool.
    let broken: Error | undefined;
    const onError = (error: Error) => {
      broken = error;
    };
    client.on('error', onError);
    const release = () => {
      client.off('error', onError);
      client.release(broken);
    };
    const hooks: (() => void)[] = [];
    // One connection runs one statement at a time: statements issued concurrently (the library's
    // Promise.all of adapter calls in a token request) are queued here, in order.
    let previous: Promise<unknown> = Promise.resolve();
    const serial = <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> => {
      const next = previous.then(() => run<R>(client, sql, params));
      previous = next.catch(() => undefined);
      return next;
    };
    const rollback = () =>
      run(client, 'ROLLBACK').catch((error: Error) => {
        broken = error;
      });
    try {
      await run(client, 'BEGIN');
    } catch (error) {
      broken = error as Error;
      release();
      throw error;
    }
    return {
      tx: { query: serial, afterCommit: (hook) => hooks.push(hook) },
      async end(commit: boolean) {
        try {
          await previous; // a statement left running by the work ends before the transaction does
          if (!commit) {
            await rollback();
            return;
          }
          try {
            await run(client, 'COMMIT');
          } catch (error) {
            await rollback();
            throw error;
          }
          for (const hook of hooks) hook();
        } finally {
          release();
        }
      },
    };
  }

  async function begin<T>(work: (tx: Transaction) => Promise<T>, commitIf?: (result: T) => boolean): Promise<T> {
    const transaction = await open();
    let result: T;
    try {
      result = await work(transaction.tx);
    } catch (error) {
      await transaction.end(false);
      throw error;
    }
    await transaction.end(!commitIf || commitIf(result));
    return result;
  }

  /** An ambient transaction that begins at its first statement; `finish` ends it (if it began). */
  function lazyAmbient(): { ambient: Ambient; finish: (commit: boolean) => Promise<void> } {
    let opened: Promise<OpenTransaction> | undefined;
    const hooks: (() => void)[] = [];
    const ambient: Ambient = {
      tx: {
        query: <R>(sql: string, params?: unknown[]) => {
          opened ??= open();
          return opened.then((transaction) => transaction.tx.query<R>(sql, params));
        },
        afterCommit: (hook) => {
          hooks.push(hook);
        },
      },
      begun: () => opened !== undefined,
      open: true,
      savepoints: 0,
    };
    const finish = async (commit: boolean) => {
      // Anything the request left running (a promise not awaited) goes back to the pool, never to a finished
      // transaction.
      ambient.open = false;
      const transaction = opened && (await opened.catch(() => undefined));
      if (transaction) {
        for (const hook of hooks) transaction.tx.afterCommit(hook);
        await transaction.end(commit);
      } else if (commit) {
        for (const hook of hooks) hook();
      }
    };
    return { ambient, finish };
  }

  let closed = false;
  return {
    kind: options.url ? 'postgres' : 'pglite',
    poolMode,
    dataSource,
    async query<T>(sql: string, params?: unknown[]) {
      const ambient = currentAmbient();
      if (ambient) return ambient.tx.query<T>(sql, params);
      return run<T>(pool, sql, params);
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
      const { ambient, finish } = lazyAmbient();
      let result: T;
      try {
        result = await ambientContext.run(ambient, work);
      } catch (error) {
        await finish(false);
        throw error;
      }
      await finish(!options.commitIf || options.commitIf(result));
      return result;
    },
    async queryLast<T>(sql: string, params?: unknown[]) {
      const ambient = currentAmbient();
      if (!ambient) return run<T>(pool, sql, params);
      if (ambient.begun()) return ambient.tx.query<T>(sql, params);
      ambient.open = false;
      return run<T>(pool, sql, params);
    },
    observe(observer: StatementObserver) {
      observers.add(observer);
      return () => observers.delete(observer);
    },
    async ping(timeoutMs = 2000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const probe = run(pool, 'SELECT 1').then(
        () => true,
        () => false,
      );
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
      // TypeORM ends the pool it was given.
      await dataSource
        .destroy()
        .catch(() => pool.end())
        .catch(() => undefined);
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
    const pid = async (runner: QueryRunner) => String(((await runner.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[])[0]?.pid);
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
