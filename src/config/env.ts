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
  /** Rows the sweep deletes per statement, and the pause after each full batch (ms): a backlog never takes the database whole (Q-P6). */
  sweep: { batchSize: number; pauseMs: number };
  /** Concurrent argon2 operations allowed (the rest queue). */
  hashConcurrency: number;
  /** argon2 operations that may wait for a slot; beyond that requests get 503 + Retry-After at once (S-28). */
  hashQueueMax: number;
  /** Lifetime of a counter authorisation code for unit verification (hours, R-U5). */
  unitCodeTtlHours: number;
  /** A sensitive console action needs a sign-in within this many seconds (S-34). */
  reauthSeconds: number;
  /**
   * Seconds during which a rotated refresh token may be presented again while its successor is unused (a lost
   * token response, S-55); 0 turns the leeway off.
   */
  refreshReuseSeconds: number;
  /** Job queue (S-56): polling interval, attempts before a job is parked as failed, first retry delay. */
  jobs: { pollMs: number; maxAttempts: number; retryBaseMs: number; webhookTimeoutMs: number };
  /** Test-only: hold every token request this long before its commit (refused in production). */
  testHoldTokenCommitMs: number;
  /** HTTP SMS gateway (POST JSON `{to, text}`); undefined: SMS go to the development outbox. */
  smsGateway: SmsGatewayConfig | undefined;
  /** SMTP server for e-mail; undefined: e-mail goes to the development outbox. */
  smtp: SmtpConfig | undefined;
  /** After SIGTERM, /readyz answers 503 for this long while requests are still served, so load balancers drain. */
  shutdownDrainSeconds: number;
  /** Prometheus metrics; undefined: not served at all. */
  metrics: MetricsConfig | undefined;
  /** OpenTelemetry traces over OTLP/HTTP; undefined: off. */
  tracing: TracingConfig | undefined;
  /** How the database is reached: directly (or a session-pooling PgBouncer), or through transaction pooling. */
  databasePoolMode: DatabasePoolMode;
  /** Identity-verification service for real-name submissions (R-P2); undefined: the counter only. */
  identityVerification: IdentityVerificationConfig | undefined;
}

export interface IdentityVerificationConfig {
  /** Receives a signed POST per submission (see README, "Identity-verification service"). */
  url: string;
  /** HMAC-SHA256 key shared with the service (environment only, never in a file of the repository). */
  secret: string;
  timeoutMs: number;
}

export type DatabasePoolMode = 'session' | 'transaction';

export interface TracingConfig {
  /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces. */
  endpoint: string;
  serviceName: string;
  /** Share of new traces sampled (0–1); an incoming traceparent's decision is followed. */
  sampleRatio: number;
}

/**
 * `/metrics` on its own listener (`port`, never the public one), or, with only a token, on the public listener
 * behind `Authorization: Bearer <token>`; a token set with a port is required there too.
 */
export interface MetricsConfig {
  port: number | undefined;
  host: string;
  token: string | undefined;
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

/** A fault-injection window for the crash tests (S-55); a production start refuses it. */
function testHold(env: Env, mode: string): number {
  const value = integer(env, 'TEST_HOLD_TOKEN_COMMIT_MS', 0, 0, 600_000);
  if (value > 0 && mode === 'production') throw new ConfigError('TEST_HOLD_TOKEN_COMMIT_MS is a test hook and is refused in production');
  return value;
}

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

/** A service left off (its main setting unset): a setting that only goes with it must not be set alone. */
function off(env: Env, companion: string, main: string): undefined {
  if (env[companion]) throw new ConfigError(`${companion} is set but ${main} is not`);
  return undefined;
}

/** An absolute http(s) URL; `invalid` and `notHttp` say what was expected. */
function httpUrl(raw: string, invalid: string, notHttp: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(invalid);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError(notHttp);
  return url;
}

/** A token or secret: printable ASCII without spaces, `min` to `max` characters. */
function printable(name: string, value: string, min: number, max: number): void {
  if (!new RegExp(`^[\\x21-\\x7e]{${min},${max}}$`).test(value)) throw new ConfigError(`${name} must be ${min} to ${max} printable ASCII characters without spaces`);
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
  const cidrs = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const bad = cidrs.find((cidr) => !validCidr(cidr));
  if (bad !== undefined || cidrs.length === 0) {
    throw new ConfigError(`TRUST_PROXY must be true/false, a number of proxy hops or a list of proxy addresses (CIDR), got "${bad ?? raw}"`);
  }
  return { cidrs };
}

function issuerFrom(raw: string): string {
  const url = httpUrl(raw, `ISSUER must be an absolute URL such as https://id.example.gov.cn, got "${raw}"`, `ISSUER must use https (or http for local development), got "${raw}"`);
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
  if (!url) return off(env, 'SMS_GATEWAY_TOKEN', 'SMS_GATEWAY_URL');
  httpUrl(url, 'SMS_GATEWAY_URL must be an absolute http(s) URL such as https://sms.example.gov.cn/send', 'SMS_GATEWAY_URL must use https or http');
  if (token !== undefined) printable('SMS_GATEWAY_TOKEN', token, 1, 512);
  return { url, token, timeoutMs: integer(env, 'SMS_GATEWAY_TIMEOUT_MS', 5000, 100, 60_000) };
}

function smtpFrom(env: Env): SmtpConfig | undefined {
  const url = env.SMTP_URL || undefined;
  const from = env.SMTP_FROM || undefined;
  if (!url) return off(env, 'SMTP_FROM', 'SMTP_URL');
  if (!/^smtps?:\/\/[^\s/]+/.test(url)) throw new ConfigError('SMTP_URL must be an smtp:// or smtps:// URL such as smtp://user:password@mail.example.gov.cn:587');
  if (!from) throw new ConfigError('SMTP_FROM must be set when SMTP_URL is (e.g. "统一身份认证平台 <noreply@example.gov.cn>")');
  if (!/^([^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/.test(from.trim())) {
    throw new ConfigError(`SMTP_FROM must be an e-mail address, optionally with a name: "Name <address>", got "${from}"`);
  }
  return { url, from: from.trim(), timeoutMs: integer(env, 'SMTP_TIMEOUT_MS', 10_000, 100, 120_000) };
}

function metricsFrom(env: Env, port: number, production: boolean): MetricsConfig | undefined {
  const token = env.METRICS_TOKEN || undefined;
  const metricsPort = env.METRICS_PORT ? integer(env, 'METRICS_PORT', 0, 1, 65535) : undefined;
  if (token !== undefined) printable('METRICS_TOKEN', token, 16, 512);
  if (metricsPort !== undefined && metricsPort === port) {
    throw new ConfigError(`METRICS_PORT must differ from PORT (${port}): metrics are never served on the public listener without METRICS_TOKEN`);
  }
  if (metricsPort === undefined && token === undefined) return off(env, 'METRICS_HOST', 'METRICS_PORT');
  return { port: metricsPort, host: env.METRICS_HOST || (production ? '0.0.0.0' : '127.0.0.1'), token };
}

function tracingFrom(env: Env): TracingConfig | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || undefined;
  if (!endpoint) return off(env, 'TRACING_SAMPLE_RATIO', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  httpUrl(
    endpoint,
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL such as http://otel-collector:4318/v1/traces',
    'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must use http or https',
  );
  const rawRatio = env.TRACING_SAMPLE_RATIO || '1';
  const sampleRatio = /^(0(\.\d+)?|1(\.0+)?)$/.test(rawRatio) ? Number(rawRatio) : Number.NaN;
  if (Number.isNaN(sampleRatio)) throw new ConfigError(`TRACING_SAMPLE_RATIO must be a number from 0 to 1, got "${rawRatio}"`);
  const serviceName = env.OTEL_SERVICE_NAME || 'unit-oidc-provider';
  if (!/^[\x21-\x7e]{1,128}$/.test(serviceName)) throw new ConfigError('OTEL_SERVICE_NAME must be 1 to 128 printable ASCII characters');
  return { endpoint, serviceName, sampleRatio };
}

function identityVerificationFrom(env: Env, production: boolean): IdentityVerificationConfig | undefined {
  const url = env.IDV_URL || undefined;
  const secret = env.IDV_SECRET || undefined;
  if (!url) return off(env, 'IDV_SECRET', 'IDV_URL');
  const parsed = httpUrl(url, 'IDV_URL must be an absolute https URL such as https://idv.example.gov.cn/verify', 'IDV_URL must use https (or http outside production)');
  if (production && parsed.protocol !== 'https:') throw new ConfigError('IDV_URL must be an https URL in production');
  if (!secret) throw new ConfigError('IDV_SECRET must be set when IDV_URL is (the HMAC key shared with the service, at least 32 characters)');
  printable('IDV_SECRET', secret, 32, 512);
  return { url, secret, timeoutMs: integer(env, 'IDV_TIMEOUT_MS', 10_000, 100, 60_000) };
}

function poolModeFrom(raw: string | undefined): DatabasePoolMode {
  if (raw === undefined || raw === '' || raw === 'session') return 'session';
  if (raw === 'transaction') return 'transaction';
  if (raw === 'statement') {
    throw new ConfigError(
      'DATABASE_POOL_MODE=statement is not supported: sign-ins and migrations need multi-statement transactions; use PgBouncer pool_mode=transaction with DATABASE_POOL_MODE=transaction, or session',
    );
  }
  throw new ConfigError(`DATABASE_POOL_MODE must be session or transaction, got "${raw}"`);
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
    sweep: { batchSize: integer(env, 'SWEEP_BATCH_SIZE', 1000, 10, 100_000), pauseMs: integer(env, 'SWEEP_PAUSE_MS', 50, 0, 10_000) },
    // One core short of all: argon2 must leave a core to the event loop and token signing (Q-P1, Q-P3).
    hashConcurrency: integer(env, 'HASH_CONCURRENCY', Math.max(1, os.availableParallelism() - 1), 1, 64),
    hashQueueMax: integer(env, 'HASH_QUEUE_MAX', 32, 1, 10_000),
    unitCodeTtlHours: integer(env, 'UNIT_CODE_TTL_HOURS', 72, 1, 24 * 30),
    reauthSeconds: integer(env, 'REAUTH_SECONDS', 600, 30, 24 * 3600),
    refreshReuseSeconds: integer(env, 'REFRESH_TOKEN_REUSE_SECONDS', 10, 0, 60),
    jobs: {
      pollMs: integer(env, 'JOB_POLL_MS', 1000, 10, 60_000),
      maxAttempts: integer(env, 'JOB_MAX_ATTEMPTS', 8, 1, 50),
      retryBaseMs: integer(env, 'JOB_RETRY_BASE_MS', 2000, 1, 600_000),
      webhookTimeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
    },
    testHoldTokenCommitMs: testHold(env, mode),
    smsGateway: smsGatewayFrom(env),
    smtp: smtpFrom(env),
    shutdownDrainSeconds: integer(env, 'SHUTDOWN_DRAIN_SECONDS', production ? 5 : 0, 0, 120),
    metrics: metricsFrom(env, port, production),
    tracing: tracingFrom(env),
    databasePoolMode: poolModeFrom(env.DATABASE_POOL_MODE),
    identityVerification: identityVerificationFrom(env, production),
  };
}
