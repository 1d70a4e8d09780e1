import type { MessageKey } from './i18n/index.js';

/** Error codes are the message keys under `error.`: one stable code, one translated message per language. */
export type ErrorCode = MessageKey extends infer K ? (K extends `error.${infer Code}` ? Code : never) : never;

/** One failing field of a form or JSON body: the field, its error code and the code's message parameters. */
export interface FieldProblem {
  field: string;
  code: ErrorCode;
  params: Record<string, string | number>;
}

/**
 * The HTTP status of each error code that is not a 400 (the catalogue's one source of statuses): throw sites give
 * only the code. Every other code means the request's content is wrong (400).
 */
const STATUS = {
  // 401: who is asking is not established (or not recently enough, S-27/S-34).
  credentials_invalid: 401,
  reauth_required: 401,
  // 403: known, but not allowed.
  account_disabled: 403,
  csrf: 403,
  forbidden: 403,
  reauth_other_account: 403,
  unit_not_selectable: 403,
  unit_registrant_not_verified: 403,
  // 404: nothing of that id for this account (another unit's binding answers alike, S-45).
  not_found: 404,
  appeal_not_found: 404,
  binding_person_not_found: 404,
  appeal_preview_page_beyond: 404,
  appeal_preview_no_page: 404,
  // 409: the request is well-formed, the state does not allow it.
  appeal_applicant_unusable: 409,
  appeal_no_unit: 409,
  appeal_not_pending: 409,
  appeal_unit_verified: 409,
  binding_contact_cannot_be_unbound: 409,
  binding_contact_must_be_active: 409,
  binding_contact_no_validity: 409,
  binding_exists: 409,
  binding_person_not_verified: 409,
  binding_state: 409,
  id_number_taken: 409,
  login_name_taken: 409,
  mobile_taken: 409,
  realname_not_allowed: 409,
  realname_not_pending: 409,
  unit_already_verified: 409,
  unit_name_change_unverified: 409,
  unit_name_locked: 409,
  unit_registered: 409,
  mfa_already_enrolled: 409,
  // 405, 413, 415, 429: the shape or the rate of the request.
  method_not_allowed: 405,
  appeal_file_too_large: 413,
  appeal_upload_too_large: 413,
  payload_too_large: 413,
  unsupported_media_type: 415,
  appeal_preview_unavailable: 415,
  account_locked: 429,
  too_many_requests: 429,
  // 5xx: this side or a service it depends on.
  server: 500,
  notifier_failed: 502,
  busy: 503,
  notifier_unavailable: 503,
  unavailable: 503,
} satisfies Partial<Record<ErrorCode, number>>;

/** The HTTP status of an error code (see `STATUS`). */
export function statusOf(code: ErrorCode): number {
  return (STATUS as Partial<Record<ErrorCode, number>>)[code] ?? 400;
}

/** What an error says besides its code: message parameters, the field it refers to, every failing field. */
export interface AppErrorDetails {
  params?: Record<string, string | number>;
  /** Field the error refers to, for forms. */
  field?: string | undefined;
  /** Every failing field of a refused form or body (a validation error), in the order of the form. */
  fields?: readonly FieldProblem[];
}

/** The one error type of the application: a stable code (its status from the catalogue) and message parameters. */
export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  readonly params: Record<string, string | number>;
  readonly field: string | undefined;
  readonly fields: readonly FieldProblem[];

  constructor(
    readonly code: ErrorCode,
    details: AppErrorDetails = {},
  ) {
    super(code);
    this.status = statusOf(code);
    this.params = details.params ?? {};
    this.field = details.field;
    this.fields = details.fields ?? [];
  }

  get messageKey(): MessageKey {
    return `error.${this.code}` as MessageKey;
  }
}

/** One-line precondition: `assertThat(binding, 'not_found')`. */
export function assertThat(condition: unknown, code: ErrorCode, details?: AppErrorDetails): asserts condition {
  if (!condition) throw new AppError(code, details);
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

/**
 * True when the error means the database cannot be reached (answer 503, not 500). TypeORM releases the query
 * runner of a transaction whose connection broke, so a later statement of it (a token request's) meets
 * "Query runner already released".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error as { code?: unknown; driverError?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; current && depth < 4; depth += 1) {
    if (typeof current.code === 'string' && UNAVAILABLE_CODES.has(current.code)) return true;
    if (
      typeof current.message === 'string' &&
      /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused|not queryable|Query runner already released/i.test(
        current.message,
      )
    ) {
      return true;
    }
    current = (current.driverError ?? current.cause) as typeof current;
  }
  return false;
}

/** Input the database cannot hold as text (a NUL byte, an invalid byte sequence): the request is bad, not the server. */
export function isUnstorableInput(error: unknown): boolean {
  for (let current = error as { code?: unknown; driverError?: unknown; cause?: unknown } | undefined, depth = 0; current && depth < 4; depth += 1) {
    if (current.code === '22021' || current.code === '22P05' || current.code === '22P02') return true;
    current = (current.driverError ?? current.cause) as typeof current;
  }
  return false;
}
