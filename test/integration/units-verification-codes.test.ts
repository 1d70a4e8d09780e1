import { AppError } from '../../src/shared/errors.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { Browser } from '../support/browser.js';
import { createPerson } from '../support/people.js';
import { clearThrottle } from '../support/security.js';
import { createUnit, type TestUnit } from '../support/units.js';
import { auditOf, codesOf, createOperatorRecord, csrfFrom, fingerprint, issueCode, postForm, signInUnit, unitRow, SLOW_MS } from '../support/unit-console.js';

/**
 * R-U5 / S-23: counter authorisation codes. Random (≥ 40 bits from an unambiguous alphabet), stored hashed,
 * single use, bound to one unit, expiring, invalidated after 5 wrong attempts; a failed attempt is counted and
 * leaves the unit unverified.
 */

/** The unambiguous alphabet: no 0/O, 1/I/L. */
const UNAMBIGUOUS = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const AMBIGUOUS = /[01OIL]/;

describe('unit verification codes (R-U5, S-23)', () => {
  let app: TestApp;
  let operatorId: string;

  beforeAll(async () => {
    app = await startTestApp();
    operatorId = (await createOperatorRecord(app.app.services)).id;
  }, SLOW_MS);
  afterAll(() => app.close());
  beforeEach(() => clearThrottle(app.db));

  const services = () => app.app.services;
  const asUnit = (unit: { id: string }) => ({ actor: { type: 'unit' as const, id: unit.id }, actingUnitId: unit.id });

  async function freshUnit(): Promise<TestUnit> {
    const contact = await createPerson(services(), { verified: true });
    return createUnit(services(), contact);
  }

  /** A code of the right shape that is not the given one. */
  function wrongCode(code: string): string {
    const plain = code.replace('-', '');
    const last = plain.at(-1)!;
    const other = UNAMBIGUOUS[(UNAMBIGUOUS.indexOf(last) + 1) % UNAMBIGUOUS.length]!;
    return `${plain.slice(0, 5)}-${plain.slice(5, 9)}${other}`;
  }

  async function redeem(unit: { id: string }, code: string): Promise<unknown> {
    return services()
      .verification.redeem(unit.id, code, asUnit(unit))
      .then(
        () => 'ok',
        (error: unknown) => error,
      );
  }

  it(
    'when codes are issued, then each has 10 symbols of an unambiguous 31-symbol alphabet (≥ 40 bits), is shown formatted and differs every time',
    async () => {
      const unit = await freshUnit();
      const codes = new Set<string>();
      const symbols = new Set<string>();
      for (let index = 0; index < 150; index += 1) {
        const code = await issueCode(services(), unit.id, operatorId);
        expect(code).toMatch(/^[A-Z2-9]{5}-[A-Z2-9]{5}$/);
        expect(code.replace('-', '')).not.toMatch(AMBIGUOUS);
        codes.add(code);
        for (const symbol of code.replace('-', '')) symbols.add(symbol);
      }
      expect(codes.size).toBe(150);
      // 1500 draws from 31 symbols: every symbol shows up (a biased or smaller alphabet would not), none other.
      expect([...symbols].sort().join('')).toBe([...UNAMBIGUOUS].sort().join(''));
      expect(10 * Math.log2(symbols.size)).toBeGreaterThanOrEqual(40);
      // Issuing a new code invalidates the previous one: one live code at most.
      const live = (await codesOf(app.db, unit.id)).filter((row) => !row.used_at && !row.invalidated_at);
      expect(live).toHaveLength(1);
    },
    SLOW_MS,
  );

  it(
    'when a code is issued, then only an HMAC and a two-character hint are stored',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      const plain = code.replace('-', '');
      const [row] = await codesOf(app.db, unit.id);
      expect(row!.hint).toBe(plain.slice(-2));
      expect(row!.code_hmac).not.toContain(plain);
      expect(row!.code_hmac.toLowerCase()).not.toContain(plain.toLowerCase());
      expect(row!.code_hmac.length).toBeGreaterThanOrEqual(40);
      const { rows } = await app.db.query<{ t: string }>('SELECT t::text AS t FROM unit_verification_code t WHERE unit_id = $1', [unit.id]);
      expect(rows[0]!.t).not.toContain(plain);
      expect(rows[0]!.t).not.toContain(plain.slice(0, 5));
      // The same code for another unit has another digest (bound to its unit).
      const other = await freshUnit();
      await issueCode(services(), other.id, operatorId);
      expect((await codesOf(app.db, other.id))[0]!.code_hmac).not.toBe(row!.code_hmac);
    },
    SLOW_MS,
  );

  it(
    'when a wrong code is entered, then it is refused, the attempt is counted and the unit stays unverified; the right code still works',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      const refused = await redeem(unit, wrongCode(code));
      expect(refused).toBeInstanceOf(AppError);
      expect(refused).toMatchObject({ code: 'unit_code_invalid', status: 400 });
      expect((await codesOf(app.db, unit.id))[0]).toMatchObject({ attempts: 1, used_at: null, invalidated_at: null });
      expect((await unitRow(app.db, unit.id))?.verified_at).toBeNull();
      expect(await auditOf(app.db, 'unit.verify', unit.id)).toEqual([expect.objectContaining({ outcome: 'failure' })]);

      expect(await redeem(unit, code.toLowerCase().replace('-', ' '))).toBe('ok');
      expect((await unitRow(app.db, unit.id))?.verified_at).toBeInstanceOf(Date);
      expect((await codesOf(app.db, unit.id))[0]).toMatchObject({ attempts: 2, used_by: `unit:${unit.id}` });
    },
    SLOW_MS,
  );

  it(
    'when the code has expired, then even the right code is refused',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      const [row] = await codesOf(app.db, unit.id);
      const hours = (row!.expires_at.getTime() - Date.now()) / 3600_000;
      expect(hours).toBeGreaterThan(71.9); // default lifetime 72 h
      expect(hours).toBeLessThanOrEqual(72);
      await app.db.query("UPDATE unit_verification_code SET expires_at = now() - interval '1 second' WHERE id = $1", [row!.id]);
      expect(await redeem(unit, code)).toMatchObject({ code: 'unit_code_invalid' });
      expect((await unitRow(app.db, unit.id))?.verified_at).toBeNull();
      expect((await codesOf(app.db, unit.id))[0]?.used_at).toBeNull();
    },
    SLOW_MS,
  );

  it(
    'when a used code is entered again, then it is refused (single use), even after the unit lost its verification',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      expect(await redeem(unit, code)).toBe('ok');
      expect(await redeem(unit, code)).toMatchObject({ code: 'unit_already_verified', status: 409 });
      // Even if the verification were withdrawn, the used code does not verify again.
      await app.db.query('UPDATE unit SET verified_at = NULL, verified_by = NULL WHERE id = $1', [unit.id]);
      expect(await redeem(unit, code)).toMatchObject({ code: 'unit_code_invalid' });
      expect((await unitRow(app.db, unit.id))?.verified_at).toBeNull();
    },
    SLOW_MS,
  );

  it(
    'when another unit’s code is entered, then it is refused and that code stays usable by its own unit',
    async () => {
      const mine = await freshUnit();
      const theirs = await freshUnit();
      const myCode = await issueCode(services(), mine.id, operatorId);
      const theirCode = await issueCode(services(), theirs.id, operatorId);
      expect(await redeem(mine, theirCode)).toMatchObject({ code: 'unit_code_invalid' });
      // The attempt counts against the unit that tried it, not against the other unit's code.
      expect((await codesOf(app.db, mine.id))[0]?.attempts).toBe(1);
      expect((await codesOf(app.db, theirs.id))[0]).toMatchObject({ attempts: 0, used_at: null });
      // Without a live code of its own, a unit still cannot use another unit's code.
      const lonely = await freshUnit();
      expect(await redeem(lonely, theirCode)).toMatchObject({ code: 'unit_code_invalid' });
      expect((await unitRow(app.db, mine.id))?.verified_at).toBeNull();
      expect((await unitRow(app.db, lonely.id))?.verified_at).toBeNull();

      expect(await redeem(theirs, theirCode)).toBe('ok');
      expect(await redeem(mine, myCode)).toBe('ok');
    },
    SLOW_MS,
  );

  it(
    'when a new code is issued, then the previous code no longer works',
    async () => {
      const unit = await freshUnit();
      const first = await issueCode(services(), unit.id, operatorId);
      const second = await issueCode(services(), unit.id, operatorId);
      expect(await redeem(unit, first)).toMatchObject({ code: 'unit_code_invalid' });
      expect(await redeem(unit, second)).toBe('ok');
    },
    SLOW_MS,
  );

  it(
    'when 5 wrong codes are entered, then the code is invalidated and even the right code fails afterwards',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      for (let attempt = 1; attempt <= 5; attempt += 1) {
        expect(await redeem(unit, wrongCode(code))).toMatchObject({ code: 'unit_code_invalid' });
      }
      const [row] = await codesOf(app.db, unit.id);
      expect(row!.attempts).toBe(5);
      expect(row!.invalidated_at).toBeInstanceOf(Date);
      expect(await redeem(unit, code)).toMatchObject({ code: 'unit_code_invalid' });
      expect((await unitRow(app.db, unit.id))?.verified_at).toBeNull();
      expect((await codesOf(app.db, unit.id))[0]?.used_at).toBeNull();
      const failures = (await auditOf(app.db, 'unit.verify', unit.id)).filter((entry) => entry.outcome === 'failure');
      expect(failures).toHaveLength(6);
      // The operator sees the code as invalidated.
      expect((await services().verification.list(unit.id))[0]?.state).toBe('invalidated');
    },
    SLOW_MS,
  );

  it(
    'when 4 wrong codes are entered, then the fifth attempt with the right code still verifies',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      for (let attempt = 1; attempt <= 4; attempt += 1) await redeem(unit, wrongCode(code));
      expect(await redeem(unit, code)).toBe('ok');
    },
    SLOW_MS,
  );

  it(
    'when 10 wrong attempts race, then the code is invalidated after 5 counted attempts and never verifies the unit',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      await Promise.all(Array.from({ length: 10 }, () => redeem(unit, wrongCode(code))));
      const [row] = await codesOf(app.db, unit.id);
      expect(row!.attempts).toBe(5);
      expect(row!.invalidated_at).toBeInstanceOf(Date);
      expect(await redeem(unit, code)).toMatchObject({ code: 'unit_code_invalid' });
    },
    SLOW_MS,
  );

  it(
    'when the right code is entered twice at the same time, then the unit is verified once and the code used once',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      const results = await Promise.all(Array.from({ length: 5 }, () => redeem(unit, code)));
      expect(results.filter((result) => result === 'ok')).toHaveLength(1);
      expect((await auditOf(app.db, 'unit.verify', unit.id)).filter((entry) => entry.outcome === 'success')).toHaveLength(1);
    },
    SLOW_MS,
  );

  it(
    'when a verified unit is given a code, then issuing is refused',
    async () => {
      const contact = await createPerson(services(), { verified: true });
      const unit = await createUnit(services(), contact, { verified: true });
      const refused = await services()
        .verification.issue(unit.id, { actor: { type: 'operator', id: operatorId } })
        .catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'unit_already_verified', status: 409 });
      expect(await codesOf(app.db, unit.id)).toEqual([]);
    },
    SLOW_MS,
  );

  it(
    'when the unit account enters a wrong code on /unit/verify, then the page says so in zh-CN (or en) with 400 and only the attempt is recorded',
    async () => {
      const unit = await freshUnit();
      const code = await issueCode(services(), unit.id, operatorId);
      const browser = new Browser(app.url);
      await signInUnit(browser, unit, '/unit/verify');
      const csrf = await csrfFrom(browser, '/unit/verify');
      const before = await fingerprint(app.db, ['unit', 'binding', 'unit_name_history']);
      const refused = await postForm(browser, '/unit/verify', csrf, [['code', wrongCode(code)]]);
      expect(refused.status).toBe(400);
      expect(Browser.text(refused)).toContain('授权码错误或已失效。');
      expect(refused.html.querySelector('form#verify')).not.toBeNull();
      const english = await postForm(browser, '/unit/verify?lang=en', csrf, [['code', 'ABCDE-FGHJK']]);
      expect(english.status).toBe(400);
      expect(Browser.text(english)).toContain('The authorisation code is wrong or no longer valid.');
      expect(await fingerprint(app.db, ['unit', 'binding', 'unit_name_history'])).toEqual(before);
      expect((await codesOf(app.db, unit.id))[0]?.attempts).toBe(2);
    },
    SLOW_MS,
  );
});
