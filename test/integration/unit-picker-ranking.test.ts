import crypto from 'node:crypto';
import { accessOf, grantableOf } from '../../src/modules/bindings/access.js';
import { asciiLower } from '../../src/modules/bindings/store.js';
import { servesRequest } from '../../src/oidc/unit-selection.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';
import { TEST_BUSINESSES } from '../support/fixtures.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { SLOW_MS } from '../support/unit-console.js';

/**
 * Issue #15 (Q-P6), C-UI2, issue 10: the unit picker's page is ranked, counted and cut by one statement. Whatever
 * mix of bindings a person has, it must be the page the rules give when every binding and unit is read and ranked
 * in JavaScript (`accessOf`, `servesRequest`, `effectiveStatus`): the units that serve the request first, then by
 * how many asked-for businesses they grant (not the verified-only ones of an unverified unit), then the one chosen
 * most recently, then the oldest binding; only bindings in force of active units; the search by name or
 * certificate number; the pinned units wherever they rank. A differential test over a seeded random mix.
 */

const CE = 'biz:continuing_education';
const CSE = 'biz:civil_service_exam';
const HALL = 'biz:online_service_hall';
const SI = 'biz:social_insurance'; // needs a verified unit
const SCOPES = [CE, CSE, HALL, SI, 'biz:withdrawn_from_the_catalogue'];
const DAY = 24 * 3600 * 1000;

/** A small deterministic generator (mulberry32): the same mix at every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(databaseKinds())('the unit picker ranked in one statement, against the rules in JavaScript, on %s (Q-P6, C-UI2)', (kind) => {
  let database: TestDatabase;
  let app: TestApp;
  let person: TestPerson;
  const unitIds: string[] = [];
  const names = new Map<string, string>();

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    app = await startTestApp({ database });
    const services = app.app.services;
    person = await createPerson(services, { verified: true });
    const contact = await createPerson(services, { verified: true });
    const next = random(15);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const now = Date.now();
    for (let index = 0; index < 60; index += 1) {
      const id = crypto.randomUUID();
      const suffix = crypto.randomBytes(3).toString('hex').toUpperCase();
      // Names and numbers a search can tell apart: ASCII letters in both cases, and Chinese.
      const name = `${pick(['华东', '西南', 'Alpha', 'beta', 'ÉCOLE'])}测试单位${index}`;
      names.set(id, name);
      // A unit has exactly one active common contact at every commit: the person, or someone else.
      const role = next() < 0.25 ? 'contact' : 'handler';
      const status = role === 'contact' ? 'active' : pick(['active', 'active', 'active', 'pending', 'unbound']);
      const scopes = SCOPES.filter(() => next() < 0.45);
      const validity = role === 'contact' ? 'none' : pick(['none', 'none', 'current', 'expired', 'future']);
      const validFrom = validity === 'current' || validity === 'expired' ? new Date(now - 10 * DAY) : validity === 'future' ? new Date(now + 5 * DAY) : null;
      const validUntil = validity === 'current' || validity === 'future' ? new Date(now + 10 * DAY) : validity === 'expired' ? new Date(now - DAY) : null;
      const createdAt = new Date(now - Math.floor(next() * 5) * DAY); // ties on purpose
      const lastSelected = next() < 0.4 ? new Date(now - Math.floor(next() * 3) * DAY) : null; // ties too
      const verifiedAt = next() < 0.6 ? new Date() : null;
      const unitStatus = next() < 0.85 ? 'active' : 'disabled';
      const mfa = next() < 0.3;
      const certNo = `RANK${pick(['AB', 'ab', 'CD'])}${suffix}`;
      await database.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO unit (id, name, cert_type, cert_no, login_name, password_hash, password_changed_at, verified_at, status, registered_by, created_at, updated_at)
           VALUES ($1, $2, 'other', $3, $4, 'not-a-hash', now(), $5, $6, $7, now(), now())`,
          [id, name, certNo, `rank${suffix.toLowerCase()}`, verifiedAt, unitStatus, person.id],
        );
        if (mfa) await tx.query('INSERT INTO unit_mfa_policy (unit_id, required_at) VALUES ($1, now())', [id]);
        const insert = `INSERT INTO binding (id, unit_id, person_id, role, status, scopes, valid_from, valid_until, created_at, updated_at, accepted_at, ended_at, last_selected_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11, $12)`;
        if (role === 'handler') await tx.query(insert, [crypto.randomUUID(), id, contact.id, 'contact', 'active', [CE], null, null, createdAt, createdAt, null, null]);
        await tx.query(insert, [
          crypto.randomUUID(),
          id,
          person.id,
          role,
          status,
          scopes,
          validFrom,
          validUntil,
          createdAt,
          status === 'active' ? createdAt : null,
          status === 'unbound' ? new Date() : null,
          lastSelected,
        ]);
      });
      unitIds.push(id);
    }
  }, SLOW_MS);
  afterAll(async () => {
    await app.close();
    await database.drop();
  });

  /** The page as the rules give it: every live binding and its unit read, ranked and cut in JavaScript. */
  async function expected(requested: string[], query: string, limit: number, pinned: string[]) {
    const services = app.app.services;
    const live = await services.bindings.listForPerson(person.id);
    const units = new Map((await services.units.byIds(live.map((binding) => binding.unitId))).map((unit) => [unit.id, unit]));
    const { rows } = await database.db.query<{ id: string; last_selected_at: Date | null }>('SELECT id, last_selected_at FROM binding WHERE person_id = $1', [person.id]);
    const lastSelected = new Map(rows.map((row) => [row.id, row.last_selected_at?.getTime() ?? -Infinity]));
    const choices = live.flatMap((binding) => {
      const unit = units.get(binding.unitId)!;
      const access = accessOf(app.app.services, unit, binding);
      if (!access) return [];
      const granted = access.allowed.filter((scope) => requested.includes(scope)).length;
      const needle = asciiLower(query);
      const matches = !needle || asciiLower(unit.name).includes(needle) || asciiLower(unit.certNo).includes(needle);
      return [{ binding, unit, granted, serves: servesRequest(access, requested), matches }];
    });
    choices.sort(
      (a, b) =>
        Number(b.serves) - Number(a.serves) ||
        b.granted - a.granted ||
        lastSelected.get(b.binding.id)! - lastSelected.get(a.binding.id)! ||
        a.binding.createdAt.getTime() - b.binding.createdAt.getTime() ||
        (a.binding.id < b.binding.id ? -1 : a.binding.id > b.binding.id ? 1 : 0),
    );
    const matching = choices.filter((choice) => choice.matches);
    const page = matching.slice(0, limit);
    const extra = choices.filter((choice) => pinned.includes(choice.unit.id) && !page.includes(choice));
    const shown = [...page, ...extra.filter((choice) => choice.matches), ...extra.filter((choice) => !choice.matches)];
    return {
      total: choices.length,
      matching: matching.length,
      pending: live.filter((binding) => binding.status === 'pending').length,
      rows: shown.map((choice) => ({ unitId: choice.unit.id, matches: choice.matches, mfaRequired: choice.unit.mfaRequired, granted: choice.granted })),
    };
  }

  const asks: [string, string[], string, number][] = [
    ['no business asked for', [], '', 20],
    ['one business', [CE], '', 20],
    ['a verified-only business', [SI], '', 10],
    ['three businesses, one verified-only', [CE, HALL, SI], '', 20],
    ['a business no longer in the catalogue', ['biz:withdrawn_from_the_catalogue'], '', 20],
    ['a search in upper case for lower-case letters', [CE, SI], 'ALPHA', 20],
    ['a search by part of the certificate number', [CSE], 'rankab', 5],
    ['a search in Chinese', [CE], '西南', 3],
    ['a search that matches nothing', [CE], '不存在', 20],
    ['a page larger than the choices', [CE, CSE], '', 1000],
  ];

  it.each(asks)('C-UI2 when the picker is asked with %s, then the statement gives the page, the order and the counts of the rules', async (_what, requested, query, limit) => {
    const pinned = [unitIds[59]!, unitIds[3]!, 'not-a-uuid', crypto.randomUUID()];
    const want = await expected(requested, query, limit, pinned);
    const got = await app.app.services.bindings.pickerPage(person.id, { counted: grantableOf(app.app.services, requested), query, limit, pinned });
    expect({ total: got.total, matching: got.matching, pending: got.pending }).toEqual({ total: want.total, matching: want.matching, pending: want.pending });
    expect(
      got.rows.map((row) => ({
        unitId: row.unitId,
        matches: row.matches,
        mfaRequired: row.unit.mfaRequired,
        granted: accessOf(app.app.services, row.unit, row)!.allowed.filter((scope) => requested.includes(scope)).length,
      })),
    ).toEqual(want.rows);
    expect(got.rows.every((row) => row.effective === 'active' && names.get(row.unitId) === row.unit.name)).toBe(true);
  });

  it('the mix walks every case: choices that serve and that do not, ties, units excluded for each reason, invitations', async () => {
    const all = await expected([CE, SI], '', 1000, []);
    expect(all.total).toBeGreaterThan(20);
    expect(all.pending).toBeGreaterThan(0);
    expect(new Set(all.rows.map((row) => row.granted))).toEqual(new Set([0, 1, 2]));
    const { rows } = await database.db.query<{ reason: string; n: string }>(
      `SELECT CASE WHEN u.status <> 'active' THEN 'unit' WHEN b.valid_until <= now() THEN 'expired'
                   WHEN b.valid_from > now() THEN 'future' ELSE 'other' END AS reason, count(*) AS n
         FROM binding b JOIN unit u ON u.id = b.unit_id WHERE b.person_id = $1 AND b.status = 'active' GROUP BY 1`,
      [person.id],
    );
    expect(rows.map((row) => row.reason).sort()).toEqual(['expired', 'future', 'other', 'unit']);
    // The verified-only business counts for none of the unverified units that grant it.
    expect(TEST_BUSINESSES.some((business) => business.requiresVerifiedUnit && `biz:${business.code}` === SI)).toBe(true);
    expect((await expected([SI], '', 1000, [])).rows.some((row) => row.granted === 0)).toBe(true);
  });
});
