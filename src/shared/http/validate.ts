import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { Context } from 'koa';
import { AppError } from '../errors.js';

/**
 * Validates a JSON body against a class-validator DTO: unknown properties and wrong types are refused with
 * 400 naming the first offending field; the returned instance holds only declared properties.
 */
export function validBody<T extends object>(ctx: Context, dto: new () => T): T {
  const body = (ctx.request as { body?: unknown }).body;
  if (!ctx.is('json') || typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('unsupported_media_type', 415);
  }
  const instance = plainToInstance(dto, body);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  const first = errors[0];
  if (first) throw new AppError('validation', 400, {}, first.property);
  return instance;
}

/**
 * Validates the query string against a class-validator DTO (every value a string; a repeated parameter is
 * refused): unknown parameters and malformed values are 400 naming the first offending parameter.
 */
export function validQuery<T extends object>(ctx: Context, dto: new () => T): T {
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.query)) {
    if (typeof value !== 'string') throw new AppError('validation', 400, {}, name);
    query[name] = value;
  }
  const instance = plainToInstance(dto, query);
  const errors = validateSync(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  const first = errors[0];
  if (first) throw new AppError('validation', 400, {}, first.property);
  return instance;
}
