import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson } from '../support/people.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { signInUnit, SLOW_MS } from '../support/unit-console.js';

/**
 * 子账户信息 is paged like the unit's log (issue #15, Q-P6: a unit may have thousands of handlers; C-UI4 still lists
 * every binding, 50 a page, the common contact first). The handlers are inserted with one set-based statement, as
 * the scale benchmark does, so that the test does not hash 55 passwords.
 */

const PAGE = 50;
const HANDLERS = 55;

describe('子账户信息 is paged (issue #15, Q-P6, C-UI4)', () => {
  let app: TestApp;
  let unit: TestUnit;

  beforeAll(async () => {
    app = await startTestApp();
    const contact = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, contact, { verified: true });
    await app.db.query(
      `WITH people AS (
         INSERT INTO person (id, login_name, password_hash, password_changed_at, mobile, created_at, updated_at)
         SELECT gen_random_uuid(), 'pg' || n || '_' || substr(md5($1::text), 1, 8), 'x', now(),
                '19' || lpad((random() * 99999)::int::text, 5, '0') || lpad(n::text, 4, '0'), now() + n * interval '1 second', now()
           FROM generate_series(1, $2::int) AS n
         RETURNING id, created_at)
       INSERT INTO binding (id, unit_id, person_id, role, status, scopes, created_at, updated_at, accepted_at)
       SELECT gen_random_uuid(), $1::uuid, id, 'handler', 'active', '{biz:continuing_education}', created_at, now(), now() FROM people`,
      [unit.id, HANDLERS],
    );
  }, SLOW_MS);
  afterAll(() => app.close());

  const rows = (page: Awaited<ReturnType<Browser['get']>>) => page.html.querySelectorAll('#bindings tbody tr').map((row) => row.getAttribute('data-binding'));

  it('Q-P6 C-UI4 when a unit has more than 50 bindings, then the first page shows the contact and 49 handlers with a link to the next, and the next page the rest', async () => {
    const browser = new Browser(app.url);
    const first = await signInUnit(browser, unit, '/unit/bindings');
    const firstRows = rows(first);
    expect(firstRows).toHaveLength(PAGE);
    expect(first.html.querySelector('#bindings tbody tr')!.textContent).toContain('常用联系人');
    expect(first.html.querySelector('a[rel="prev"]')).toBeNull();
    const next = first.html.querySelector('a[rel="next"]')!.getAttribute('href')!;
    expect(next).toBe('/unit/bindings?page=2');
    expect(first.html.querySelector('nav.pager')!.textContent).toContain('第 1 页');

    const second = await browser.get(next);
    expect(second.status).toBe(200);
    const secondRows = rows(second);
    expect(secondRows).toHaveLength(HANDLERS + 1 - PAGE);
    expect(secondRows.filter((id) => firstRows.includes(id))).toEqual([]);
    expect(second.html.querySelector('a[rel="next"]')).toBeNull();
    expect(second.html.querySelector('a[rel="prev"]')!.getAttribute('href')).toBe('/unit/bindings?page=1');

    const { rows: all } = await app.db.query<{ id: string }>("SELECT id FROM binding WHERE unit_id = $1 AND status = 'active'", [unit.id]);
    expect([...firstRows, ...secondRows].sort()).toEqual(all.map((row) => row.id).sort());
  }, SLOW_MS);

  it('Q-P6 when the page number is not a number or past the end, then the page answers 200 (the first page, or no rows), never a 500', async () => {
    const browser = new Browser(app.url);
    await signInUnit(browser, unit, '/unit/bindings');
    const bad = await browser.get('/unit/bindings?page=abc');
    expect(bad.status).toBe(200);
    expect(rows(bad)).toHaveLength(PAGE);
    const past = await browser.get('/unit/bindings?page=9');
    expect(past.status).toBe(200);
    expect(rows(past)).toHaveLength(0);
  }, SLOW_MS);
});
