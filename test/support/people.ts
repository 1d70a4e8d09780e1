import crypto from 'node:crypto';
import type { AllServices } from '../../src/services.js';
import { personStore } from '../../src/modules/persons/store.js';
import { maskIdNumber } from '../../src/modules/persons/rules.js';
import type { Queryable } from '../../src/shared/db/database.js';
import { jobsSettled } from './jobs.js';

export const PASSWORD = 'correct horse battery staple';

let counter = 0;

/** Completes 17 digits with the GB 11643 check character. */
export function idNumber(first17: string): string {
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = weights.reduce((total, weight, index) => total + weight * Number(first17[index]), 0);
  return first17 + '10X98765432'[sum % 11]!;
}

/** A unique valid mobile number for this test run. */
export function mobile(): string {
  counter += 1;
  return `139${String(process.pid % 10_000).padStart(4, '0')}${String(counter).padStart(4, '0')}`;
}

export interface TestPerson {
  id: string;
  loginName: string;
  mobile: string;
  password: string;
}

/** Creates a person directly in the database (real argon2 hash), optionally real-name verified. */
export async function createPerson(services: AllServices, options: { loginName?: string; verified?: boolean; legalName?: string; password?: string } = {}): Promise<TestPerson> {
  const id = crypto.randomUUID();
  const loginName = options.loginName ?? `user${crypto.randomBytes(4).toString('hex')}`;
  const phone = mobile();
  const password = options.password ?? PASSWORD;
  await personStore.insert(services.db, { id, loginName, passwordHash: await services.hasher.hash(password), mobile: phone, at: new Date() });
  if (options.verified) {
    const number = idNumber(`1101011990${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`.slice(0, 17));
    await personStore.submitRealname(services.db, id, options.legalName ?? '测试人', services.secrets.hmac('id-number', number), maskIdNumber(number), new Date());
    await services.db.query("UPDATE person SET realname_status = 'verified' WHERE id = $1", [id]);
  }
  return { id, loginName, mobile: phone, password };
}

/** The latest one-time code sent to a mobile number, read from the notification outbox once the worker sent it. */
export async function lastCode(db: Queryable, to: string): Promise<string> {
  await jobsSettled(db);
  const { rows } = await db.query<{ body: string }>('SELECT body FROM notification_outbox WHERE recipient = $1 ORDER BY created_at DESC LIMIT 1', [to]);
  const match = rows[0]?.body.match(/\d{6}/);
  if (!match) throw new Error(`no code sent to ${to}`);
  return match[0];
}
