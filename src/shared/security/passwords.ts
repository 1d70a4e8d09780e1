import argon2 from 'argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { QueueFullError, Semaphore } from './semaphore.js';
import { AppError } from '../errors.js';
import { metrics } from '../metrics.js';

/** OWASP Password Storage Cheat Sheet: argon2id, 19 MiB, t=2, p=1 (R-P3). */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

/** Passwords common on Chinese services that the English-centric list misses. */
const COMMON_ZH = [
  'woaini1314',
  'woaini520',
  '5201314520',
  'woaini123',
  'woaini1314520',
  'iloveyou1314',
  'qq123456',
  'qq123456789',
  'zhang123',
  'wang123456',
  'li123456',
  'a1234567',
  'a12345678',
  'a123456789',
  'aa123456',
  'abc12345',
  'abc123456',
  'admin123',
  'admin888',
  'asd123456',
  'qwe123456',
  'zxc123456',
  '1q2w3e4r',
  '1qaz2wsx',
  'q1w2e3r4',
  'p@ssw0rd',
  'passw0rd',
  'password1',
  '123456aa',
  '123456abc',
  '88888888',
  '66666666',
  '147258369',
  '123123123',
  '5201314',
  'qazwsxedc',
  'woshishui',
  'nihao123',
  'zhongguo',
  'beijing2008',
  'shanghai',
  'huang123',
  'liu123456',
];

const COMMON = new Set<string>([...(dictionary['passwords-common'] as string[]), ...COMMON_ZH].map((p) => p.toLowerCase()));

export type PasswordProblem = 'too_short' | 'too_long' | 'common' | 'contains_identity';

/** Unicode-aware length (code points), after NFC normalisation. */
export function passwordLength(password: string): number {
  return [...password.normalize('NFC')].length;
}

/**
 * R-P3 / S-20: 8–128 characters, no composition rules, not a common or breached password, not built from the
 * account's own login name or mobile number.
 */
export function checkPassword(password: string, identity: { loginName?: string; mobile?: string } = {}): PasswordProblem | undefined {
  const length = passwordLength(password);
  if (length < PASSWORD_MIN) return 'too_short';
  if (length > PASSWORD_MAX) return 'too_long';
  const lower = password.normalize('NFC').toLowerCase();
  if (COMMON.has(lower) || /^(.)\1+$/.test(lower)) return 'common';
  for (const part of [identity.loginName, identity.mobile]) {
    if (part && part.length >= 4 && lower.includes(part.toLowerCase())) return 'contains_identity';
  }
  return undefined;
}

/** Refuses a new password that breaks R-P3 or differs from its confirmation, naming the field. */
export function assertNewPassword(password: string, confirm: string, identity: { loginName?: string; mobile?: string } = {}): void {
  const problem = checkPassword(password, identity);
  if (problem) throw new AppError(`password_${problem}`, { field: 'password' });
  if (password !== confirm) throw new AppError('password_mismatch', { field: 'passwordConfirm' });
}

/**
 * argon2 runs on libuv's thread pool, which jose's signing shares; capping concurrent hashes keeps token
 * issuance fast during a burst of sign-ins (Q-P3).
 */
export class PasswordHasher {
  readonly #semaphore: Semaphore;
  #dummy: Promise<string> | undefined;

  /** At most `concurrency` hashes run at once and `maxQueue` wait; beyond that `busy` (503 + Retry-After, S-28). */
  constructor(concurrency: number, maxQueue: number = Number.POSITIVE_INFINITY) {
    this.#semaphore = new Semaphore(concurrency, maxQueue);
    metrics.registerHashQueue(this);
  }

  /** Runs argon2 work under the semaphore, reporting how long it waited for a slot. */
  async #run<T>(work: () => Promise<T>): Promise<T> {
    const queuedAt = performance.now();
    try {
      return await this.#semaphore.run(() => {
        metrics.hashWaited((performance.now() - queuedAt) / 1000);
        return work();
      });
    } catch (error) {
      if (error instanceof QueueFullError) throw new AppError('busy');
      throw error;
    }
  }

  get queued(): number {
    return this.#semaphore.pending;
  }

  hash(password: string): Promise<string> {
    return this.#run(() => argon2.hash(password.normalize('NFC'), ARGON2_OPTIONS));
  }

  async verify(hash: string, password: string): Promise<boolean> {
    return this.#run(async () => {
      try {
        return await argon2.verify(hash, password.normalize('NFC'));
      } catch {
        return false;
      }
    });
  }

  /** Same cost as a real verification, for unknown accounts (S-22: no timing difference). */
  async verifyDummy(password: string): Promise<false> {
    this.#dummy ??= argon2.hash('dummy password for unknown accounts', ARGON2_OPTIONS);
    await this.verify(await this.#dummy, password);
    return false;
  }

  needsRehash(hash: string): boolean {
    return argon2.needsRehash(hash, ARGON2_OPTIONS);
  }
}
