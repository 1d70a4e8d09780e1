import { startTestApp, type TestApp } from '../support/app.js';
import { Browser, type Page } from '../support/browser.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { clearThrottle, signInToAccount } from '../support/security.js';
import { bindHandler, createUnit, type TestUnit } from '../support/units.js';
import { bindingsOf, createOperatorRecord, csrfFrom, fingerprint, issueCode, postForm, signInUnit, SLOW_MS } from '../support/unit-console.js';

/**
 * S-45: the unit console is scoped by the signed-in unit. Signed in as unit A, every route that takes an id is
 * tried with unit B's ids; the answer is 403/404, shows nothing of unit B and changes nothing. The person side
 * is scoped by the person the same way.
 */

describe('cross-unit access is blocked (S-45)', () => {
  let app: TestApp;
  let contactA: TestPerson;
  let contactB: TestPerson;
  let handlerA: TestPerson;
  let handlerB: TestPerson;
  let pendingB: TestPerson;
  let unitA: TestUnit;
  let unitB: TestUnit;
  let bindingIdsB: { contact: string; handler: string; pending: string };
  let codeB: string;
  let browserA: Browser;
  let csrfA: string;

  beforeAll(async () => {
    app = await startTestApp();
    const services = app.app.services;
    contactA = await createPerson(services, { verified: true, legalName: '甲联系人' });
    contactB = await createPerson(services, { verified: true, legalName: '乙联系人' });
    handlerA = await createPerson(services, { verified: true, legalName: '甲经办' });
    handlerB = await createPerson(services, { verified: true, legalName: '乙经办' });
    pendingB = await createPerson(services, { verified: true, legalName: '乙待确认' });
    unitA = await createUnit(services, contactA, { name: '甲单位有限公司' });
    unitB = await createUnit(services, contactB, { name: '乙单位有限公司' });
    await bindHandler(services, unitA, handlerA, ['biz:continuing_education']);
    const handler = await bindHandler(services, unitB, handlerB, ['biz:continuing_education']);
    const pending = await services.bindings.bind(unitB.id, { account: pendingB.loginName, scopes: ['biz:civil_service_exam'] }, { actor: { type: 'unit', id: unitB.id } });
    const contact = (await bindingsOf(app.db, unitB.id)).find((binding) => binding.role === 'contact')!.id;
    bindingIdsB = { contact, handler, pending: pending.id };
    const operator = await createOperatorRecord(services);
    codeB = await issueCode(services, unitB.id, operator.id);
    // Something of B in its audit log and name history, which A must never see.
    await services.units.updateName(unitB.id, '乙单位新名称有限公司', { actor: { type: 'unit', id: unitB.id }, actingUnitId: unitB.id });
    unitB = { ...unitB, name: '乙单位新名称有限公司' };

    browserA = new Browser(app.url);
    await signInUnit(browserA, unitA);
    csrfA = await csrfFrom(browserA, '/unit/bindings');
  }, SLOW_MS);
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  /** A mobile number as the consoles show it. */
  const masked = (person: TestPerson) => `${person.mobile.slice(0, 3)}****${person.mobile.slice(-4)}`;

  /** Strings that identify unit B or its people: none may appear in an answer to A. */
  function secretsOfB(): string[] {
    return [
      unitB.id,
      unitB.name,
      '乙单位有限公司',
      unitB.certNo,
      unitB.loginName,
      contactB.loginName,
      handlerB.loginName,
      pendingB.loginName,
      '乙联系人',
      '乙经办',
      '乙待确认',
      bindingIdsB.contact,
      bindingIdsB.handler,
      bindingIdsB.pending,
      masked(contactB),
      masked(handlerB),
      masked(pendingB),
    ];
  }

  function expectNothingOfB(page: Page): void {
    for (const secret of secretsOfB()) expect({ url: page.url, leaked: page.body.includes(secret) ? secret : undefined }).toEqual({ url: page.url, leaked: undefined });
  }

  const ATTEMPTS: [string, (id: string) => string, [string, string][]][] = [
    ['取消绑定', (id) => `/unit/bindings/${id}/unbind`, []],
    [
      'change permissions',
      (id) => `/unit/bindings/${id}/scopes`,
      [
        ['scopes', 'biz:social_insurance'],
        ['scopes', 'biz:online_service_hall'],
      ],
    ],
    ['set as common contact', (id) => `/unit/bindings/${id}/contact`, []],
  ];

  for (const [action, path, values] of ATTEMPTS) {
    for (const which of ['handler', 'contact', 'pending'] as const) {
      it(
        `when unit A posts “${action}” for unit B's ${which} binding, then 403/404, nothing of B is shown and nothing changes`,
        async () => {
          const before = await fingerprint(app.db);
          const page = await postForm(browserA, path(bindingIdsB[which]), csrfA, values);
          expect([403, 404]).toContain(page.status);
          expectNothingOfB(page);
          expect(await fingerprint(app.db)).toEqual(before);
        },
        SLOW_MS,
      );
    }
  }

  it(
    'when unit A enters unit B’s authorisation code, then it is refused, A stays unverified and B’s code stays live',
    async () => {
      const before = await fingerprint(app.db, ['unit', 'binding', 'unit_name_history']);
      const page = await postForm(browserA, '/unit/verify', csrfA, [['code', codeB]]);
      expect(page.status).toBeGreaterThanOrEqual(400);
      expect(page.status).toBeLessThan(500);
      expectNothingOfB(page);
      expect(await fingerprint(app.db, ['unit', 'binding', 'unit_name_history'])).toEqual(before);
      const { rows } = await app.db.query<{ attempts: number; used_at: Date | null }>('SELECT attempts, used_at FROM unit_verification_code WHERE unit_id = $1', [unitB.id]);
      expect(rows).toEqual([{ attempts: 0, used_at: null }]);
    },
    SLOW_MS,
  );

  it(
    'when unit A opens every page of its console, with B’s ids in the query, then nothing of B is shown',
    async () => {
      for (const path of ['/unit', '/unit/bindings', '/unit/verify', '/unit/audit', '/unit/password', '/unit/name-change']) {
        for (const query of ['', `?unitId=${unitB.id}`, `?unit_id=${unitB.id}&id=${bindingIdsB.handler}`]) {
          const page = await browserA.get(`${path}${query}`);
          expect(page.status).toBeLessThan(500);
          expectNothingOfB(page);
        }
      }
    },
    SLOW_MS,
  );

  it(
    'when unit A asks for routes of unit B’s bindings that do not exist (GET, other methods), then 404/405 without B’s data',
    async () => {
      for (const [method, path] of [
        ['GET', `/unit/bindings/${bindingIdsB.handler}`],
        ['GET', `/unit/bindings/${bindingIdsB.handler}/unbind`],
        ['DELETE', `/unit/bindings/${bindingIdsB.handler}`],
        ['PUT', `/unit/bindings/${bindingIdsB.handler}/scopes`],
        ['GET', `/unit/${unitB.id}`],
        ['GET', `/unit/${unitB.id}/bindings`],
      ] as const) {
        const page = await browserA.request(path, { method });
        expect([404, 405]).toContain(page.status);
        expectNothingOfB(page);
      }
    },
    SLOW_MS,
  );

  describe('the person side', () => {
    let browserHandlerA: Browser;
    let csrfHandlerA: string;

    beforeAll(async () => {
      browserHandlerA = new Browser(app.url);
      await signInToAccount(browserHandlerA, handlerA.loginName, handlerA.password);
      csrfHandlerA = await csrfFrom(browserHandlerA, '/account/password');
    }, SLOW_MS);

    for (const action of ['accept', 'decline'] as const) {
      it(
        `when a person posts “${action}” for another person’s pending binding, then 404 and the binding stays pending`,
        async () => {
          const before = await fingerprint(app.db);
          const page = await postForm(browserHandlerA, `/account/bindings/${bindingIdsB.pending}/${action}`, csrfHandlerA);
          expect(page.status).toBe(404);
          expectNothingOfB(page);
          expect(await fingerprint(app.db)).toEqual(before);
        },
        SLOW_MS,
      );
    }

    it(
      'when a person posts “accept” for another person’s active binding or a made-up id, then 404',
      async () => {
        for (const id of [bindingIdsB.handler, bindingIdsB.contact, '00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
          const page = await postForm(browserHandlerA, `/account/bindings/${id}/accept`, csrfHandlerA);
          expect(page.status).toBe(404);
          expectNothingOfB(page);
        }
      },
      SLOW_MS,
    );

    it(
      'when a handler of A enters B’s code for unit B in the account centre, then 404 and B stays unverified',
      async () => {
        const before = await fingerprint(app.db, ['unit', 'binding', 'unit_verification_code']);
        const page = await postForm(browserHandlerA, `/account/units/${unitB.id}/verify`, csrfHandlerA, [['code', codeB]]);
        expect(page.status).toBe(404);
        expectNothingOfB(page);
        expect(await fingerprint(app.db, ['unit', 'binding', 'unit_verification_code'])).toEqual(before);
      },
      SLOW_MS,
    );

    it(
      'when a person whose binding to B is still pending enters B’s code, then 404: only a handler in force may verify',
      async () => {
        const browser = new Browser(app.url);
        await signInToAccount(browser, pendingB.loginName, pendingB.password);
        const before = await fingerprint(app.db, ['unit', 'unit_verification_code']);
        const page = await postForm(browser, `/account/units/${unitB.id}/verify`, await csrfFrom(browser, '/account/password'), [['code', codeB]]);
        expect(page.status).toBe(404);
        expect(await fingerprint(app.db, ['unit', 'unit_verification_code'])).toEqual(before);
      },
      SLOW_MS,
    );

    it(
      'when a person’s session posts to the unit console, then 403, and a unit session posting to the account centre gets 403',
      async () => {
        const before = await fingerprint(app.db);
        const asPerson = await postForm(browserHandlerA, `/unit/bindings/${bindingIdsB.handler}/unbind`, csrfHandlerA);
        expect(asPerson.status).toBe(403);
        const asPersonBind = await postForm(browserHandlerA, '/unit/bindings', csrfHandlerA, [['account', handlerB.loginName]]);
        expect(asPersonBind.status).toBe(403);
        const asUnit = await postForm(browserA, `/account/bindings/${bindingIdsB.pending}/accept`, csrfA);
        expect(asUnit.status).toBe(403);
        expect(await fingerprint(app.db)).toEqual(before);
        // Their pages send them to sign in with the right kind of account.
        const unitPage = await browserHandlerA.request('/unit/bindings');
        expect(unitPage.status).toBe(302);
        expect(unitPage.headers.get('location')).toMatch(/^\/console\/login\?kind=unit&/);
      },
      SLOW_MS,
    );
  });

  // Last: afterwards unit A legitimately shows unit B's handler among its own (pending) bindings.
  it(
    'when unit A binds unit B’s handler with B’s binding id in the form, then only A’s own new binding is made',
    async () => {
      const before = (await bindingsOf(app.db, unitB.id)).map((binding) => `${binding.id}:${binding.status}:${binding.role}`);
      const page = await browserA.follow(
        await postForm(browserA, '/unit/bindings', csrfA, [
          ['account', handlerB.loginName],
          ['scopes', 'biz:continuing_education'],
          ['id', bindingIdsB.handler],
          ['unitId', unitB.id],
          ['unit_id', unitB.id],
        ]),
      );
      expect(page.status).toBe(200);
      const mine = (await bindingsOf(app.db, unitA.id)).filter((binding) => binding.person_id === handlerB.id);
      expect(mine).toHaveLength(1);
      expect(mine[0]!.id).not.toBe(bindingIdsB.handler);
      expect((await bindingsOf(app.db, unitB.id)).map((binding) => `${binding.id}:${binding.status}:${binding.role}`)).toEqual(before);
      // A sees its new pending binding of that person, but nothing of unit B.
      for (const secret of [unitB.id, unitB.name, unitB.certNo, unitB.loginName, bindingIdsB.handler]) expect(page.body).not.toContain(secret);
    },
    SLOW_MS,
  );
});
