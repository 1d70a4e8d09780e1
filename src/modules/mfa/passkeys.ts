import crypto from 'node:crypto';
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Database, Queryable } from '../../shared/db/database.js';
import { AppError } from '../../shared/errors.js';
import { ACCOUNT_LOCKOUT, IP_LOCKOUT, type Throttle } from '../../shared/security/throttle.js';
import type { AuditContext, AuditLog } from '../audit/audit-log.js';

/** How long a registration or sign-in challenge may be answered. */
const CHALLENGE_SECONDS = 5 * 60;

export interface Passkey {
  id: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  deviceType: 'singleDevice' | 'multiDevice';
}

/** What a passkey check proved: whose it is, and the RFC 8176 method (a synced passkey is software-secured). */
export interface PasskeyProof {
  personId: string;
  method: 'hwk' | 'swk';
  userVerified: boolean;
}

export interface PasskeyDeps {
  db: Database;
  throttle: Throttle;
  audit: AuditLog;
  /** The issuer: its host is the WebAuthn RP ID, its origin the only accepted origin. */
  issuer: string;
  rpName: string;
  /** Recovery codes for a person whose first second factor is a passkey (issue #18), in the enrolment's transaction. */
  recoveryCodes: {
    status(personId: string, db: Queryable): Promise<{ totp: boolean; recoveryCodesLeft: number; passkeys: number }>;
    issueRecoveryCodes(db: Queryable, personId: string, at: Date): Promise<string[]>;
    removeRecoveryCodes(db: Queryable, personId: string): Promise<void>;
  };
  now?: () => Date;
}

interface Row {
  id: string;
  person_id: string;
  credential_id: string;
  public_key: string;
  counter: string;
  transports: string[];
  device_type: 'singleDevice' | 'multiDevice';
}

/** The challenge a WebAuthn response answers, from its clientDataJSON (checked again by the library). */
function challengeOf(response: { response?: { clientDataJSON?: unknown } }): string | undefined {
  try {
    const data = JSON.parse(Buffer.from(String(response.response?.clientDataJSON ?? ''), 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof data.challenge === 'string' ? data.challenge : undefined;
  } catch {
    return undefined;
  }
}

/** A WebAuthn response as the browser script posts it (a JSON object, or nothing usable). */
export function parseWebAuthnResponse<T>(text: string): T {
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string') return value as T;
  } catch {
    // fall through
  }
  throw new AppError('passkey_invalid');
}

/**
 * Passkeys of persons (issue #18) with @simplewebauthn/server: registration in the account centre, then a passkey
 * is a second factor after the password, or a sign-in on its own (discoverable credential, user verification
 * required). Challenges live in the database and are consumed by the check that uses them (one use, 5 minutes);
 * sign-in checks are reserved per IP (and per person when known) before verifying, like passwords (S-26).
 */
export class PasskeyService {
  readonly #now: () => Date;
  readonly #rpId: string;
  readonly #origin: string;

  constructor(private readonly deps: PasskeyDeps) {
    this.#now = deps.now ?? (() => new Date());
    const issuer = new URL(deps.issuer);
    this.#rpId = issuer.hostname;
    this.#origin = issuer.origin;
  }

  async list(personId: string, db: Queryable = this.deps.db): Promise<Passkey[]> {
    const { rows } = await db.query<{ id: string; created_at: Date; last_used_at: Date | null; device_type: Passkey['deviceType'] }>(
      'SELECT id, created_at, last_used_at, device_type FROM person_passkey WHERE person_id = $1 ORDER BY created_at',
      [personId],
    );
    return rows.map((row) => ({ id: row.id, createdAt: row.created_at, lastUsedAt: row.last_used_at, deviceType: row.device_type }));
  }

  async #credentials(personId: string): Promise<Row[]> {
    const { rows } = await this.deps.db.query<Row>('SELECT * FROM person_passkey WHERE person_id = $1', [personId]);
    return rows;
  }

  async #remember(challenge: string, purpose: 'register' | 'authenticate', subject: string): Promise<void> {
    const now = this.#now();
    await this.deps.db.query('DELETE FROM webauthn_challenge WHERE subject = $1 AND expires_at <= $2', [subject, now]);
    await this.deps.db.query('INSERT INTO webauthn_challenge (challenge, purpose, subject, expires_at) VALUES ($1, $2, $3, $4)', [
      challenge,
      purpose,
      subject,
      new Date(now.getTime() + CHALLENGE_SECONDS * 1000),
    ]);
  }

  /** Consumes a challenge issued for this purpose and subject; true once, while it is valid. */
  async #consume(challenge: string | undefined, purpose: 'register' | 'authenticate', subject: string): Promise<boolean> {
    if (!challenge) return false;
    const { rowCount } = await this.deps.db.query('DELETE FROM webauthn_challenge WHERE challenge = $1 AND purpose = $2 AND subject = $3 AND expires_at > $4', [
      challenge,
      purpose,
      subject,
      this.#now(),
    ]);
    return rowCount === 1;
  }

  async registrationOptions(person: { id: string; loginName: string }): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const options = await generateRegistrationOptions({
      rpName: this.deps.rpName,
      rpID: this.#rpId,
      userName: person.loginName,
      userID: new Uint8Array(Buffer.from(person.id)),
      attestationType: 'none',
      excludeCredentials: (await this.#credentials(person.id)).map((row) => ({ id: row.credential_id, transports: row.transports })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
    });
    await this.#remember(options.challenge, 'register', person.id);
    return options;
  }

  /**
   * Adds the passkey the browser created. The person's first second factor also gets recovery codes (as with
   * TOTP): returned once in clear, never again; undefined when the person already had a factor.
   */
  async register(personId: string, response: RegistrationResponseJSON, context: AuditContext): Promise<string[] | undefined> {
    const challenge = challengeOf(response);
    const verified = await verifyRegistrationResponse({
      response,
      expectedChallenge: () => this.#consume(challenge, 'register', personId),
      expectedOrigin: this.#origin,
      expectedRPID: this.#rpId,
      requireUserVerification: true,
    }).catch(() => undefined);
    if (!verified?.verified) {
      await this.deps.audit.record(context, { action: 'person.mfa_enrol', outcome: 'failure', target: { type: 'person', id: personId }, detail: { factor: 'passkey' } });
      throw new AppError('passkey_invalid');
    }
    const { credential, credentialDeviceType, credentialBackedUp } = verified.registrationInfo;
    return this.deps.db.transaction(async (tx) => {
      const before = await this.deps.recoveryCodes.status(personId, tx);
      await tx.query(
        `INSERT INTO person_passkey (id, person_id, credential_id, public_key, counter, transports, device_type, backed_up, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          crypto.randomUUID(),
          personId,
          credential.id,
          Buffer.from(credential.publicKey).toString('base64url'),
          credential.counter,
          credential.transports ?? [],
          credentialDeviceType,
          credentialBackedUp,
          this.#now(),
        ],
      );
      await this.deps.audit.record(context, { action: 'person.mfa_enrol', target: { type: 'person', id: personId }, detail: { factor: 'passkey' } }, tx);
      const first = !before.totp && before.passkeys === 0 && before.recoveryCodesLeft === 0;
      return first ? this.deps.recoveryCodes.issueRecoveryCodes(tx, personId, this.#now()) : undefined;
    });
  }

  async remove(personId: string, passkeyId: string, context: AuditContext): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM person_passkey WHERE id = $1 AND person_id = $2', [passkeyId, personId]);
      if (rowCount !== 1) throw new AppError('not_found');
      // The last second factor gone: its recovery codes go with it.
      const left = await this.deps.recoveryCodes.status(personId, tx);
      if (!left.totp && left.passkeys === 0) await this.deps.recoveryCodes.removeRecoveryCodes(tx, personId);
      await this.deps.audit.record(context, { action: 'person.mfa_remove', target: { type: 'person', id: personId }, detail: { factor: 'passkey' } }, tx);
    });
  }

  /** Sign-in options: the person's passkeys (second factor), or any discoverable passkey (sign-in without a password). */
  async authenticationOptions(personId: string | undefined): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const options = await generateAuthenticationOptions({
      rpID: this.#rpId,
      userVerification: personId ? 'preferred' : 'required',
      allowCredentials: personId ? (await this.#credentials(personId)).map((row) => ({ id: row.credential_id, transports: row.transports })) : [],
    });
    await this.#remember(options.challenge, 'authenticate', personId ?? 'any');
    return options;
  }

  /**
   * Checks a sign-in with a passkey: of `personId` (second factor), or of whoever it belongs to (without a password:
   * user verification required, so the passkey alone is two factors). Audited; throttled before verifying.
   */
  async authenticate(personId: string | undefined, response: AuthenticationResponseJSON, context: AuditContext): Promise<PasskeyProof> {
    const reservation = await this.deps.throttle.reserve([
      ...(personId ? [{ key: `mfa:person:${personId}`, policy: ACCOUNT_LOCKOUT, resetOnSuccess: true }] : []),
      { key: `mfa:ip:${context.ip ?? 'unknown'}`, policy: IP_LOCKOUT },
    ]);
    const { rows } = await this.deps.db.query<Row>('SELECT * FROM person_passkey WHERE credential_id = $1', [String(response.id)]);
    const row = rows[0] && (!personId || rows[0].person_id === personId) ? rows[0] : undefined;
    const challenge = challengeOf(response);
    const verified =
      row &&
      (await verifyAuthenticationResponse({
        response,
        expectedChallenge: () => this.#consume(challenge, 'authenticate', personId ?? 'any'),
        expectedOrigin: this.#origin,
        expectedRPID: this.#rpId,
        requireUserVerification: !personId,
        credential: {
          id: row.credential_id,
          publicKey: new Uint8Array(Buffer.from(row.public_key, 'base64url')),
          counter: Number(row.counter),
          transports: row.transports as never,
        },
      }).catch(() => undefined));
    const target = row ? { type: 'person', id: row.person_id } : personId ? { type: 'person', id: personId } : undefined;
    if (!row || !verified?.verified) {
      await this.deps.audit.record(context, { action: 'person.mfa_verify', outcome: 'failure', target, detail: { method: 'passkey' } });
      throw new AppError('passkey_invalid');
    }
    await this.deps.db.query('UPDATE person_passkey SET counter = $2, last_used_at = $3 WHERE id = $1', [row.id, verified.authenticationInfo.newCounter, this.#now()]);
    await reservation.succeeded();
    const method = row.device_type === 'multiDevice' ? 'swk' : 'hwk';
    await this.deps.audit.record(
      { ...context, actor: { type: 'person', id: row.person_id } },
      { action: 'person.mfa_verify', target: { type: 'person', id: row.person_id }, detail: { method } },
    );
    return { personId: row.person_id, method, userVerified: verified.authenticationInfo.userVerified };
  }
}
