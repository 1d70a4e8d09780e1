import { validCidr, type TrustProxy } from '../shared/http/client-ip.js';
import os from 'node:os';
import path from 'node:path';

/** Raised for any configuration problem found at start; main prints its one-line message and exits 1. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type RunMode = 'production' | 'development' | 'test';

export interface AppConfig {
  mode: RunMode;
  port: number;
  host: string;
  issuer: string;
  /** PostgreSQL connection string; undefined selects the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  databasePoolSize: number;
  dataDir: string;
  certsDir: string;
  clientsFile: string;
  /**
   * Trust X-Forwarded-* from reverse proxies (needed behind TLS termination so cookies are Secure): false, a number
   * of hops, or the proxies' addresses (S-36).
   */
  trustProxy: TrustProxy;
  logLevel: string;
  /** Generate signing and cookie keys when certs/ holds none. */
  keysAutoGenerate: boolean;
  /** How long a retired signing key stays published (seconds); must exceed the longest signed-token lifetime. */
  keyRetentionSeconds: number;
  /** Allow POST to the authorization endpoint (needs SameSite=None session cookies). */
  authorizationPost: boolean;
  /** Seed demo persons, units and clients at start (never in production). */
  demoData: boolean;
  /** Interval of the sweep that deletes expired provider artefacts (seconds). */
  sweepIntervalSeconds: number;
  /** Concurrent argon2 operations allowed (the rest queue). */
  hashConcurrency: number;
  /** argon2 operations that may wait for a slot; beyond that requests get 503 + Retry-After at once (S-28). */
  hashQueueMax: number;
  /** Lifetime of a counter authorisation code for unit verification (hours, R-U5). */
  unitCodeTtlHours: number;
  /** A sensitive console action needs a sign-in within this many seconds (S-34). */
  reauthSeconds: number;
  /** HTTP SMS gateway (POST JSON `{to, text}`); undefined: SMS go to the development outbox. */
  smsGateway: SmsGatewayConfig | undefined;
  /** SMTP server for e-mail; undefined: e-mail goes to the development outbox. */
  smtp: SmtpConfig | undefined;
}

export interface SmsGatewayConfig {
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token: string | undefined;
  timeoutMs: number;
}

export interface SmtpConfig {
  /** `smtp://user:password@host:587` or `smtps://…` (nodemailer connection URL). */
  url: string;
  /** The From address, e.g. `统一身份认证平台 <noreply@example.gov.cn>`. */
  from: string;
  timeoutMs: number;
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function flag(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

/** TRUST_PROXY: false, true (one hop), a number of hops, or a comma-separated list of proxy addresses/CIDRs. */
function trustProxyFrom(env: Env): TrustProxy {
  const raw = (env.TRUST_PROXY ?? '').trim();
  const lower = raw.toLowerCase();
  if (raw === '' || ['0', 'false', 'no', 'off'].includes(lower)) return false;
  if (['true', 'yes', 'on'].includes(lower)) return { hops: 1 };
  if (/^\d+$/.test(raw)) {
    const hops = Number(raw);
    if (hops > 10) throw new ConfigError(`TRUST_PROXY must be between 0 and 10 hops, got ${hops}`);
    return { hops };
  }
  const cidrs = raw.split(',').map((part) => part.trim()).filter((part) => part !== '');
  const bad = cidrs.find((cidr) => !validCidr(cidr));
  if (bad !== undefined || cidrs.length === 0) {
    throw new ConfigError(`TRUST_PROXY must be true/false, a number of proxy hops or a list of proxy addresses (CIDR), got "${bad ?? raw}"`);
  }
  return { cidrs };
}

function issuerFrom(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`ISSUER must be an absolute URL such as https://id.example.gov.cn, got "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`ISSUER must use https (or http for local development), got "${raw}"`);
  }
  if (url.search || url.hash) throw new ConfigError('ISSUER must not have a query or fragment');
  return raw.endsWith('/') ? raw.slice(0, -1) : raw;
}

function modeFrom(raw: string | undefined): RunMode {
  if (raw === undefined || raw === '' || raw === 'development') return 'development';
  if (raw === 'production' || raw === 'test') return raw;
  throw new ConfigError(`NODE_ENV must be production, development or test, got "${raw}"`);
}

function smsGatewayFrom(env: Env): SmsGatewayConfig | undefined {
  const url = env.SMS_GATEWAY_URL || undefined;
  const token = env.SMS_GATEWAY_TOKEN || undefined;
  if (!url) {
    if (token) throw new ConfigError('SMS_GATEWAY_TOKEN is set but SMS_GATEWAY_URL is not');
    return undefined;
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('SMS_GATEWAY_URL must be an absolute http(s) URL such as https://sms.example.gov.cn/send');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ConfigError('SMS_GATEWAY_URL must use https or http');
  if (token !== undefined && !/^[\x21-\x7e]{1,512}$/.test(token)) throw new ConfigError('SMS_GATEWAY_TOKEN must be 1 to 512 printable ASCII characters without spaces');
  return { url, token, timeoutMs: integer(env, 'SMS_GATEWAY_TIMEOUT_MS', 5000, 100, 60_000) };
}

function smtpFrom(env: Env): SmtpConfig | undefined {
  const url = env.SMTP_URL || undefined;
  const from = env.SMTP_FROM || undefined;
  if (!url) {
    if (from) throw new ConfigError('SMTP_FROM is set but SMTP_URL is not');
    return undefined;
  }
  if (!/^smtps?:\/\/[^\s/]+/.test(url)) throw new ConfigError('SMTP_URL must be an smtp:// or smtps:// URL such as smtp://user:password@mail.example.gov.cn:587');
  if (!from) throw new ConfigError('SMTP_FROM must be set when SMTP_URL is (e.g. "统一身份认证平台 <noreply@example.gov.cn>")');
  if (!/^([^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(from.trim())) {
    throw new ConfigError(`SMTP_FROM must be an e-mail address, optionally with a name: "Name <address>", got "${from}"`);
  }
  return { url, from: from.trim(), timeoutMs: integer(env, 'SMTP_TIMEOUT_MS', 10_000, 100, 120_000) };
}

/** Reads the process environment into a typed, validated configuration. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): AppConfig {
  const mode = modeFrom(env.NODE_ENV);
  const port = integer(env, 'PORT', 3000, 0, 65535);
  const issuer = issuerFrom(env.ISSUER ?? `http://localhost:${port}`);
  const production = mode === 'production';
  if (production && new URL(issuer).protocol !== 'https:') {
    throw new ConfigError('ISSUER must be an https URL in production');
  }
  const demoData = flag(env, 'DEMO_DATA', !production);
  if (production && demoData) throw new ConfigError('DEMO_DATA cannot be enabled in production');
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// connection string');
  }
  return {
    mode,
    port,
    host: env.HOST || (production ? '0.0.0.0' : '127.0.0.1'),
    issuer,
    databaseUrl,
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 200),
    dataDir: path.resolve(cwd, env.DATA_DIR || 'data'),
    certsDir: path.resolve(cwd, env.CERTS_DIR || 'certs'),
    clientsFile: path.resolve(cwd, env.CLIENTS_FILE || 'clients.json'),
    trustProxy: trustProxyFrom(env),
    logLevel: env.LOG_LEVEL || (mode === 'test' ? 'silent' : 'info'),
    keysAutoGenerate: flag(env, 'KEYS_AUTO_GENERATE', !production),
    keyRetentionSeconds: integer(env, 'KEY_RETENTION_SECONDS', 2 * 24 * 3600, 3600, 365 * 24 * 3600),
    authorizationPost: flag(env, 'AUTHORIZATION_POST', false),
    demoData,
    sweepIntervalSeconds: integer(env, 'SWEEP_INTERVAL_SECONDS', 60, 1, 86400),
    // One core short of all: argon2 must leave a core to the event loop and token signing (Q-P1, Q-P3).
    hashConcurrency: integer(env, 'HASH_CONCURRENCY', Math.max(1, os.availableParallelism() - 1), 1, 64),
    hashQueueMax: integer(env, 'HASH_QUEUE_MAX', 32, 1, 10_000),
    unitCodeTtlHours: integer(env, 'UNIT_CODE_TTL_HOURS', 72, 1, 24 * 30),
    reauthSeconds: integer(env, 'REAUTH_SECONDS', 600, 30, 24 * 3600),
    smsGateway: smsGatewayFrom(env),
    smtp: smtpFrom(env),
  };
}
