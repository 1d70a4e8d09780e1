import crypto from 'node:crypto';
import type { Database, Queryable } from '../../shared/db/database.js';
import type { Secrets } from '../../shared/security/secrets.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { JobHandler } from '../jobs/worker.js';
import { canTransitionRealname } from './realname-lifecycle.js';
import { personStore } from './store.js';

/** The job that asks the configured identity-verification service about one real-name submission (R-P2). */
export const IDENTITY_VERIFICATION_JOB = 'identity_verification';

/** What the service is asked: the submitted legal name and resident identity number, and a request id. */
export interface IdentityVerificationRequest {
  /** The same on every retry of one submission, so the service can answer a repeated question idempotently. */
  requestId: string;
  legalName: string;
  idNumber: string;
}

export interface IdentityVerificationAnswer {
  result: 'verified' | 'rejected';
  /** The service's reference for its decision (kept in the audit log). */
  reference: string;
}

/**
 * The port to an identity-verification service (R-P2). Throwing means the service could not decide (a timeout, an
 * error, an answer that is not one of the two decisions): the job is retried, then parked for an operator.
 */
export interface IdentityVerifier {
  verify(request: IdentityVerificationRequest): Promise<IdentityVerificationAnswer>;
}

export interface HttpIdentityVerifierOptions {
  url: string;
  /** HMAC-SHA256 key shared with the service. */
  secret: string;
  timeoutMs: number;
  now?: () => Date;
}

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: the signature header of a request (see README). */
export function identityVerificationSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

/**
 * The HTTP adapter: POSTs the request as JSON with `X-IDV-Timestamp` (Unix seconds) and `X-IDV-Signature`; only a
 * 2xx answer of exactly `{"result": "verified"|"rejected", "reference": "<1–200 characters>"}` is a decision.
 */
export class HttpIdentityVerifier implements IdentityVerifier {
  readonly #now: () => Date;

  constructor(private readonly options: HttpIdentityVerifierOptions) {
    this.#now = options.now ?? (() => new Date());
  }

  async verify(request: IdentityVerificationRequest): Promise<IdentityVerificationAnswer> {
    const body = JSON.stringify({ requestId: request.requestId, legalName: request.legalName, idNumber: request.idNumber });
    const timestamp = String(Math.floor(this.#now().getTime() / 1000));
    const response = await fetch(this.options.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-idv-timestamp': timestamp, 'x-idv-signature': identityVerificationSignature(this.options.secret, timestamp, body) },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    const text = await response.text();
    if (response.status < 200 || response.status >= 300) throw new Error(`identity-verification service answered ${response.status}`);
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new Error('identity-verification service answered with something other than JSON');
    }
    const { result, reference } = (answer ?? {}) as { result?: unknown; reference?: unknown };
    if ((result !== 'verified' && result !== 'rejected') || typeof reference !== 'string' || reference.length < 1 || reference.length > 200) {
      throw new Error('identity-verification service answered without a decision (result verified|rejected and a reference)');
    }
    return { result, reference };
  }
}

/**
 * The job's payload. The identity number is sealed with the data key (AES-256-GCM, `Secrets.encrypt`): a parked job
 * keeps its payload for 30 days, and the number must never sit in the database in clear. A decided job's payload
 * is dropped by the queue; a counter decision neutralises any job still waiting (see `neutraliseIdentityJobs`).
 */
export interface IdentityVerificationPayload {
  personId: string;
  requestId: string;
  /** The submission this job is about: a later submission is never decided by an earlier job. */
  submittedAt: string;
  legalName: string;
  sealedIdNumber: string;
}

export const SEALED_ID_PURPOSE = 'idv-id-number';

export interface IdentityVerificationDeps {
  db: Database;
  secrets: Secrets;
  audit: AuditLog;
  verifier: IdentityVerifier;
  now?: () => Date;
}

/**
 * Delivers one verification job: asks the service, then records its decision (if the submission is still pending)
 * and audits it with the service's reference, in one transaction. A job about a submission that was decided at the
 * counter meanwhile, or whose payload was neutralised, ends without asking.
 */
export function identityVerificationHandler(deps: IdentityVerificationDeps): JobHandler {
  const now = deps.now ?? (() => new Date());
  return async (raw) => {
    const payload = raw as Partial<IdentityVerificationPayload>;
    if (
      typeof payload.personId !== 'string' ||
      typeof payload.sealedIdNumber !== 'string' ||
      typeof payload.legalName !== 'string' ||
      typeof payload.requestId !== 'string' ||
      typeof payload.submittedAt !== 'string'
    )
      return;
    const submittedAt = new Date(payload.submittedAt);
    const person = await personStore.byId(deps.db, payload.personId);
    // Either answer decides a pending submission only (verify and reject start from the same states).
    if (!person || !canTransitionRealname('verify', person.realnameStatus) || person.realnameSubmittedAt?.getTime() !== submittedAt.getTime()) return;
    const answer = await deps.verifier.verify({
      requestId: payload.requestId,
      legalName: payload.legalName,
      idNumber: deps.secrets.decrypt(SEALED_ID_PURPOSE, payload.sealedIdNumber),
    });
    await deps.db.transaction(async (tx) => {
      const updated = await personStore.decideRealname(tx, payload.personId!, answer.result, null, null, now(), submittedAt);
      if (updated !== 1) return; // decided at the counter while the service was answering
      await deps.audit.record(
        { actor: { type: 'system' } },
        {
          action: answer.result === 'verified' ? 'person.realname_verify' : 'person.realname_reject',
          target: { type: 'person', id: payload.personId! },
          detail: { by: 'identity_verification_service', reference: answer.reference, requestId: payload.requestId },
        },
        tx,
      );
    });
  };
}

/**
 * Once a submission is decided at the counter, jobs still waiting or parked for that person lose their sealed
 * identity number (in the deciding transaction); run again, they end without asking the service.
 */
export async function neutraliseIdentityJobs(tx: Queryable, personId: string, at: Date): Promise<void> {
  await tx.query(
    `UPDATE job SET payload = jsonb_build_object('personId', payload->'personId'), updated_at = $3
     WHERE kind = $1 AND payload->>'personId' = $2 AND state IN ('pending', 'failed')`,
    [IDENTITY_VERIFICATION_JOB, personId, at],
  );
}
