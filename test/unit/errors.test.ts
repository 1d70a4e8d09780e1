import fs from 'node:fs';
import path from 'node:path';
import { AppError, assertThat, statusOf, type ErrorCode } from '../../src/shared/errors.js';
import { zhCN } from '../../src/shared/i18n/zh-CN.js';

/**
 * The error catalogue (issue #13): each code carries its HTTP status, throw sites give only the code (and
 * optional field/params), so a code answers with the same status wherever it is thrown.
 */
const CODES = Object.keys(zhCN).filter((key) => key.startsWith('error.')).map((key) => key.slice('error.'.length) as ErrorCode);

describe('the error catalogue', () => {
  it.each<[ErrorCode, number]>([
    ['validation', 400], ['unit_name_invalid', 400], ['credentials_invalid', 401], ['reauth_required', 401], ['forbidden', 403],
    ['csrf', 403], ['not_found', 404], ['binding_exists', 409], ['unit_registered', 409], ['payload_too_large', 413],
    ['unsupported_media_type', 415], ['too_many_requests', 429], ['server', 500], ['notifier_failed', 502], ['busy', 503],
  ])('when %s is thrown, then its status is %i', (code, status) => {
    expect(new AppError(code).status).toBe(status);
    expect(statusOf(code)).toBe(status);
  });

  it('when any code of the catalogue is looked up, then it has a 4xx or 5xx status', () => {
    expect(CODES.length).toBeGreaterThan(50);
    for (const code of CODES) expect([code, statusOf(code) >= 400 && statusOf(code) <= 599]).toEqual([code, true]);
  });

  it('when a precondition fails, then assertThat throws the code with its params and field', () => {
    expect(() => assertThat(false, 'binding_scope_unknown', { params: { scope: 'biz:x' }, field: 'scopes' }))
      .toThrow(expect.objectContaining({ code: 'binding_scope_unknown', status: 400, params: { scope: 'biz:x' }, field: 'scopes' }));
    expect(() => assertThat(true, 'not_found')).not.toThrow();
  });

  it('when the source throws an AppError, then it never restates a status (the catalogue is the one source)', () => {
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (file.endsWith('.ts')) {
          const text = fs.readFileSync(file, 'utf8');
          for (const match of text.matchAll(/new AppError\([^,()]+,\s*\d|assertThat\([^;]*?,\s*'[a-z_.]+',\s*\d{3}/g)) offenders.push(`${path.relative('.', file)}: ${match[0]}`);
        }
      }
    };
    walk(path.resolve('src'));
    expect(offenders).toEqual([]);
  });
});
