import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, IsString, MaxLength, MinLength, validateSync, type ValidationError, type ValidationOptions } from 'class-validator';
import type { Context } from 'koa';
import { AppError, type ErrorCode, type FieldProblem } from '../errors.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../security/passwords.js';
import { composed } from '../decorators.js';

/**
 * One class-validator DTO per use case, read by the HTML form handler and the JSON API alike: every failing
 * field is reported at once (`AppError('validation')` with `fields`), with the DTO's real limits as message
 * parameters; nothing is truncated.
 */
type Dto<T> = new () => T;

/**
 * Decorator option naming the error code of a field when one of its constraints fails (e.g. the unit name's
 * “单位名称须为2至100个字符”), instead of the generic message of the constraint.
 */
export function fieldCode(code: ErrorCode, each = false): ValidationOptions {
  return { context: { code }, ...(each ? { each: true } : {}) };
}

/** Text of at most `max` characters; with `code`, a value that is not text or too long is reported as that error. */
export function TextField(max: number, code?: ErrorCode): PropertyDecorator {
  const options = code === undefined ? undefined : fieldCode(code);
  return composed(IsString(options), MaxLength(max, options));
}

/** Text of 1 to `max` characters. */
export function NonEmptyTextField(max: number): PropertyDecorator {
  return composed(IsString(), MinLength(1), MaxLength(max));
}

const PASSWORD_TOO_LONG = fieldCode('password_too_long');

/** A new password (R-P3: 8–128 characters; the service also refuses common ones). */
export function NewPassword(): PropertyDecorator {
  return (target, property) => {
    IsString()(target, property);
    MinLength(PASSWORD_MIN, fieldCode('password_too_short'))(target, property);
    MaxLength(PASSWORD_MAX, PASSWORD_TOO_LONG)(target, property);
  };
}

/** A password as typed (the current one, or the confirmation): never longer than any password can be. */
export function TypedPassword(): PropertyDecorator {
  return (target, property) => {
    IsString()(target, property);
    MaxLength(PASSWORD_MAX, PASSWORD_TOO_LONG)(target, property);
  };
}

/** The properties a DTO declares, in declaration order, with whether they are lists. */
function declared(dto: Dto<object>): { names: string[]; lists: Set<string> } {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  const names: string[] = [];
  const lists = new Set<string>();
  for (const entry of metadata) {
    if (!names.includes(entry.propertyName)) names.push(entry.propertyName);
    if (entry.name === 'isArray' || entry.each) lists.add(entry.propertyName);
  }
  return { names, lists };
}

/** The limit a constraint of a DTO's property was declared with (the `max` of `@MaxLength(max)`). */
function constraintOf(dto: Dto<object>, property: string, name: string): unknown {
  const metadata = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false);
  return metadata.find((entry) => entry.propertyName === property && entry.name === name)?.constraints?.[0];
}

/** The `@MaxLength` a DTO declares for a property (inherited ones included), or undefined when it declares none. */
export function maxLengthOf(dto: Dto<object>, property: string): number | undefined {
  const max = constraintOf(dto, property, 'maxLength');
  return typeof max === 'number' ? max : undefined;
}

/** Constraint names by how the user should read them: a missing or wrong type first, then lengths, then format. */
const ORDER = ['isDefined', 'isString', 'isArray', 'isNotEmpty', 'minLength', 'maxLength', 'arrayMaxSize', 'isIn'];

function problemOf(dto: Dto<object>, error: ValidationError): FieldProblem {
  const failed = Object.keys(error.constraints ?? {}).sort((a, b) => rank(a) - rank(b));
  const first = failed[0] ?? 'unknown';
  const field = error.property;
  const override = (error.contexts?.[first] as { code?: ErrorCode } | undefined)?.code;
  if (override) return { field, code: override, params: {} };
  const empty = error.value === undefined || error.value === '' || (Array.isArray(error.value) && error.value.length === 0);
  switch (first) {
    case 'isDefined':
    case 'isNotEmpty':
      return { field, code: 'field_required', params: {} };
    case 'minLength':
      return empty ? { field, code: 'field_required', params: {} } : { field, code: 'field_too_short', params: { min: Number(constraintOf(dto, field, first)) } };
    case 'maxLength':
      return { field, code: 'field_too_long', params: { max: Number(constraintOf(dto, field, first)) } };
    case 'arrayMaxSize':
      return { field, code: 'field_too_many', params: { max: Number(constraintOf(dto, field, first)) } };
    case 'isIn':
      return { field, code: empty ? 'field_required' : 'field_choice', params: {} };
    default:
      return { field, code: empty && first !== 'isString' ? 'field_required' : 'field_invalid', params: {} };
  }
}

function rank(name: string): number {
  const index = ORDER.indexOf(name);
  return index < 0 ? ORDER.length : index;
}

/**
 * Validates a plain object against a DTO and returns the instance (declared properties only), or throws
 * `validation` (400) naming every failing field; text with a NUL character is refused too (S-53).
 */
export function validate<T extends object>(dto: Dto<T>, plain: Record<string, unknown>, forbidUnknown: boolean): T {
  const instance = plainToInstance(dto, plain);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: forbidUnknown, forbidUnknownValues: true });
  const problems = errors.map((error) => problemOf(dto, error));
  for (const [field, value] of Object.entries(plain)) {
    const texts = Array.isArray(value) ? value : [value];
    if (texts.some((text) => typeof text === 'string' && text.includes('\u0000')) && !problems.some((problem) => problem.field === field)) {
      problems.push({ field, code: 'field_invalid', params: {} });
    }
  }
  if (problems.length > 0) {
    const order = declared(dto).names;
    problems.sort((a, b) => order.indexOf(a.field) - order.indexOf(b.field));
    throw new AppError('validation', { field: problems[0]!.field, fields: problems });
  }
  return instance;
}

/**
 * Validates a JSON body against a DTO: unknown properties and wrong types are refused with 400 listing every
 * offending field; the returned instance holds only declared properties.
 */
export function validBody<T extends object>(ctx: Context, dto: Dto<T>): T {
  const body = (ctx.request as { body?: unknown }).body;
  if (!ctx.is('json') || typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('unsupported_media_type');
  }
  return validate(dto, body as Record<string, unknown>, true);
}

/**
 * Validates the query string against a DTO (every value a string; a repeated parameter is refused): malformed
 * values are 400 listing every offending parameter; unknown parameters too, unless `forbidUnknown` is false
 * (the HTML pages, whose links carry other parameters such as `done` or `lang`).
 */
export function validQuery<T extends object>(ctx: Context, dto: Dto<T>, forbidUnknown = true): T {
  const query: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(ctx.query)) query[name] = value;
  return validate(dto, query, forbidUnknown);
}

/** The submitted form (URL-encoded or JSON) as an object; anything else is an empty form. */
function formBody(ctx: Context): Record<string, unknown> {
  const body = (ctx.request as { body?: unknown }).body;
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}

/**
 * The fields a DTO declares, as submitted in an HTML form: text as typed (a missing field is empty), lists as
 * lists; anything else (an object, a list for a text field) is kept so that the DTO refuses it. Fields the
 * DTO does not declare (`_csrf`, `returnTo`) are not part of it.
 */
function formPlain(ctx: Context, dto: Dto<object>): Record<string, unknown> {
  const source = formBody(ctx);
  const { names, lists } = declared(dto);
  const plain: Record<string, unknown> = {};
  for (const name of names) {
    const value = Object.hasOwn(source, name) ? source[name] : undefined;
    if (lists.has(name)) plain[name] = value === undefined ? [] : Array.isArray(value) ? value : [value];
    else plain[name] = value === undefined ? '' : typeof value === 'number' ? String(value) : value;
  }
  return plain;
}

/** Validates a submitted HTML form against its use case's DTO (every failing field at once, see `validate`). */
export function validForm<T extends object>(ctx: Context, dto: Dto<T>): T {
  return validate(dto, formPlain(ctx, dto), false);
}

/**
 * The text fields of a DTO as submitted, for showing the form again after a refusal: values are kept as
 * typed (never truncated; the template escapes them); a value that is not text is shown empty.
 */
export function formValues<T extends object>(ctx: Context, dto: Dto<T>): Record<Exclude<keyof T & string, never>, string> {
  const plain = formPlain(ctx, dto);
  return Object.fromEntries(Object.entries(plain).map(([name, value]) => [name, typeof value === 'string' ? value : ''])) as Record<keyof T & string, string>;
}
