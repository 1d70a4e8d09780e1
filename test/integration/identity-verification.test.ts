import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig, ConfigError } from '../../src/config/env.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/database.js';
import { createPerson, idNumber } from '../support/people.js';

const SECRET = 'idv-test-secret-0123456789abcdefghijklmnop';

interface Answer {
  status: number;
  body: string;
}
interface Received {
  legalName: string;
  idNumber: string;
  requestId: string;
}

/**
 * A stand-in for a province's identity-verification service on 127.0.0.1: it checks the signature exactly as the
 * README tells an implementer to (HMAC-SHA256 over "<timestamp>.<body>", constant-time), then answers from a plan.
 */
async function startStandIn() {
  const received: Received[] = [];
  const badSignatures: string[] = [];
  let plan: Answer[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const timestamp = String(req.headers['x-idv-timestamp'] ?? '');
      const expected = Buffer.from(`v1=${crypto.createHmac('sha256', SECRET).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-idv-signature'] ?? ''));
      const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
      if (!fresh || given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
        badSignatures.push(body);
        res.writeHead(401).end('bad signature');
        return;
      }
      received.push(JSON.parse(body) as Received);
      const answer = plan.length > 1 ? plan.shift()! : (plan[0] ?? { status: 500, body: '' });
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/verify`,
    received,
    badSignatures,
    answer(answers: Answer[]) {
      plan = answers;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const decision = (result: string, reference: string): Answer => ({ status: 200, body: JSON.stringify({ result, reference }) });

let serial = 0;
function newIdNumber(): string {
  serial += 1;
  return idNumber(`44010119900101${String((process.pid + serial) % 1000).padStart(3, '0')}`);
}

describe('R-P2 identity-verification configuration', () => {
  const base = { NODE_ENV: 'test', ISSUER: 'http://127.0.0.1:3000' };
  it('R-P2 when IDV_URL is unset, then there is no service (counter only); IDV_SECRET alone, a short secret or http in production are refused', () => {
    expect(loadConfig(base).identityVerification).toBeUndefined();
    expect(() => loadConfig({ ...base, IDV_SECRET: SECRET })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, IDV_URL: 'http://127.0.0.1:1/verify' })).toThrow(/IDV_SECRET must be set/);
    expect(() => loadConfig({ ...base, IDV_URL: 'http://127.0.0.1:1/verify', IDV_SECRET: 'short' })).toThrow(/32 to 512/);
    expect(() =>
      loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.gov.cn', DEMO_DATA: 'false', IDV_URL: 'http://idv.example.gov.cn/verify', IDV_SECRET: SECRET }),
    ).toThrow(/https URL in production/);
    expect(loadConfig({ ...base, IDV_URL: 'http://127.0.0.1:1/verify', IDV_SECRET: SECRET, IDV_TIMEOUT_MS: '2500' }).identityVerification).toEqual({
      url: 'http://127.0.0.1:1/verify',
      secret: SECRET,
      timeoutMs: 2500,
    });
  });
});

describe.each(databaseKinds())('R-P2 identity-verification service on %s', (kind) => {
  let database: TestDatabase;
  let service: Awaited<ReturnType<typeof startStandIn>>;
  let test: TestApp;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    service = await startStandIn();
    test = await startTestApp({ database, env: { IDV_URL: service.url, IDV_SECRET: SECRET, IDV_TIMEOUT_MS: '2000', JOB_MAX_ATTEMPTS: '3' } });
  });
  afterAll(async () => {
    await test?.close();
    await service?.close();
    await database?.drop();
  });
  beforeEach(async () => {
    await test.db.query("DELETE FROM job WHERE kind = 'identity_verification'");
    service.received.length = 0;
    service.badSignatures.length = 0;
  });

  /** Waits (without asserting on time) until the one verification job of the test is delivered or parked. */
  async function jobDecided(): Promise<{ id: string; state: string; attempts: number; payload: Record<string, unknown>; text: string }> {
    for (let round = 0; round < 500; round += 1) {
      const { rows } = await test.db.query<{ id: string; state: string; attempts: number; payload: Record<string, unknown>; text: string }>(
        "SELECT id, state, attempts, payload, payload::text AS text FROM job WHERE kind = 'identity_verification'",
      );
      if (rows.length === 1 && (rows[0]!.state === 'done' || rows[0]!.state === 'failed')) return rows[0]!;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the verification job was neither delivered nor parked');
  }

  async function submit(number: string, legalName = '张三') {
    const person = await createPerson(test.app.services);
    await test.app.services.persons.submitRealname(person.id, legalName, number, { actor: { type: 'person', id: person.id } });
    return person;
  }

  async function auditOf(personId: string) {
    const { rows } = await test.db.query<{ action: string; actor_type: string; detail: Record<string, unknown>; text: string }>(
      "SELECT action, actor_type, detail, row_to_json(audit_event)::text AS text FROM audit_event WHERE target_id = $1 AND action LIKE 'person.realname%' ORDER BY at",
      [personId],
    );
    return rows;
  }

  it('R-P2 when the service answers verified to a signed request, then the person is verified and the decision is audited with its reference', async () => {
    service.answer([decision('verified', 'GA-0001')]);
    const number = newIdNumber();
    const person = await submit(number);
    const job = await jobDecided();
    expect([job.state, job.attempts, job.payload]).toEqual(['done', 1, {}]);
    expect(service.badSignatures).toEqual([]);
    expect(service.received).toEqual([{ requestId: expect.any(String), legalName: '张三', idNumber: number }]);
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('verified');
    const audit = await auditOf(person.id);
    expect(audit.map((entry) => [entry.action, entry.actor_type])).toEqual([
      ['person.realname_submit', 'person'],
      ['person.realname_verify', 'system'],
    ]);
    expect(audit[1]!.detail).toEqual({ by: 'identity_verification_service', reference: 'GA-0001', requestId: service.received[0]!.requestId });
    expect(audit.some((entry) => entry.text.includes(number))).toBe(false);
  });

  it('R-P2 when the service answers rejected, then the person is rejected (may submit again) and the rejection is audited', async () => {
    service.answer([decision('rejected', 'GA-0002')]);
    const person = await submit(newIdNumber(), '李四');
    expect((await jobDecided()).state).toBe('done');
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('rejected');
    const audit = await auditOf(person.id);
    expect(audit.map((entry) => [entry.action, entry.actor_type, entry.detail.reference])).toEqual([
      ['person.realname_submit', 'person', undefined],
      ['person.realname_reject', 'system', 'GA-0002'],
    ]);
  });

  it('R-P2 S-56 when the service fails twice (an error, then no decision) and then answers, then the job is retried and decides on the third attempt, with the same request id', async () => {
    service.answer([{ status: 503, body: '' }, { status: 200, body: '{"result":"maybe","reference":"x"}' }, decision('verified', 'GA-0003')]);
    const person = await submit(newIdNumber());
    const job = await jobDecided();
    expect([job.state, job.attempts]).toEqual(['done', 3]);
    expect(service.received).toHaveLength(3);
    expect(new Set(service.received.map((request) => request.requestId)).size).toBe(1);
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('verified');
    expect((await auditOf(person.id)).filter((entry) => entry.actor_type === 'system')).toHaveLength(1);
  });

  it('R-P2 when the service always fails, then the job is parked with the number sealed (never in clear), the person stays pending, and the counter can still decide', async () => {
    service.answer([{ status: 500, body: 'down' }]);
    const number = newIdNumber();
    const person = await submit(number);
    const job = await jobDecided();
    expect([job.state, job.attempts]).toEqual(['failed', 3]);
    // The parked payload carries the number only sealed with the data key (it is kept 30 days).
    expect(job.text).not.toContain(number);
    expect(job.text).not.toContain(number.slice(0, 14));
    expect(test.app.services.secrets.decrypt('idv-id-number', String(job.payload.sealedIdNumber))).toBe(number);
    const { rows: personRows } = await test.db.query<{ text: string }>('SELECT row_to_json(person)::text AS text FROM person WHERE id = $1', [person.id]);
    expect(personRows[0]!.text).not.toContain(number);
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('pending');
    expect(await test.app.services.jobs.listFailed()).toEqual(expect.arrayContaining([expect.objectContaining({ id: job.id, summary: `person ${person.id}` })]));

    // The counter path is unchanged: the operator types the number from the card.
    await test.app.services.persons.verifyRealname(person.id, number, { actor: { type: 'operator', id: crypto.randomUUID() } });
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('verified');
    const { rows: neutralised } = await test.db.query<{ payload: Record<string, unknown> }>('SELECT payload FROM job WHERE id = $1', [job.id]);
    expect(neutralised[0]!.payload).toEqual({ personId: person.id });

    // An operator's retry of the parked job now ends without asking the service again, and changes nothing.
    const asked = service.received.length;
    service.answer([decision('rejected', 'GA-late')]);
    expect(await test.app.services.jobs.retry(job.id)).toBe(true);
    test.app.worker.kick();
    expect((await jobDecided()).state).toBe('done');
    expect(service.received).toHaveLength(asked);
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('verified');
    expect((await auditOf(person.id)).map((entry) => [entry.action, entry.actor_type])).toEqual([
      ['person.realname_submit', 'person'],
      ['person.realname_verify', 'operator'],
    ]);
  });
});

describe('R-P2 without IDV_URL', () => {
  let test: TestApp;
  beforeAll(async () => {
    test = await startTestApp();
  });
  afterAll(async () => {
    await test?.close();
  });

  it('R-P2 when no service is configured, then a submission writes no verification job and waits for the counter', async () => {
    const person = await createPerson(test.app.services);
    await test.app.services.persons.submitRealname(person.id, '王五', newIdNumber(), { actor: { type: 'person', id: person.id } });
    const { rows } = await test.db.query("SELECT 1 FROM job WHERE kind = 'identity_verification'");
    expect(rows).toHaveLength(0);
    expect((await test.app.services.persons.byId(person.id))?.realnameStatus).toBe('pending');
  });
});
