import fs from 'node:fs';
import path from 'node:path';
import { FORM_DTOS } from '../../src/form-dtos.js';
import { formLimit, renderTemplate } from '../../src/shared/http/views.js';
import { maxLengthOf } from '../../src/shared/http/validate.js';
import { SignInDto } from '../../src/interactions/dto.js';
import { RegistrationDto } from '../../src/modules/persons/dto.js';

/**
 * A form's `maxlength` is its DTO's `@MaxLength`, declared once (issue #13, Q- "one source"): templates write
 * `limit('Dto', 'property')`, never a typed number, so the browser cannot cut off what the server accepts, nor let
 * through what it refuses with a different limit.
 */
const VIEWS = path.resolve('views');
/** Typed limits on fields that no DTO limits by length. */
const NO_DTO: Record<string, string[]> = {
  // BindDto checks these date fields with a pattern (YYYY-MM-DD), not a length.
  'unit/bindings.njk': ['validFrom', 'validUntil'],
};

function templates(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    return entry.isDirectory() ? templates(file) : entry.name.endsWith('.njk') ? [file] : [];
  });
}

/** Every line of a template that sets a maxlength, with the form field it belongs to. */
function maxlengthLines(): { file: string; field: string; line: string }[] {
  return templates(VIEWS).flatMap((file) =>
    fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => /maxlength/i.test(line) && !line.includes('{% macro field'))
      .map((line) => ({ file: path.relative(VIEWS, file).split(path.sep).join('/'), field: (/field\('(\w+)'/.exec(line) ?? /name="(\w+)"/.exec(line))?.[1] ?? '(unknown)', line })),
  );
}

describe('form maxlength comes from the DTOs (issue #13)', () => {
  it('when a template types a maxlength number, then the field is one no DTO limits, listed here', () => {
    const typed = maxlengthLines()
      .filter(({ line }) => /maxlength=("\d+"|\d+)/.test(line))
      .map(({ file, field }) => `${file}:${field}`);
    const listed = Object.entries(NO_DTO).flatMap(([file, fields]) => fields.map((field) => `${file}:${field}`));
    expect(typed.sort()).toEqual(listed.sort());
  });

  it("when a template writes limit(dto, property), then the property is that field's own and the DTO declares its @MaxLength", () => {
    const calls = maxlengthLines().filter(({ line }) => line.includes('limit('));
    expect(calls.length).toBeGreaterThan(30);
    for (const { file, field, line } of calls) {
      const [, dto = '', property = ''] = /limit\('(\w+)', '(\w+)'\)/.exec(line) ?? [];
      expect(`${file}:${property}`).toBe(`${file}:${field}`);
      expect(Object.keys(FORM_DTOS)).toContain(dto);
      expect(formLimit(dto, property)).toBe(maxLengthOf(FORM_DTOS[dto]!, property));
    }
  });

  it('when the form DTOs are listed, then they are the DTO classes of the modules with forms, and nothing else', () => {
    expect(Object.keys(FORM_DTOS)).toEqual(expect.arrayContaining(['SignInDto', 'RegistrationDto', 'BindDto', 'TotpCodeDto', 'SecondFactorCodeDto', 'AppealLinkDto']));
    expect(Object.keys(FORM_DTOS)).not.toContain('MOBILE_MAX');
    expect(Object.keys(FORM_DTOS)).not.toContain('APPEAL_KINDS');
    for (const [name, dto] of Object.entries(FORM_DTOS)) expect([name, typeof dto, name.endsWith('Dto')]).toEqual([name, 'function', true]);
  });

  it('when a field has no maxlength, then the macro default is the password limit of the DTOs (only password fields rely on it)', () => {
    const macros = fs.readFileSync(path.join(VIEWS, 'partials/macros.njk'), 'utf8');
    expect(Number(/maxlength=(\d+)/.exec(macros)?.[1])).toBe(maxLengthOf(SignInDto, 'password'));
    const unlimited = templates(VIEWS)
      .flatMap((file) => fs.readFileSync(file, 'utf8').split('\n'))
      .filter((line) => line.includes("field('") && !line.includes('maxlength') && !line.includes('{% macro'));
    for (const line of unlimited) expect(line).toContain("type='password'");
  });

  it('when a page is rendered, then its input carries the DTO limit, and an unknown DTO or property fails the render', () => {
    const html = renderTemplate('persons/register-account.njk', 'zh-CN', {});
    expect(html).toMatch(new RegExp(`name="loginName"[^>]*maxlength="${maxLengthOf(RegistrationDto, 'loginName')}"`));
    expect(() => formLimit('BindDto', 'validFrom')).toThrow('no @MaxLength for BindDto.validFrom');
    expect(() => formLimit('NoSuchDto', 'loginName')).toThrow('no @MaxLength');
  });
});
