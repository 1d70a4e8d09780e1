import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { ConfigError } from '../../config/env.js';
import { PROJECT_ROOT } from '../paths.js';

/** An initialised, migrated PGlite directory made by the build (scripts/pglite-template.ts). */
export const EMBEDDED_TEMPLATE = path.join(PROJECT_ROOT, 'dist', 'pglite-template');

/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly) served over the PostgreSQL wire protocol on
 * a private Unix socket, so the application talks to it through the same `pg` driver, SQL and migrations as to a
 * real server. PGlite is single-connection: clients must use a pool of one.
 */
export interface EmbeddedDatabase {
  /** Connection settings for `pg` (host is the socket directory). */
  connection: { host: string; port: number; user: string; database: string };
  stop(): Promise<void>;
}

const SOCKET_PORT = 5432;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One process at a time may open a PGlite directory; a second one would corrupt it. */
function acquireDirectoryLock(dir: string): () => void {
  const lockFile = path.join(dir, 'postmaster.lock');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(fs.readFileSync(lockFile, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
        throw new ConfigError(`the embedded database in ${dir} is in use by process ${holder}; stop it, or set DATABASE_URL to share a PostgreSQL server between instances`);
      }
      fs.rmSync(lockFile, { force: true }); // left by a process that is gone
    }
  }
  throw new ConfigError(`cannot lock the embedded database in ${dir}`);
}

/**
 * Starts PGlite persisted in `dataDir` (or in memory when `dataDir` is undefined) behind a socket server.
 */
export async function startEmbeddedDatabase(dataDir: string | undefined, useTemplate = true): Promise<EmbeddedDatabase> {
  let release = (): void => {};
  let db: PGlite;
  if (dataDir) {
    try {
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      fs.accessSync(dataDir, fs.constants.W_OK);
    } catch (error) {
      throw new ConfigError(`DATA_DIR ${dataDir} is not writable (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    release = acquireDirectoryLock(dataDir);
    const pgdata = path.join(dataDir, 'pgdata');
    try {
      // A new directory starts as a copy of the build's template instead of running initdb (Q-P5); migrations
      // newer than the template are applied at start as usual.
      if (useTemplate && !fs.existsSync(path.join(pgdata, 'PG_VERSION')) && fs.existsSync(path.join(EMBEDDED_TEMPLATE, 'PG_VERSION'))) {
        fs.cpSync(EMBEDDED_TEMPLATE, pgdata, { recursive: true });
      }
      db = await PGlite.create(pgdata);
    } catch (error) {
      release();
      throw new ConfigError(`the embedded database in ${dataDir} cannot be opened: ${(error as Error).message}`);
    }
  } else {
    db = await PGlite.create();
  }
  const socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pglite-'));
  fs.chmodSync(socketDir, 0o700);
  const server = new PGLiteSocketServer({ db, path: path.join(socketDir, `.s.PGSQL.${SOCKET_PORT}`) });
  await server.start();
  let stopped = false;
  return {
    connection: { host: socketDir, port: SOCKET_PORT, user: 'postgres', database: 'postgres' },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.stop();
      await db.close();
      fs.rmSync(socketDir, { recursive: true, force: true });
      release();
    },
  };
}
