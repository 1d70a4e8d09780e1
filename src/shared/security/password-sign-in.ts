import { AppError } from '../errors.js';
import { metrics } from '../metrics.js';
import type { PasswordHasher } from './passwords.js';
import { ACCOUNT_LOCKOUT, IP_LOCKOUT, type Throttle } from './throttle.js';

import type { AccountKind } from '../account-id.js';

export type SignInKind = AccountKind;

/**
 * A password check under the sign-in throttle, the same for every kind of account. The attempt is taken in the
 * database before argon2 runs (S-26: N parallel guesses count N, and a locked account or IP is refused at once
 * without a hash, S-21); an unknown account costs the same argon2 work as a known one (S-22); attempts count per
 * account — by its id, whichever identifier was typed, or by the typed name when unknown — and per client IP; a
 * success clears the account's count and gives the IP its attempt back.
 */
export class PasswordSignIn {
  constructor(
    private readonly throttle: Throttle,
    private readonly hasher: PasswordHasher,
    /** Records a lockout as it is imposed (the operator dashboard counts them); the audit log's record(). */
    private readonly onLockout: (kind: SignInKind, scope: 'account' | 'ip', accountId: string | undefined, ip: string | undefined) => Promise<void> = async () => undefined,
  ) {}

  async check(kind: SignInKind, account: { id: string; passwordHash: string } | undefined, typed: string, password: string, ip: string | undefined): Promise<boolean> {
    const accountKey = `login:${kind}:${account?.id ?? typed.trim().toLowerCase()}`;
    let reservation;
    try {
      reservation = await this.throttle.reserve([
        { key: accountKey, policy: ACCOUNT_LOCKOUT, resetOnSuccess: true },
        { key: `login:ip:${ip ?? 'unknown'}`, policy: IP_LOCKOUT },
      ]);
    } catch (error) {
      if (error instanceof AppError && error.code === 'account_locked') metrics.signIn(kind, 'locked');
      throw error;
    }
    const valid = account ? await this.hasher.verify(account.passwordHash, password) : await this.hasher.verifyDummy(password);
    metrics.signIn(kind, account && valid ? 'success' : 'failure');
    if (!account || !valid) {
      for (const key of reservation.placedLocks) {
        await this.onLockout(kind, key === accountKey ? 'account' : 'ip', key === accountKey ? account?.id : undefined, ip);
      }
      return false;
    }
    await reservation.succeeded();
    return true;
  }
}
