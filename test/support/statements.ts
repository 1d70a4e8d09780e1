import type { Database } from '../../src/shared/db/database.js';

/** One statement as sent: its text with whitespace collapsed, and the adapter model when it is one. */
export interface SentStatement {
  sql: string;
  model: string | undefined;
}

/**
 * The statements the database received while `work` ran (BEGIN, COMMIT and savepoints included), in order. Run
 * it with nothing else going on (a test app with a slow job poll), so that every statement counted is the work's.
 */
export async function statementsOf(db: Database, work: () => Promise<unknown>): Promise<SentStatement[]> {
  const sent: SentStatement[] = [];
  const stop = db.observe((sql, params) => {
    const model = sql.includes('oidc_model') && typeof params[0] === 'string' && /^[A-Z]/.test(params[0]) ? params[0] : undefined;
    sent.push({ sql: sql.replace(/\s+/g, ' ').trim(), model });
  });
  try {
    await work();
  } finally {
    stop();
  }
  return sent;
}

/** A readable list for a failing assertion: one line per statement. */
export function listed(statements: SentStatement[]): string {
  return statements.map(({ sql, model }) => `${sql.slice(0, 110)}${model ? ` [${model}]` : ''}`).join('\n');
}
