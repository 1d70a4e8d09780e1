import { AppError } from '../errors.js';
import { metrics } from '../metrics.js';
import type { PasswordHasher } from './passwords.js';
import { ACCOUNT_LOCKOUT, IP_LOCKOUT, type Throttle } from './throttle.js';

export type SignInKind = 'person' | 'unit' | 'operator';

/**
 * A password check under the sign-in throttle, the same for every kind of account: a locked account or IP is
 * refused at once (S-21); an unknown account costs the same argon2 work as a known one (S-22); failures count per
 * account — by its id, whichever identifier was typed, or by the typed name when unknown — and per client IP; a
 * success clears the account's count.
 */
export class PasswordSignIn {
  constructor(
    private readonly throttle: Throttle,
    private readonly hasher: PasswordHasher,
    /** Records a lockout as it is imposed (the operator dashboard counts them); the audit log's record(). */
    private readonly onLockout: (kind: SignInKind, scope: 'account' | 'ip', accountId: string | undefined, ip: string | undefined) => Promise<void> = async () => undefined,
  ) {}

  async check(kind: SignInKind, account: { id: string; passwordHash: string } | undefined, typed: string, password: string, ip: string | undefined): Promise<boolean> {
    const keys = [`login:${kind}:${account?.id ?? typed.trim().toLowerCase()}`, `login:ip:${ip ?? 'unknown'}`] as const;
    const throttled = await this.throttle.state([...keys]);
    if (throttled.locked) {
      metrics.signIn(kind, 'locked');
      throw new AppError('account_locked', 429, { seconds: throttled.retryAfterSeconds });
    }
    const valid = account ? await this.hasher.verify(account.passwordHash, password) : await this.hasher.verifyDummy(password);
    metrics.signIn(kind, account && valid ? 'success' : 'failure');
    if (!account || !valid) {
      if ((await this.throttle.fail(keys[0], ACCOUNT_LOCKOUT)).locked) await this.onLockout(kind, 'account', account?.id, ip);
      if ((await this.throttle.fail(keys[1], IP_LOCKOUT)).locked) await this.onLockout(kind, 'ip', undefined, ip);
      return false;
    }
    await this.throttle.reset(keys[0]);
    return true;
  }
}
