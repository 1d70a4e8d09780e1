import type * as client from 'openid-client';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { RP_REDIRECT, TEST_SECRET, testClient, testClientsFile } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { authorizationUrl, callbackOf, discover, redeem } from '../support/rp.js';
import { signInOperator } from '../support/security.js';
import { addHandlers, createUnit, type TestUnit } from '../support/units.js';
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
  let contact: TestPerson;
  let config: client.Configuration;

  beforeAll(async () => {
    app = await startTestApp({
      clients: testClientsFile([testClient(), testClient({ client_id: 'unit-admin', scopes: ['openid', 'manage'], business: undefined, account_kind: 'unit' })]),
    });
    config = await discover(app.issuer, 'unit-admin', TEST_SECRET);
    contact = await createPerson(app.app.services, { verified: true, legalName: '分页联系人' });
    unit = await createUnit(app.app.services, contact, { verified: true });
    await addHandlers(app.db, unit, HANDLERS, 'pg');
  }, SLOW_MS);
  afterAll(() => app.close());

  const rows = (page: Awaited<ReturnType<Browser['get']>>) => page.html.querySelectorAll('#bindings tbody tr').map((row) => row.getAttribute('data-binding'));
  const liveBindingIds = async () =>
    (await app.db.query<{ id: string }>("SELECT id FROM binding WHERE unit_id = $1 AND status = 'active'", [unit.id])).rows.map((row) => row.id).sort();
  /** The handler bound last: on the second page of every list. */
  const lastHandler = async () =>
    (await app.db.query<{ id: string }>("SELECT id FROM binding WHERE unit_id = $1 AND role = 'handler' ORDER BY created_at DESC LIMIT 1", [unit.id])).rows[0]!.id;

  it(
    'Q-P6 C-UI4 when a unit has more than 50 bindings, then the first page shows the contact and 49 handlers with a link to the next, and the next page the rest',
    async () => {
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

      expect([...firstRows, ...secondRows].sort()).toEqual(await liveBindingIds());
    },
    SLOW_MS,
  );

  it(
    'Q-P6 when a handler on the second page is to be unbound or made the contact, then its confirmation step names the person and the current contact',
    async () => {
      const browser = new Browser(app.url);
      await signInUnit(browser, unit, '/unit/bindings');
      const id = await lastHandler();
      const unbind = await browser.get(`/unit/bindings/${id}/unbind`);
      expect(unbind.status).toBe(200);
      expect(unbind.html.querySelector('form#confirm')?.getAttribute('action')).toBe(`/unit/bindings/${id}/unbind`);
      const contactStep = await browser.get(`/unit/bindings/${id}/contact`);
      expect(contactStep.status).toBe(200);
      expect(Browser.text(contactStep)).toContain('分页联系人');
      // Another unit's binding, or no binding at all, is not found here (S-45).
      expect((await browser.get('/unit/bindings/00000000-0000-4000-8000-000000000000/unbind')).status).toBe(404);
    },
    SLOW_MS,
  );

  it(
    'Q-P6 when an operator opens the unit, then its handlers are listed 50 a page with a link to the rest',
    async () => {
      const counter = new Browser(app.url);
      await signInOperator(app, counter);
      const handlerLinks = (page: Awaited<ReturnType<Browser['get']>>) =>
        page.html.querySelectorAll('#unit-bindings a[href^="/operator/persons/"]').map((link) => link.getAttribute('href'));
      const first = await counter.get(`/operator/units/${unit.id}`);
      expect(first.status).toBe(200);
      expect(handlerLinks(first)).toHaveLength(PAGE);
      const next = first.html.querySelector('a[rel="next"]')!.getAttribute('href')!;
      expect(next).toBe(`/operator/units/${unit.id}?page=2`);
      const second = await counter.get(next);
      expect(handlerLinks(second)).toHaveLength(HANDLERS + 1 - PAGE);
      expect(second.html.querySelector('a[rel="next"]')).toBeNull();
    },
    SLOW_MS,
  );

  it(
    'Q-P6 when the management API lists the bindings, then it answers a page at a time (limit, page, hasMore) and refuses a bad limit with 400',
    async () => {
      const browser = new Browser(app.url);
      const authorization = await authorizationUrl(config, { scope: 'openid manage', redirect_uri: RP_REDIRECT });
      const login = await browser.get(authorization.url.toString());
      const tokens = await redeem(config, authorization, callbackOf(await browser.submit(login, 'form#unit-login', { account: unit.loginName, password: unit.password })));
      const list = async (query: string) => {
        const response = await fetch(`${app.url}/api/v1/unit/bindings${query}`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        return {
          status: response.status,
          body: (await response.json()) as { bindings?: { id: string; role: string }[]; page?: number; limit?: number; hasMore?: boolean; code?: string; field?: string },
        };
      };
      const first = await list('?limit=40');
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ page: 1, limit: 40, hasMore: true });
      expect(first.body.bindings).toHaveLength(40);
      expect(first.body.bindings![0]!.role).toBe('contact');
      const second = await list('?limit=40&page=2');
      expect(second.body).toMatchObject({ page: 2, limit: 40, hasMore: false });
      expect([...first.body.bindings!, ...second.body.bindings!].map((binding) => binding.id).sort()).toEqual(await liveBindingIds());
      expect((await list('')).body).toMatchObject({ page: 1, limit: 100, hasMore: false });
      for (const bad of ['?limit=0', '?limit=501', '?page=0', '?page=x']) {
        const refused = await list(bad);
        expect(refused.status).toBe(400);
        expect(refused.body.code).toBe('validation');
      }
    },
    SLOW_MS,
  );

  it(
    'Q-P6 when the page number is not a number or past the end, then the page answers 200 (the first page, or no rows), never a 500',
    async () => {
      const browser = new Browser(app.url);
      await signInUnit(browser, unit, '/unit/bindings');
      const bad = await browser.get('/unit/bindings?page=abc');
      expect(bad.status).toBe(200);
      expect(rows(bad)).toHaveLength(PAGE);
      const past = await browser.get('/unit/bindings?page=9');
      expect(past.status).toBe(200);
      expect(rows(past)).toHaveLength(0);
    },
    SLOW_MS,
  );
});
