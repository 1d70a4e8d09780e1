import crypto from 'node:crypto';
import type { Database, Queryable } from '../db/database.js';
import type { Notifier } from '../notifier/notifier.js';

/** A notifier that queues (QueuedNotifier): a real send and a decoy both write one job in the request. */
export interface CodeNotifier extends Notifier {
  decoy(tx?: Queryable): Promise<void>;
}
import { isUuid } from '../account-id.js';
import { AppError } from '../errors.js';
import { translate, type Locale, type MessageKey } from '../i18n/index.js';
import type { Secrets } from './secrets.js';
import { assertWithinLimits, type Throttle } from './throttle.js';

export type CodePurpose = 'register' | 'password_reset' | 'mobile_change' | 'unit_recovery' | 'unit_password_reset';

const TTL_SECONDS = 5 * 60;
const MAX_ATTEMPTS = 5;
const RESEND_SECONDS = 60;

export interface IssueRequest {
  purpose: CodePurpose;
  /** What the code is bound to: a mobile number being verified, a person id, a unit id … */
  subject: string;
  /** Mobile number the code is sent to. */
  mobile: string;
  /**
   * What the sending limits count under: derived from what the requester typed (the mobile number by default; a
   * login name or a certificate for recovery), never from the account found behind it, so that no limit answers
   * differently for an existing and a missing account (S-29). A decoy for the same input counts under the same key.
   */
  limitKey?: string;
  locale: Locale;
  ip: string;
}

export interface IssuedCode {
  challenge: string;
  expiresAt: Date;
}

/**
 * One-time codes (S-23): 6 digits from a CSPRNG, stored as an HMAC, bound to purpose and subject, single use,
 * valid 5 minutes, at most 5 attempts; sending is rate-limited per destination and per IP.
 */
export class OneTimeCodes {
  constructor(
    private readonly db: Database,
    private readonly secrets: Secrets,
    private readonly notifier: CodeNotifier,
    private readonly throttle: Throttle,
    private readonly now: () => Date = () => new Date(),
  ) {}

  #digest(challenge: string, code: string): string {
    return this.secrets.hmac('one-time-code', `${challenge}:${code}`);
  }

  async #allowSending(destination: string, ip: string): Promise<void> {
    const perDestination = await this.throttle.count(`otp:to:${destination}`, 1, RESEND_SECONDS);
    const perDay = await this.throttle.count(`otp:to-day:${destination}`, 10, 24 * 3600);
    const perIp = await this.throttle.count(`otp:ip:${ip}`, 20, 3600);
    assertWithinLimits(perDestination, perDay, perIp);
  }

  async issue(request: IssueRequest): Promise<IssuedCode> {
    await this.#allowSending(request.limitKey ?? request.mobile, request.ip);
    const challenge = crypto.randomUUID();
    const code = crypto.randomInt(0, 1_000_000).toString().padStart(6, '0');
    const now = this.now();
    const expiresAt = new Date(now.getTime() + TTL_SECONDS * 1000);
    const purpose = translate(request.locale, `otp.purpose.${request.purpose}` as MessageKey);
    // The code and its SMS job commit together (S-56): the gateway is called by the job worker, not here.
    await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO one_time_code (id, purpose, subject, destination, code_hmac, max_attempts, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [challenge, request.purpose, request.subject, request.mobile, this.#digest(challenge, code), MAX_ATTEMPTS, now, expiresAt],
      );
      await this.notifier.send(
        { channel: 'sms', to: request.mobile, template: `otp.${request.purpose}`, body: translate(request.locale, 'otp.sms', { code, purpose, minutes: TTL_SECONDS / 60 }) },
        tx,
      );
    });
    return { challenge, expiresAt };
  }

  /**
   * What `issue` answers when there is nobody to send to (an unknown account, S-22): the same rate limits, counted
   * under the same `limitKey` a real send for that input would use (S-29: decoys count exactly as real sends), a
   * decoy job written in a transaction as a real send writes its code and job (so both cost the request one
   * transaction; the gateway is never called in either), and a challenge that can never succeed.
   */
  async decoy(limitKey: string, ip: string): Promise<IssuedCode> {
    await this.#allowSending(limitKey, ip);
    await this.db.transaction((tx) => this.notifier.decoy(tx));
    return { challenge: crypto.randomUUID(), expiresAt: new Date(this.now().getTime() + TTL_SECONDS * 1000) };
  }

  /**
   * Checks and consumes a code. Every attempt counts; wrong, expired, used, exhausted or foreign codes all fail
   * the same way (`code_invalid`).
   */
  async consume(challenge: string, purpose: CodePurpose, subject: string, code: string, tx: Queryable = this.db): Promise<void> {
    // Attempts count even when the caller's transaction rolls back, so they run outside it.
    await this.check(challenge, purpose, subject, code);
    await this.use(challenge, purpose, subject, tx);
  }

  /**
   * The first half of `consume`, for callers that must use the code inside their own transaction: checks the code
   * (every attempt counts, outside any transaction) without using it. Then `use` it in the transaction. Unlike
   * `consume(…, tx)`, this never needs a second connection while the caller's transaction holds one (the embedded
   * database has a single connection).
   */
  async check(challenge: string, purpose: CodePurpose, subject: string, code: string): Promise<void> {
    if (!isUuid(challenge) || !/^\d{6}$/.test(code)) throw new AppError('code_invalid', { field: 'code' });
    const { rows } = await this.db.query<{ code_hmac: string }>(
      `UPDATE one_time_code SET attempts = attempts + 1
       WHERE id = $1 AND purpose = $2 AND subject = $3 AND consumed_at IS NULL AND expires_at > $4 AND attempts < max_attempts
       RETURNING code_hmac`,
      [challenge, purpose, subject, this.now()],
    );
    const row = rows[0];
    if (!row || !this.secrets.hmacEquals('one-time-code', `${challenge}:${code}`, row.code_hmac)) {
      throw new AppError('code_invalid', { field: 'code' });
    }
  }

  /** The second half: uses a checked code once, in the caller's transaction (a concurrent use loses). */
  async use(challenge: string, purpose: CodePurpose, subject: string, tx: Queryable): Promise<void> {
    const used = await tx.query('UPDATE one_time_code SET consumed_at = $4 WHERE id = $1 AND purpose = $2 AND subject = $3 AND consumed_at IS NULL AND expires_at > $4', [
      challenge,
      purpose,
      subject,
      this.now(),
    ]);
    if (used.rowCount !== 1) throw new AppError('code_invalid', { field: 'code' });
  }

  /** The subject a pending challenge is bound to (e.g. the person of a password reset), if it is still usable. */
  async subjectOf(challenge: string, purpose: CodePurpose): Promise<string | undefined> {
    if (!isUuid(challenge)) return undefined;
    const { rows } = await this.db.query<{ subject: string }>('SELECT subject FROM one_time_code WHERE id = $1 AND purpose = $2 AND consumed_at IS NULL AND expires_at > $3', [
      challenge,
      purpose,
      this.now(),
    ]);
    return rows[0]?.subject;
  }

  /** The destination a pending challenge was sent to (to show it masked on the next step). */
  async destination(challenge: string, purpose: CodePurpose): Promise<string | undefined> {
    if (!isUuid(challenge)) return undefined;
    const { rows } = await this.db.query<{ destination: string }>('SELECT destination FROM one_time_code WHERE id = $1 AND purpose = $2 AND consumed_at IS NULL', [
      challenge,
      purpose,
    ]);
    return rows[0]?.destination;
  }
}
