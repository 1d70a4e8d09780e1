import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Services } from '../../services.js';
import { maskIdNumber } from '../persons/rules.js';
import { personStore } from '../persons/store.js';

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

export interface DemoSummary {
  password: string;
  persons: string[];
  operator: string;
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
export async function seedDemoData(services: Services): Promise<DemoSummary> {
  if (services.config.mode === 'production') throw new Error('demo data is never seeded in production');
  const password = demoPassword(services.config.dataDir);
  const at = services.now();
  for (const demo of DEMO_PERSONS) {
    if (await services.persons.byAccount(demo.loginName)) continue;
    const id = crypto.randomUUID();
    await services.db.transaction(async (tx) => {
      await personStore.insert(tx, { id, loginName: demo.loginName, passwordHash: await services.hasher.hash(password), mobile: demo.mobile, at });
      if (demo.legalName && demo.idNumber) {
        await personStore.submitRealname(tx, id, demo.legalName, services.secrets.hmac('id-number', demo.idNumber), maskIdNumber(demo.idNumber), at);
        await tx.query("UPDATE person SET realname_status = 'verified', realname_decided_at = $2 WHERE id = $1", [id, at]);
      }
      await services.audit.record({ actor: { type: 'system' } }, { action: 'person.register', target: { type: 'person', id }, detail: { demo: true } }, tx);
    });
  }
  if (!(await services.operators.byLoginName(DEMO_OPERATOR.loginName))) {
    await services.operators.create(DEMO_OPERATOR.loginName, DEMO_OPERATOR.displayName, password);
  }
  return { password, persons: DEMO_PERSONS.map((person) => person.loginName), operator: DEMO_OPERATOR.loginName };
}
