import fs from 'node:fs';
import path from 'node:path';
import { DATE_FILTERS } from '../../src/shared/http/views.js';

/**
 * Every time a page shows is Beijing time (the platform's zone), the same on every page: the operator's appeal page
 * once showed 提交时间 in UTC above an audit log in Beijing time. Templates format dates only through the filters.
 */
describe('dates on pages', () => {
  function templates(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const file = path.join(dir, entry.name);
      return entry.isDirectory() ? templates(file) : entry.name.endsWith('.njk') ? [file] : [];
    });
  }

  it('when a template shows a date, then it goes through the datetime filters, never toISOString (UTC)', () => {
    const offenders = templates(path.resolve('views')).filter((file) => /toISOString|toUTCString|getUTC/.test(fs.readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it.each([
    ['datetime', '2026-12-01 21:58'],
    ['datetime_seconds', '2026-12-01 21:58:07'],
    ['date', '2026-12-01'],
  ] as const)('when an instant is shown with the %s filter, then it reads in Beijing time: %s', (filter, expected) => {
    expect(DATE_FILTERS[filter](new Date('2026-12-01T13:58:07Z'))).toBe(expected);
  });

  it.each(Object.keys(DATE_FILTERS) as (keyof typeof DATE_FILTERS)[])('when the value given to %s is not a date, then nothing is shown rather than "Invalid Date"', (filter) => {
    expect(DATE_FILTERS[filter]('not a date')).toBe('');
    expect(DATE_FILTERS[filter](undefined)).toBe('');
  });
});
