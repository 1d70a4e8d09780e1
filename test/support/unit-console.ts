import crypto from 'node:crypto';
import type { Services } from '../../src/services.js';
import type { Queryable } from '../../src/shared/db/database.js';
import { accountIdOf } from '../../src/shared/account-id.js';
import { Browser, type Page } from './browser.js';

/**
 * Helpers for the unit console (/unit), the account centre's unit pages and the operator's unit pages (issue #4):
 * signing a unit account in through the 单位登录 tab, posting a console form with the browser's CSRF token,
 * ageing an SSO session for the re-authentication tests (S-34), and fingerprints of the unit tables to prove that
 * a refused request changed nothing.
 */

/**
 * Time allowed to set-up hooks and long scenarios: argon2 hashing and the embedded database are CPU-bound, and CI
 * machines with two cores running several suites at once are many times slower than a developer's laptop.
 */
export const SLOW_MS = 180_000;

/** The path of a page (without query). */
export function pathOf(page: Page): string {
  return new URL(page.url).pathname;
}

/**
 * Signs a unit account in to the unit console: GET the console page → /console/login → /auth?…&console=unit →
 * the sign-in page (only the 单位登录 tab) → form#unit-login → back to the page. Returns the console page.
 */
export async function signInUnit(browser: Browser, unit: { loginName: string; password: string }, path = '/unit'): Promise<Page> {
  const login = await browser.get(path);
  if (pathOf(login) === path && login.status === 200) return login;
  if (!login.html.querySelector('form#unit-login')) {
    throw new Error(`expected the 单位登录 tab at ${login.url} (${login.status}):\n${Browser.text(login).slice(0, 800)}`);
  }
  const page = await browser.submit(login, 'form#unit-login', { account: unit.loginName, password: unit.password });
  if (pathOf(page) !== path || page.status !== 200) {
    throw new Error(`unit sign-in failed: ${page.status} at ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  }
  return page;
}

/** The CSRF token of the browser (the same for every form of that browser), read from a page that has one. */
export function csrfOn(page: Page): string {
  const value = page.html.querySelector('input[name="_csrf"]')?.getAttribute('value');
  if (!value) throw new Error(`no _csrf on ${page.url}:\n${page.body.slice(0, 1000)}`);
  return value;
}

/** The browser's CSRF token, read from a page of the given path that carries a form (e.g. /account/password). */
export async function csrfFrom(browser: Browser, path: string): Promise<string> {
  return csrfOn(await browser.get(path));
}

/**
 * POSTs a form as the browser would (url-encoded, the browser's cookies), without following the answer.
 * `values` may repeat a name (e.g. several `scopes`).
 */
export async function postForm(browser: Browser, url: string, csrf: string, values: [string, string][] = []): Promise<Page> {
  const body = new URLSearchParams([['_csrf', csrf], ...values]);
  return browser.request(url, { method: 'POST', body: body.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

/** Same as postForm, then follows a redirect that stays at the provider. */
export async function postAndFollow(browser: Browser, url: string, csrf: string, values: [string, string][] = []): Promise<Page> {
  return browser.follow(await postForm(browser, url, csrf, values));
}

/**
 * Sets the last password sign-in of every SSO session of an account to `seconds` ago (the provider's Session keeps
 * it as `loginTs`, seconds since the epoch, in its payload), as if the user had signed in that long ago. Returns
 * how many sessions were changed.
 */
export async function setSignInAge(db: Queryable, account: { kind: 'person' | 'unit' | 'operator'; id: string }, seconds: number): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE oidc_model SET payload = jsonb_set(payload, '{loginTs}', to_jsonb($2::bigint))
     WHERE model = 'Session' AND account_id = $1 AND payload ? 'loginTs'`,
    [accountIdOf(account), Math.floor(Date.now() / 1000) - seconds],
  );
  return rowCount;
}

/** Tables of the unit domain (and the audit log) whose content a refused request must leave unchanged. */
export const UNIT_TABLES = ['unit', 'unit_name_history', 'binding', 'unit_verification_code', 'person', 'audit_event'] as const;
export type UnitTable = (typeof UNIT_TABLES)[number];

/** A fingerprint of each table's full content (any insert, update or delete changes it). */
export async function fingerprint(db: Queryable, tables: readonly UnitTable[] = UNIT_TABLES): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const table of tables) {
    const { rows } = await db.query<{ n: string | number; digest: string | null }>(
      `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM ${table} t`,
    );
    out[table] = `${rows[0]?.n}:${rows[0]?.digest}`;
  }
  return out;
}

/** Row counts of the unit tables (a readable summary for "nothing written"). */
export async function rowCounts(db: Queryable, tables: readonly string[] = ['unit', 'unit_name_history', 'binding', 'unit_verification_code']): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table}`);
    out[table] = Number(rows[0]?.n ?? 0);
  }
  return out;
}

export interface BindingRow {
  id: string;
  unit_id: string;
  person_id: string;
  role: 'handler' | 'contact';
  status: 'pending' | 'active' | 'declined' | 'unbound';
  scopes: string[];
  valid_from: Date | null;
  valid_until: Date | null;
  accepted_at: Date | null;
  ended_at: Date | null;
}

/** Every binding of a unit, oldest first, as stored. */
export async function bindingsOf(db: Queryable, unitId: string): Promise<BindingRow[]> {
  const { rows } = await db.query<BindingRow>(
    `SELECT id, unit_id, person_id, role, status, scopes, valid_from, valid_until, accepted_at, ended_at
     FROM binding WHERE unit_id = $1 ORDER BY created_at, id`,
    [unitId],
  );
  return rows;
}

export async function bindingById(db: Queryable, id: string): Promise<BindingRow | undefined> {
  const { rows } = await db.query<BindingRow>('SELECT id, unit_id, person_id, role, status, scopes, valid_from, valid_until, accepted_at, ended_at FROM binding WHERE id = $1', [
    id,
  ]);
  return rows[0];
}

export interface UnitRow {
  id: string;
  name: string;
  cert_type: string;
  cert_no: string;
  login_name: string;
  verified_at: Date | null;
  verified_by: string | null;
  status: string;
  registered_by: string;
}

export async function unitRow(db: Queryable, id: string): Promise<UnitRow | undefined> {
  const { rows } = await db.query<UnitRow>('SELECT id, name, cert_type, cert_no, login_name, verified_at, verified_by, status, registered_by FROM unit WHERE id = $1', [id]);
  return rows[0];
}

export interface CodeRow {
  id: string;
  unit_id: string;
  code_hmac: string;
  hint: string;
  attempts: number;
  expires_at: Date;
  used_at: Date | null;
  used_by: string | null;
  invalidated_at: Date | null;
}

export async function codesOf(db: Queryable, unitId: string): Promise<CodeRow[]> {
  const { rows } = await db.query<CodeRow>(
    `SELECT id, unit_id, code_hmac, hint, attempts, expires_at, used_at, used_by, invalidated_at
     FROM unit_verification_code WHERE unit_id = $1 ORDER BY issued_at, id`,
    [unitId],
  );
  return rows;
}

/** Audit entries of an action (optionally of one acting unit), oldest first. */
export async function auditOf(
  db: Queryable,
  action: string,
  actingUnitId?: string,
): Promise<{ outcome: string; actor_type: string; actor_id: string | null; target_id: string | null; detail: Record<string, unknown> }[]> {
  const { rows } = await db.query<{ outcome: string; actor_type: string; actor_id: string | null; target_id: string | null; detail: Record<string, unknown> }>(
    `SELECT outcome, actor_type, actor_id, target_id, detail FROM audit_event
     WHERE action = $1 AND ($2::uuid IS NULL OR acting_unit_id = $2::uuid) ORDER BY id`,
    [action, actingUnitId ?? null],
  );
  return rows;
}

/** An operator (the issuer of counter codes; codes reference the operator who issued them). */
export async function createOperatorRecord(services: Services): Promise<{ id: string; loginName: string }> {
  const loginName = `op${crypto.randomBytes(4).toString('hex')}`;
  const created = await services.operators.create(loginName, '测试窗口', `Operator-${crypto.randomBytes(12).toString('base64url')}`);
  return { id: created.operator.id, loginName };
}

/** Issues a counter code for a unit through the service, as the given operator; returns the code as shown. */
export async function issueCode(services: Services, unitId: string, operatorId: string): Promise<string> {
  const issued = await services.verification.issue(unitId, { actor: { type: 'operator', id: operatorId } });
  return issued.code;
}

/** Runs statements in one transaction of a dedicated connection, and reports how COMMIT (or a statement) ended. */
export async function tryTransaction(
  db: { transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> },
  work: (tx: Queryable) => Promise<void>,
): Promise<{ ok: true } | { ok: false; code: string | undefined; constraint: string | undefined; message: string }> {
  try {
    await db.transaction(work);
    return { ok: true };
  } catch (error) {
    const driver = ((error as { driverError?: unknown }).driverError ?? error) as { code?: string; constraint?: string; message?: string };
    return { ok: false, code: driver.code, constraint: driver.constraint, message: String(driver.message ?? error) };
  }
}
