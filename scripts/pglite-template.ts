import fs from 'node:fs';
import { openDatabase, migrate } from '../src/shared/db/database.js';
import { EMBEDDED_TEMPLATE } from '../src/shared/db/embedded.js';

/**
 * Run by the build: an initialised and migrated embedded database that a fresh DATA_DIR starts from, so that the
 * first `npm start` skips PGlite's initdb (several seconds; Q-P5). Rebuilt whenever the build runs.
 */
fs.rmSync(EMBEDDED_TEMPLATE, { recursive: true, force: true });
const staging = `${EMBEDDED_TEMPLATE}.tmp`;
fs.rmSync(staging, { recursive: true, force: true });
const db = await openDatabase({ url: undefined, dataDir: staging, template: false });
await migrate(db);
await db.close();
fs.rmSync(`${staging}/postmaster.lock`, { force: true });
fs.renameSync(`${staging}/pgdata`, EMBEDDED_TEMPLATE);
fs.rmSync(staging, { recursive: true, force: true });
