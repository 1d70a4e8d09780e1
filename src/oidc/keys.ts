import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as jose from 'jose';
import { ConfigError } from '../config/env.js';

/** Signing algorithms we publish; the first is the default for ID tokens (C-T7). */
export const SIGNING_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];

export type PrivateJwk = jose.JWK & { kid: string; alg: SigningAlgorithm; use: 'sig' };

interface KeyState {
  createdAt: string;
  /** Set when a newer key of the same algorithm took over signing. */
  retiredAt?: string;
  /** Set while the key is published ahead of signing (staged rotation); cleared when it is promoted. */
  stagedAt?: string;
}

export interface KeyMaterial {
  /** Private JWKS, the signing key of each algorithm first. */
  jwks: { keys: PrivateJwk[] };
  /** Cookie signing keys, newest first. */
  cookieKeys: string[];
  /** Master secret for application HMACs and encryption (identity numbers, one-time codes, TOTP secrets). */
  dataKey: Buffer;
}

const FILES = { jwks: 'jwks.json', state: 'jwks-state.json', cookies: 'cookie-keys.json', data: 'data-key.json' } as const;

const COOKIE_KEYS_KEPT = 3;

async function generateKey(alg: SigningAlgorithm): Promise<PrivateJwk> {
  const options = alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true };
  const { privateKey } = await jose.generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, options);
  const jwk = await jose.exportJWK(privateKey);
  const kid = await jose.calculateJwkThumbprint(jwk, 'sha256');
  return { ...jwk, kid, alg, use: 'sig' };
}

function cookieKey(): string {
  return crypto.randomBytes(32).toString('base64url');
}

function readJson<T>(dir: string, name: string): T | undefined {
  const file = path.join(dir, name);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new ConfigError(`${file} cannot be read (${code ?? 'error'}); check the permissions of CERTS_DIR`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ConfigError(`${file} is not valid JSON; restore it from backup or remove certs/ to generate new keys`);
  }
}

/** Writes through a temporary file and a rename, so a crash never leaves a half-written key file. */
function writeJson(dir: string, name: string, value: unknown): void {
  const file = path.join(dir, name);
  const temp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(temp, file);
}

function validate(dir: string, jwks: unknown, cookieKeys: unknown): Omit<KeyMaterial, 'dataKey'> {
  const file = path.join(dir, FILES.jwks);
  const keys = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError(`${file} must hold {"keys": [...]} with at least one key`);
  for (const key of keys as Partial<PrivateJwk>[]) {
    if (typeof key.kid !== 'string' || !SIGNING_ALGORITHMS.includes(key.alg as SigningAlgorithm) || !('d' in key)) {
      throw new ConfigError(`${file}: every key needs a kid, an alg among ${SIGNING_ALGORITHMS.join(', ')} and its private part`);
    }
  }
  if (!keys.some((key: PrivateJwk) => key.alg === 'RS256')) throw new ConfigError(`${file} must hold an RS256 key`);
  const cookieFile = path.join(dir, FILES.cookies);
  if (!Array.isArray(cookieKeys) || cookieKeys.length === 0 || !cookieKeys.every((k) => typeof k === 'string' && k.length >= 32)) {
    throw new ConfigError(`${cookieFile} must hold a non-empty array of keys of at least 32 characters`);
  }
  return { jwks: { keys: keys as PrivateJwk[] }, cookieKeys: cookieKeys as string[] };
}

/** Exclusive creation of a lock file, so two processes never generate or rotate keys at the same time. */
async function withLock<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, '.lock');
  for (let waited = 0; ; waited += 50) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = Date.now() - fs.statSync(lock).mtimeMs;
      if (age > 30_000)
        fs.rmSync(lock, { force: true }); // left behind by a crashed process
      else if (waited > 30_000) throw new ConfigError(`${lock} is held by another process`);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await work();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function ensureDirectory(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.R_OK | fs.constants.W_OK);
  } catch (error) {
    throw new ConfigError(`CERTS_DIR ${dir} is not usable (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export interface LoadKeysOptions {
  dir: string;
  /** Generate keys when none exist; otherwise their absence stops the start. */
  generate: boolean;
}

export interface LoadedKeys extends KeyMaterial {
  generated: boolean;
}

/**
 * The data key is never rotated by keys:rotate: identity-number HMACs (uniqueness) and encrypted TOTP secrets
 * depend on it. It is generated with the other keys and must be backed up with them.
 */
function readDataKey(dir: string): Buffer | undefined {
  const stored = readJson<{ key?: unknown }>(dir, FILES.data);
  if (stored === undefined) return undefined;
  const key = typeof stored.key === 'string' ? Buffer.from(stored.key, 'base64url') : Buffer.alloc(0);
  if (key.length !== 32) throw new ConfigError(`${path.join(dir, FILES.data)} must hold {"key": "<32 bytes, base64url>"}`);
  return key;
}

/** Reads the data key, creating it when absent and allowed (call under the directory lock). */
function loadDataKey(dir: string, generate: boolean): Buffer {
  const existing = readDataKey(dir);
  if (existing) return existing;
  if (!generate) throw new ConfigError(`${path.join(dir, FILES.data)} not found: provide the data key or set KEYS_AUTO_GENERATE=true`);
  const key = crypto.randomBytes(32);
  writeJson(dir, FILES.data, { key: key.toString('base64url') });
  return key;
}

/** Loads the signing and cookie keys from certs/, generating them on first start when allowed. */
export async function loadKeys({ dir, generate }: LoadKeysOptions): Promise<LoadedKeys> {
  const existing = readJson<unknown>(dir, FILES.jwks);
  if (existing !== undefined) {
    const material = validate(dir, existing, readJson<unknown>(dir, FILES.cookies));
    const dataKey = readDataKey(dir) ?? (await withLock(dir, async () => loadDataKey(dir, generate)));
    return { ...material, dataKey, generated: false };
  }
  if (!generate) {
    throw new ConfigError(`${path.join(dir, FILES.jwks)} not found: provide the signing keys or set KEYS_AUTO_GENERATE=true`);
  }
  ensureDirectory(dir);
  return withLock(dir, async () => {
    const raced = readJson<unknown>(dir, FILES.jwks); // another instance may have generated them meanwhile
    if (raced !== undefined) {
      return { ...validate(dir, raced, readJson<unknown>(dir, FILES.cookies)), dataKey: loadDataKey(dir, generate), generated: false };
    }
    const keys = await Promise.all(SIGNING_ALGORITHMS.map(generateKey));
    const createdAt = new Date().toISOString();
    const dataKey = loadDataKey(dir, true);
    writeJson(dir, FILES.cookies, [cookieKey()]);
    writeJson(dir, FILES.state, Object.fromEntries(keys.map((key) => [key.kid, { createdAt } satisfies KeyState])));
    writeJson(dir, FILES.jwks, { keys });
    return { jwks: { keys }, cookieKeys: readJson<string[]>(dir, FILES.cookies) ?? [], dataKey, generated: true };
  });
}

/**
 * When each signing key (the first key of each algorithm) was created, from jwks-state.json; keys the state file
 * does not know are left out. Read at scrape time for `uop_signing_key_age_seconds`.
 */
export function signingKeyDates(dir: string, keys: PrivateJwk[]): { alg: string; createdAt: Date }[] {
  let state: Record<string, KeyState>;
  try {
    state = JSON.parse(fs.readFileSync(path.join(dir, FILES.state), 'utf8')) as Record<string, KeyState>;
  } catch {
    return [];
  }
  const seen = new Set<string>();
  const dates: { alg: string; createdAt: Date }[] = [];
  for (const key of keys) {
    if (seen.has(key.alg)) continue;
    seen.add(key.alg);
    const created = Date.parse(state[key.kid]?.createdAt ?? '');
    if (Number.isFinite(created)) dates.push({ alg: key.alg, createdAt: new Date(created) });
  }
  return dates;
}

export interface RotationResult {
  added: string[];
  promoted: string[];
  retired: string[];
  removed: string[];
}

/**
 * - `rotate` (default): promote the staged keys if there are any, otherwise add a new key per algorithm and
 *   promote it at once;
 * - `stage`: add a new key per algorithm that is published in the JWKS but does not sign yet, so relying parties
 *   cache it before it is used (promote it after their JWKS cache lifetime, e.g. 10 minutes, or later);
 * - `promote`: make the staged keys sign.
 */
export type RotationMode = 'rotate' | 'stage' | 'promote';

/**
 * Rotates the signing keys and adds a new cookie key (old cookie keys keep verifying, up to three). Keys that stop
 * signing stay published (for verification) until `retentionSeconds` after their retirement, then a later
 * rotation removes them. The file keeps the signing key of each algorithm first (node-oidc-provider signs with
 * the first key of an algorithm), then retired keys, then staged ones.
 */
export async function rotateKeys(dir: string, retentionSeconds: number, at: Date = new Date(), mode: RotationMode = 'rotate'): Promise<RotationResult> {
  ensureDirectory(dir);
  return withLock(dir, async () => {
    const current = readJson<unknown>(dir, FILES.jwks);
    if (current === undefined) throw new ConfigError(`${path.join(dir, FILES.jwks)} not found: start the provider once to generate keys`);
    const material = validate(dir, current, readJson<unknown>(dir, FILES.cookies));
    const state = readJson<Record<string, KeyState>>(dir, FILES.state) ?? {};
    const stamp = at.toISOString();
    const entry = (key: PrivateJwk) => (state[key.kid] ??= { createdAt: stamp });
    const staged = material.jwks.keys.filter((key) => entry(key).stagedAt);
    const result: RotationResult = { added: [], promoted: [], retired: [], removed: [] };

    if (mode === 'stage') {
      if (staged.length > 0) throw new ConfigError(`keys are already staged (${staged.map((key) => key.kid).join(', ')}); promote them first`);
      const fresh = await Promise.all(SIGNING_ALGORITHMS.map(generateKey));
      for (const key of fresh) state[key.kid] = { createdAt: stamp, stagedAt: stamp };
      writeJson(dir, FILES.state, state);
      writeJson(dir, FILES.jwks, { keys: [...material.jwks.keys, ...fresh] });
      return { ...result, added: fresh.map((key) => key.kid) };
    }
    if (mode === 'promote' && staged.length === 0) throw new ConfigError('no staged keys to promote; run with --stage first');

    const incoming = staged.length > 0 ? staged : await Promise.all(SIGNING_ALGORITHMS.map(generateKey));
    if (staged.length === 0) result.added = incoming.map((key) => key.kid);
    for (const key of incoming) {
      state[key.kid] = { createdAt: state[key.kid]?.createdAt ?? stamp };
      result.promoted.push(key.kid);
    }
    const promoted = new Set(result.promoted);
    const kept = material.jwks.keys.filter((key) => {
      if (promoted.has(key.kid)) return false;
      const info = entry(key);
      if (!info.retiredAt) {
        info.retiredAt = stamp;
        result.retired.push(key.kid);
      }
      const expired = at.getTime() - Date.parse(info.retiredAt) > retentionSeconds * 1000;
      if (expired) {
        result.removed.push(key.kid);
        delete state[key.kid];
      }
      return !expired;
    });
    writeJson(dir, FILES.cookies, [cookieKey(), ...material.cookieKeys].slice(0, COOKIE_KEYS_KEPT + 1));
    writeJson(dir, FILES.state, state);
    writeJson(dir, FILES.jwks, { keys: [...incoming, ...kept] });
    return result;
  });
}

/** Public part of a private JWKS (what /jwks publishes), for tests and tools. */
export function publicJwks(keys: PrivateJwk[]): jose.JWK[] {
  return keys.map((key) => {
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...rest } = key;
    return rest;
  });
}
