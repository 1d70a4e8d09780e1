import type { MessageKey } from './i18n/index.js';

/** Error codes are the message keys under `error.`: one stable code, one translated message per language. */
export type ErrorCode = MessageKey extends infer K ? (K extends `error.${infer Code}` ? Code : never) : never;

/** One failing field of a form or JSON body: the field, its error code and the code's message parameters. */
export interface FieldProblem {
  field: string;
  code: ErrorCode;
  params: Record<string, string | number>;
}

/** The one error type of the application: a stable code, an HTTP status and message parameters. */
export class AppError extends Error {
  override name = 'AppError';

  constructor(
    readonly code: ErrorCode,
    readonly status: number = 400,
    readonly params: Record<string, string | number> = {},
    /** Field the error refers to, for forms. */
    readonly field?: string,
    /** Every failing field of a refused form or body (a validation error), in the order of the form. */
    readonly fields: readonly FieldProblem[] = [],
  ) {
    super(code);
  }

  get messageKey(): MessageKey {
    return `error.${this.code}` as MessageKey;
  }
}

/** One-line precondition: `assertThat(binding, 'binding.not_found', 404)`. */
export function assertThat(condition: unknown, code: ErrorCode, status = 400, params?: Record<string, string | number>): asserts condition {
  if (!condition) throw new AppError(code, status, params);
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006',
]);

/**
 * True when the error means the database cannot be reached (answer 503, not 500). TypeORM releases the query
 * runner of a transaction whose connection broke, so a later statement of it (a token request's) meets
 * "Query runner already released".
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error as { code?: unknown; driverError?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0;
    current && depth < 4; depth += 1) {
    if (typeof current.code === 'string' && UNAVAILABLE_CODES.has(current.code)) return true;
    if (typeof current.message === 'string'
      && /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused|not queryable|Query runner already released/i.test(current.message)) {
      return true;
    }
    current = (current.driverError ?? current.cause) as typeof current;
  }
  return false;
}

/** Input the database cannot hold as text (a NUL byte, an invalid byte sequence): the request is bad, not the server. */
export function isUnstorableInput(error: unknown): boolean {
  for (let current = error as { code?: unknown; driverError?: unknown; cause?: unknown } | undefined, depth = 0;
    current && depth < 4; depth += 1) {
    if (current.code === '22021' || current.code === '22P05' || current.code === '22P02') return true;
    current = (current.driverError ?? current.cause) as typeof current;
  }
  return false;
}
