import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AllServices } from '../../services.js';
import { orgCodeCheckCharacter, usccCheckCharacter } from '../units/certificates.js';

/** Completes 17 digits with the GB 11643 check character. */
function withCheck(first17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = weights.reduce((total, weight, index) => total + weight * Number(first17[index]), 0);
  return first17 + '10X98765432'[sum % 11]!;
}

export const DEMO_PERSONS = [
  { loginName: 'zhangsan', mobile: '13800138001', legalName: '张三', idNumber: withCheck('11010119900307123') },
  { loginName: 'lisi', mobile: '13800138002', legalName: '李四', idNumber: withCheck('44010619851112456') },
  { loginName: 'wangwu', mobile: '13800138003', legalName: undefined, idNumber: undefined },
] as const;

export const DEMO_OPERATOR = { loginName: 'counter', displayName: '示例窗口' };

/** A unified social credit code from its registration prefix (8 characters) and organisation code (8 characters). */
function uscc(prefix: string, organisation: string): string {
  const first17 = `${prefix}${organisation}${orgCodeCheckCharacter(organisation)}`;
  return first17 + usccCheckCharacter(first17)!;
}

export const DEMO_UNITS = [
  {
    name: '示例科技有限公司',
    certNo: uscc('91110108', 'MA01ABCD'),
    loginName: 'demo_tech',
    verified: true,
    contact: 'zhangsan',
    handlers: [{ loginName: 'lisi', scopes: ['biz:continuing_education'] }],
  },
  {
    name: '示例教育中心',
    certNo: uscc('52110000', 'MJ012345'),
    loginName: 'demo_edu',
    verified: false,
    contact: 'lisi',
    handlers: [{ loginName: 'zhangsan', scopes: ['biz:continuing_education', 'biz:online_service_hall'] }],
  },
] as const;

export interface DemoSummary {
  password: string;
  persons: string[];
  operator: string;
  units: { name: string; loginName: string }[];
}

/** The demo password is generated once per data directory (never in git) and printed at every start. */
function demoPassword(dataDir: string): string {
  const file = path.join(dataDir, 'demo-password.txt');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const password = `Demo-${crypto.randomBytes(9).toString('base64url')}`;
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/**
 * Demo data for `npm start` outside production (S-25): persons zhangsan and lisi (real-name verified), wangwu
 * (not verified) and the operator `counter`, all with one generated password. Idempotent.
 */
export async function seedDemoData(services: AllServices): Promise<DemoSummary> {
  if (services.config.mode === 'production') throw new Error('demo data is never seeded in production');
  const password = demoPassword(services.config.dataDir);
  const at = services.now();
  for (const demo of DEMO_PERSONS) {
    if (await services.persons.byAccount(demo.loginName)) continue;
    const id = crypto.randomUUID();
    await services.db.transaction(async (tx) => {
      const realname = demo.legalName && demo.idNumber ? { legalName: demo.legalName, idNumber: demo.idNumber } : undefined;
      await services.persons.insertDemo(tx, { id, loginName: demo.loginName, passwordHash: await services.hasher.hash(password), mobile: demo.mobile, at }, realname);
      await services.audit.record({ actor: { type: 'system' } }, { action: 'person.register', target: { type: 'person', id }, detail: { demo: true } }, tx);
    });
  }
  if (!(await services.operators.byLoginName(DEMO_OPERATOR.loginName))) {
    await services.operators.create(DEMO_OPERATOR.loginName, DEMO_OPERATOR.displayName, password);
  }
  const known = new Set(services.catalog.businesses.map((business) => business.scope));
  for (const demo of DEMO_UNITS) {
    if (await services.units.byCertificate('uscc', demo.certNo)) continue;
    const contact = await services.persons.byAccount(demo.contact);
    if (!contact) continue;
    const unitId = crypto.randomUUID();
    await services.db.transaction(async (tx) => {
      await services.units.insertDemo(
        tx,
        {
          id: unitId,
          name: demo.name,
          certType: 'uscc',
          certNo: demo.certNo,
          loginName: demo.loginName,
          passwordHash: await services.hasher.hash(password),
          registeredBy: contact.id,
          at,
        },
        demo.verified,
      );
      await services.bindings.insertActive(tx, { id: crypto.randomUUID(), unitId, personId: contact.id, role: 'contact', scopes: [...known], at });
      for (const handler of demo.handlers) {
        const person = await services.persons.byLoginNameOrMobile(handler.loginName, tx);
        if (!person) continue;
        await services.bindings.insertActive(tx, {
          id: crypto.randomUUID(),
          unitId,
          personId: person.id,
          role: 'handler',
          scopes: handler.scopes.filter((scope) => known.has(scope)),
          at,
        });
      }
      await services.audit.record({ actor: { type: 'system' } }, { action: 'unit.register', target: { type: 'unit', id: unitId }, detail: { demo: true } }, tx);
    });
  }
  return {
    password,
    persons: DEMO_PERSONS.map((person) => person.loginName),
    operator: DEMO_OPERATOR.loginName,
    units: DEMO_UNITS.map((unit) => ({ name: unit.name, loginName: unit.loginName })),
  };
}
