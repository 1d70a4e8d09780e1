import type { AllServices } from '../../src/services.js';
import { orgCodeCheckCharacter, usccCheckCharacter } from '../../src/modules/units/certificates.js';
import type { Unit } from '../../src/modules/units/store.js';
import type { Queryable } from '../../src/shared/db/database.js';
import type { TestPerson } from './people.js';

let counter = 0;

/** A fresh valid unified social credit code (GB 32100) for this run. */
export function uscc(): string {
  counter += 1;
  // Unique within the process (and, via the pid, across the parallel workers).
  const organisation = `${String(process.pid % 100).padStart(2, '0')}${String(counter).padStart(6, '0')}`;
  const body = `91110108${organisation}${orgCodeCheckCharacter(organisation)}`;
  return body + usccCheckCharacter(body)!;
}

export interface TestUnit extends Unit {
  password: string;
}

/** Registers a unit through the service (the contact must be real-name verified), optionally verified. */
export async function createUnit(services: AllServices, contact: TestPerson, options: { name?: string; verified?: boolean } = {}): Promise<TestUnit> {
  const password = 'unit password for tests';
  const loginName = `unit${Date.now().toString(36)}${counter}`;
  const unit = await services.units.register(
    contact.id,
    { name: options.name ?? `测试单位${counter}`, certType: 'uscc', certNo: uscc(), loginName, password, passwordConfirm: password },
    { actor: { type: 'person', id: contact.id } },
  );
  if (options.verified) {
    await services.db.query("UPDATE unit SET verified_at = now(), verified_by = 'test' WHERE id = $1", [unit.id]);
    return { ...unit, verified: true, password };
  }
  return { ...unit, password };
}

/** Binds a person as handler with the scopes and accepts on the person's behalf. */
export async function bindHandler(services: AllServices, unit: Unit, person: TestPerson, scopes: string[]): Promise<string> {
  const binding = await services.bindings.bind(unit.id, { account: person.loginName, scopes }, { actor: { type: 'unit', id: unit.id } });
  await services.bindings.accept(person.id, binding.id, { actor: { type: 'person', id: person.id } });
  return binding.id;
}

/**
 * `count` handlers of `unit` (active, 继续教育), inserted with one set-based statement as the scale benchmark does, so
 * that a test of paging does not hash as many passwords; bound a second apart, in order (`tag` keeps login names
 * apart between calls).
 */
export async function addHandlers(db: Queryable, unit: Unit, count: number, tag: string): Promise<void> {
  await db.query(
    `WITH people AS (
       INSERT INTO person (id, login_name, password_hash, password_changed_at, mobile, created_at, updated_at)
       SELECT gen_random_uuid(), $3 || n || '_' || substr(md5($1::text), 1, 8), 'x', now(),
              '19' || lpad((random() * 99999)::int::text, 5, '0') || lpad(n::text, 4, '0'), now() + n * interval '1 second', now()
         FROM generate_series(1, $2::int) AS n
       RETURNING id, created_at)
     INSERT INTO binding (id, unit_id, person_id, role, status, scopes, created_at, updated_at, accepted_at)
     SELECT gen_random_uuid(), $1::uuid, id, 'handler', 'active', '{biz:continuing_education}', created_at, now(), now() FROM people`,
    [unit.id, count, tag],
  );
}
