import crypto from 'node:crypto';
import http from 'node:http';
import type { Queryable } from '../../src/shared/db/database.js';
import { base32Decode, currentStep, hotp, TOTP_STEP_SECONDS } from '../../src/shared/security/totp.js';
import { en } from '../../src/shared/i18n/en.js';
import { zhCN } from '../../src/shared/i18n/zh-CN.js';
import type { TestApp } from './app.js';
import { Browser, type Page } from './browser.js';
import { jobsSettled } from './jobs.js';

/**
 * A Browser that adds fixed headers to every request (e.g. `X-Forwarded-For` behind a trusted proxy) and keeps
 * every response it received, so tests can inspect the Set-Cookie headers and security headers of pages that
 * were passed through on the way (redirects included).
 */
export class RecordingBrowser extends Browser {
  readonly responses: Page[] = [];
  readonly #origin: URL;

  /**
   * With `behindTls`, the browser stands for a user of a TLS-terminating proxy in front of the provider:
   * `https://` addresses of the provider's host and port are fetched over plain http (the proxy's job).
   */
  constructor(
    origin: string,
    readonly headers: Record<string, string> = {},
    private readonly options: { behindTls?: boolean } = {},
  ) {
    super(origin);
    this.#origin = new URL(origin);
  }

  #plain(url: string): string {
    const parsed = new URL(url, this.#origin);
    if (this.options.behindTls && parsed.protocol === 'https:' && parsed.host === this.#origin.host) parsed.protocol = 'http:';
    return parsed.toString();
  }

  override ownsUrl(url: string): boolean {
    return super.ownsUrl(this.#plain(url));
  }

  override async request(url: string, init: RequestInit = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    for (const [name, value] of Object.entries(this.headers)) if (!headers.has(name)) headers.set(name, value);
    const page = await super.request(this.#plain(url), { ...init, headers });
    this.responses.push(page);
    return page;
  }

  /** Every Set-Cookie header received so far, oldest first. */
  setCookies(): string[] {
    return this.responses.flatMap((page) => page.headers.getSetCookie());
  }

  /** The current value of a cookie for a path of the provider, or undefined. */
  async cookie(origin: string, name: string, path = '/'): Promise<string | undefined> {
    const cookies = await this.jar.getCookies(new URL(path, origin).toString());
    return cookies.find((cookie) => cookie.key === name)?.value;
  }
}

/** The `_csrf` value of the first form on a page that carries one. */
export function csrfOf(page: Page): string {
  const value = page.html.querySelector('input[name="_csrf"]')?.getAttribute('value');
  if (!value) throw new Error(`no _csrf on ${page.url}:\n${page.body.slice(0, 1000)}`);
  return value;
}

/** Signs a person in to the account centre (GET /account → sign-in page → /account) and returns the page. */
export async function signInToAccount(browser: Browser, account: string, password: string): Promise<Page> {
  const login = await browser.get('/account');
  // Already signed in (SSO): the account centre opens without asking for the password.
  const page = new URL(login.url).pathname === '/account' ? login : await browser.submit(login, 'form#person-login', { account, password });
  if (new URL(page.url).pathname !== '/account' || page.status !== 200) {
    throw new Error(`account sign-in failed: ${page.status} at ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  }
  return page;
}

export interface TestOperator {
  id: string;
  loginName: string;
  password: string;
  secret: string;
}

/** Waits until the next TOTP step, so a code is never refused as a replay of the previous sign-in. */
async function nextTotpStep(after: number): Promise<void> {
  while (currentStep(new Date()) <= after) {
    const ms = TOTP_STEP_SECONDS * 1000 - (Date.now() % (TOTP_STEP_SECONDS * 1000)) + 20;
    await new Promise((resolve) => setTimeout(resolve, ms));
  }
}

const usedSteps = new Map<string, number>();

/**
 * Creates an operator (on first use) and signs in to the operator console with password and TOTP, enrolling the
 * authenticator on the first sign-in (the secret is read from the enrolment page's `<code>`).
 */
export async function signInOperator(app: TestApp, browser: Browser, existing?: TestOperator): Promise<{ page: Page; operator: TestOperator }> {
  let operator = existing;
  if (!operator) {
    const loginName = `op${crypto.randomBytes(4).toString('hex')}`;
    const password = `Operator-${crypto.randomBytes(12).toString('base64url')}`;
    const created = await app.app.services.operators.create(loginName, '测试窗口', password);
    operator = { id: created.operator.id, loginName, password, secret: '' };
  }
  const login = await browser.get('/operator');
  const second = await browser.submit(login, 'form[action$="/operator-login"]', { account: operator.loginName, password: operator.password });
  const shown = second.html.querySelector('code')?.text.replace(/\s+/g, '');
  if (shown) operator.secret = shown;
  if (!operator.secret) throw new Error(`no TOTP step after the operator password:\n${Browser.text(second).slice(0, 800)}`);
  const last = usedSteps.get(operator.id);
  if (last !== undefined) await nextTotpStep(last);
  const step = currentStep(new Date());
  usedSteps.set(operator.id, step);
  const page = await browser.submit(second, 'form[action$="/totp"]', { totp: hotp(base32Decode(operator.secret), step) });
  if (new URL(page.url).pathname !== '/operator' || page.status !== 200) {
    throw new Error(`operator sign-in failed: ${page.status} at ${page.url}:\n${Browser.text(page).slice(0, 800)}`);
  }
  return { page, operator };
}

/** Forgets every throttling counter (each test sets up the counters it needs). */
export async function clearThrottle(db: Queryable): Promise<void> {
  await db.query('DELETE FROM rate_limit');
}

export async function countRows(db: Queryable, table: string, where = 'true', params: unknown[] = []): Promise<number> {
  // The outbox is written by the job worker after the request's commit (S-56).
  if (table === 'notification_outbox') await jobsSettled(db);
  const { rows } = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${table} WHERE ${where}`, params);
  return Number(rows[0]?.n ?? 0);
}

/** Tables whose content a rejected request must leave untouched. */
export const WATCHED_TABLES = ['person', 'operator', 'one_time_code', 'notification_outbox', 'audit_event', 'rate_limit', 'oidc_model'] as const;
export type WatchedTable = (typeof WATCHED_TABLES)[number];

/** A fingerprint of each table's full content (any insert, update or delete changes it). */
export async function snapshot(db: Queryable, tables: readonly WatchedTable[] = WATCHED_TABLES): Promise<Record<string, string>> {
  // The outbox is written by the job worker after a request's commit (S-56): the jobs due first, so that a snapshot
  // neither catches a delivery of earlier steps half-way nor misses one the request itself queued.
  if (tables.includes('notification_outbox')) await jobsSettled(db);
  const out: Record<string, string> = {};
  for (const table of tables) {
    const { rows } = await db.query<{ n: string | number; digest: string | null }>(
      `SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) AS digest FROM ${table} t`,
    );
    out[table] = `${rows[0]?.n}:${rows[0]?.digest}`;
  }
  return out;
}

/** A stack trace or other internals that must never reach a user. */
export const INTERNALS = /\bat [^\s]+ \(.*:\d+:\d+\)|\bat .*\.(?:js|ts):\d+|node_modules|TypeError|RangeError|SyntaxError|ReferenceError|QueryFailedError|\bstack\b/;

/** Error messages proper (not the page furniture of the error page: its title, "back" and "request id"). */
const isMessage = ([key]: [string, string]) => key.startsWith('error.') && !['error.title', 'error.back', 'error.request_id'].includes(key);
const MESSAGES: Record<'zh-CN' | 'en', string[]> = {
  'zh-CN': Object.entries(zhCN)
    .filter(isMessage)
    .map(([, text]) => text.replace(/\{\w+\}.*$/, '')),
  en: Object.entries(en)
    .filter(isMessage)
    .map(([, text]) => text.replace(/\{\w+\}.*$/, '')),
};

/** The translated error message (of the given language) that a page shows, or undefined. */
export function errorMessageOn(body: string, locale: 'zh-CN' | 'en'): string | undefined {
  return MESSAGES[locale].find((message) => message.length > 0 && body.includes(message));
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A request with node:http, for bodies fetch cannot send as such (announced sizes, chunked streams, raw bytes).
 * The server may answer before the body is sent; the answer is returned and write errors after it are ignored.
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string | number>; body?: Buffer | string; chunks?: { size: number; count: number } },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    let answered = false;
    const request = http.request(
      { host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, method: options.method ?? 'POST', headers: options.headers },
      (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (options.chunks) {
      const chunk = Buffer.alloc(options.chunks.size, 'a');
      let sent = 0;
      const write = () => {
        while (sent < options.chunks!.count && !answered && !request.destroyed) {
          sent += 1;
          if (!request.write(chunk)) {
            request.once('drain', write);
            return;
          }
        }
        request.end();
      };
      write();
    } else {
      request.end(options.body);
    }
  });
}

/** The Cookie header of a browser for a URL (to replay it with rawRequest). */
export async function cookieHeader(browser: Browser, url: string): Promise<string> {
  return browser.jar.getCookieString(url);
}

/** Median of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
