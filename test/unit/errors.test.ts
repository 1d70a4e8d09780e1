import fs from 'node:fs';
import path from 'node:path';
import { AppError, assertThat, statusOf, type ErrorCode } from '../../src/shared/errors.js';
import { zhCN } from '../../src/shared/i18n/zh-CN.js';
import ts from 'typescript';
import { lineOf, nodes, parse } from '../support/source-scan.js';

/**
 * The error catalogue (issue #13): each code carries its HTTP status, throw sites give only the code (and
 * optional field/params), so a code answers with the same status wherever it is thrown.
 */
/**
 * Throw sites that restate a status, read from the syntax tree (however the call is laid out): `new AppError(code,
 * 400…)` or `assertThat(condition, 'code', 400…)`.
 */
function statusRestated(text: string, file = 'source.ts'): string[] {
  const source = parse(text, file);
  const numeric = (node: ts.Node | undefined) => node !== undefined && ts.isNumericLiteral(node);
  return nodes(source).flatMap((node) => {
    const restates =
      (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'AppError' && numeric(node.arguments?.[1])) ||
      (ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === 'assertThat' &&
        node.arguments[1] !== undefined &&
        ts.isStringLiteralLike(node.arguments[1]) &&
        numeric(node.arguments[2]));
    return restates ? [`${file}:${lineOf(source, node)}: ${node.getText(source).replace(/\s+/g, ' ')}`] : [];
  });
}

const CODES = Object.keys(zhCN)
  .filter((key) => key.startsWith('error.'))
  .map((key) => key.slice('error.'.length) as ErrorCode);

describe('the error catalogue', () => {
  it.each<[ErrorCode, number]>([
    ['validation', 400],
    ['unit_name_invalid', 400],
    ['credentials_invalid', 401],
    ['reauth_required', 401],
    ['forbidden', 403],
    ['csrf', 403],
    ['not_found', 404],
    ['binding_exists', 409],
    ['unit_registered', 409],
    ['payload_too_large', 413],
    ['unsupported_media_type', 415],
    ['too_many_requests', 429],
    ['server', 500],
    ['notifier_failed', 502],
    ['busy', 503],
  ])('when %s is thrown, then its status is %i', (code, status) => {
    expect(new AppError(code).status).toBe(status);
    expect(statusOf(code)).toBe(status);
  });

  it('when any code of the catalogue is looked up, then it has a 4xx or 5xx status', () => {
    expect(CODES.length).toBeGreaterThan(50);
    for (const code of CODES) expect([code, statusOf(code) >= 400 && statusOf(code) <= 599]).toEqual([code, true]);
  });

  it('when a precondition fails, then assertThat throws the code with its params and field', () => {
    expect(() => assertThat(false, 'binding_scope_unknown', { params: { scope: 'biz:x' }, field: 'scopes' })).toThrow(
      expect.objectContaining({ code: 'binding_scope_unknown', status: 400, params: { scope: 'biz:x' }, field: 'scopes' }),
    );
    expect(() => assertThat(true, 'not_found')).not.toThrow();
  });

  it('when the source throws an AppError, then it never restates a status (the catalogue is the one source)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (file.endsWith('.ts')) {
          offenders.push(...statusRestated(fs.readFileSync(file, 'utf8'), path.relative('.', file)));
        }
      }
    };
    walk(path.resolve('src'));
    expect(offenders).toEqual([]);
  });

  it.each([
    ["throw new AppError('not_found', 404);"],
    ["throw new AppError(\n  'not_found',\n  404,\n);"],
    ["assertThat(found, 'not_found', 404);"],
    ["assertThat(\n  row !== undefined && row.status === 'active',\n  'not_found',\n  404,\n);"],
  ])('when a planted source holds %j, then the scan reports the restated status', (text) => {
    expect(statusRestated(text)).toHaveLength(1);
  });

  it.each([
    ["throw new AppError('not_found');"],
    ["throw new AppError('too_many_requests', { params: { seconds: 60 } });"],
    ["assertThat(found, 'not_found', { field: 'id' });"],
    ["// new AppError('not_found', 404) was the old way"],
    ['const hint = "new AppError(\'x\', 400)";'],
  ])('when a planted source holds %j, then the scan finds nothing to report', (text) => {
    expect(statusRestated(text)).toEqual([]);
  });
});
