import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../src/config/env.js';
import { loadClients } from '../src/config/clients.js';
import { loadKeys } from '../src/oidc/keys.js';
import { openDatabase, migrate } from '../src/shared/db/database.js';
import { createLogger } from '../src/shared/logger.js';
import { createServices } from '../src/services.js';
import { AppError } from '../src/shared/errors.js';
import { auditJsonLine } from '../src/modules/audit/audit-log.js';
import { translate } from '../src/shared/i18n/index.js';

const USAGE = `usage: npm run admin -- <command> [options]

  operator:create --login <name> --name <display name> [--password-stdin]
      create a counter operator; prints a generated password unless one is read from stdin.
      The operator sets up an authenticator app (TOTP) at the first sign-in.
  operator:list
  operator:disable --login <name>        (ends the operator's sessions)
  operator:enable --login <name>
  operator:reset-totp --login <name>     (enrol a new authenticator at the next sign-in)
  operator:reset-password --login <name> [--password-stdin]
  audit:export [--since <ISO time>] [--until <ISO time>] [--after-id <id>]
      print audit events as JSON lines (oldest first) for a SIEM; resume with --after-id <last id exported>.

With the embedded database, stop the provider first (one process per data directory).`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function timeOption(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const time = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(time.getTime())) throw new ConfigError(`--${name} must be an ISO date or time such as 2026-12-01T08:00:00Z, got "${value}"`);
  return time;
}

async function main(): Promise<number> {
  const [command, ...rest] = process.argv.slice(2);
  const { values } = parseArgs({
    args: rest,
    options: {
      login: { type: 'string' },
      name: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      since: { type: 'string' },
      until: { type: 'string' },
      'after-id': { type: 'string' },
    },
    allowPositionals: false,
  });
  if (!command || command === 'help' || command === '--help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const config = loadConfig();
  const logger = createLogger('warn');
  const catalog = loadClients({ file: config.clientsFile, mode: config.mode, dataDir: config.dataDir });
  const keys = await loadKeys({ dir: config.certsDir, generate: config.keysAutoGenerate });
  const db = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolMode: config.databasePoolMode });
  try {
    await migrate(db);
    const { operators, audit } = createServices({ config, db, catalog, dataKey: keys.dataKey, logger });
    if (command === 'audit:export') {
      const afterId = values['after-id'];
      if (afterId !== undefined && !/^\d{1,18}$/.test(afterId)) throw new ConfigError('--after-id must be the id of an exported event (digits)');
      for await (const record of audit.export({ afterId, since: timeOption('since', values.since), until: timeOption('until', values.until) })) {
        if (!process.stdout.write(`${auditJsonLine(record)}\n`)) await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
      return 0;
    }
    const login = values.login ?? '';
    const password = values['password-stdin'] ? await readStdin() : undefined;
    switch (command) {
      case 'operator:create': {
        if (!login || !values.name) throw new ConfigError('operator:create needs --login and --name');
        const created = await operators.create(login, values.name, password);
        console.log(`created operator ${created.operator.loginName} (${created.operator.id})`);
        if (!password) console.log(`initial password (shown once): ${created.password}`);
        return 0;
      }
      case 'operator:list':
        for (const operator of await operators.list()) {
          console.log(`${operator.loginName}\t${operator.displayName}\t${operator.status}\ttotp:${operator.totpEnrolled ? 'enrolled' : 'pending'}`);
        }
        return 0;
      case 'operator:disable':
      case 'operator:enable':
        await operators.setStatus(login, command === 'operator:disable' ? 'disabled' : 'active');
        console.log(`${command.slice(9)}d ${login}`);
        return 0;
      case 'operator:reset-totp':
        await operators.resetTotp(login);
        console.log(`${login} enrols a new authenticator at the next sign-in`);
        return 0;
      case 'operator:reset-password': {
        const chosen = await operators.resetPassword(login, password);
        if (!password) console.log(`new password (shown once): ${chosen}`);
        return 0;
      }
      default:
        console.error(`unknown command ${command}\n${USAGE}`);
        return 2;
    }
  } finally {
    await db.close();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof AppError) console.error(`error: ${translate('en', error.messageKey, error.params)}`);
  else if (error instanceof ConfigError) console.error(`error: ${error.message}`);
  else if (error instanceof TypeError && /parseArgs|Unknown option/.test(String(error.message))) console.error(`error: ${error.message}\n${USAGE}`);
  else console.error(error);
  process.exitCode = 1;
}
