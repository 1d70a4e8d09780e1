import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { createWebhookVerifier, type WebhookEvent } from '@unit-oidc/rp-kit';
import { WEBHOOK_JOB } from '../../src/modules/webhooks/events.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { testClient, testClientsFile } from '../support/fixtures.js';
import { jobsSettled } from '../support/jobs.js';
import { createPerson, type TestPerson } from '../support/people.js';
import { createUnit, type TestUnit } from '../support/units.js';

/**
 * Issue #17: event webhooks (Standard Webhooks) written as jobs in the state change's transaction (S-56) and
 * delivered by the worker, signed, with retries, to a local receiver that verifies them with the RP kit's verifier
 * and with the `standardwebhooks` library.
 */

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  status: number;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Statuses to answer with, in order; 204 once they run out. */
  answers: number[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const answers: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const status = answers.shift() ?? 204;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    answers,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const secret = () => `whsec_${crypto.randomBytes(32).toString('base64')}`;

describe('event webhooks', () => {
  let app: TestApp;
  let education: Receiver;
  let exams: Receiver;
  const educationSecret = secret();
  const examsSecret = secret();
  let contact: TestPerson;
  let handler: TestPerson;
  let unit: TestUnit;

  beforeAll(async () => {
    education = await startReceiver();
    exams = await startReceiver();
    process.env.TEST_WEBHOOK_SECRET_CE = educationSecret;
    app = await startTestApp({
      env: { JOB_MAX_ATTEMPTS: '3' },
      clients: testClientsFile([
        testClient({ webhooks: { url: education.url, secret: 'env:TEST_WEBHOOK_SECRET_CE' } }),
        testClient({
          client_id: 'exam-rp',
          business: 'civil_service_exam',
          first_party: false,
          scopes: ['openid', 'unit', 'biz:civil_service_exam'],
          webhooks: { url: exams.url, secret: examsSecret },
        }),
        testClient({ client_id: 'quiet-rp', business: 'online_service_hall', scopes: ['openid', 'unit', 'biz:online_service_hall'] }),
      ]),
    });
    contact = await createPerson(app.app.services, { verified: true });
    handler = await createPerson(app.app.services, { verified: true });
    unit = await createUnit(app.app.services, contact);
    await jobsSettled(app.db);
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await education?.close();
    await exams?.close();
    delete process.env.TEST_WEBHOOK_SECRET_CE;
  });
  beforeEach(() => {
    education.received.length = 0;
    exams.received.length = 0;
  });

  /** The worker delivers a batch in parallel, so the order of arrival is not the order of the changes. */
  const byType = (events: WebhookEvent[], type: string) => events.find((event) => event.type === type)!;
  const types = (events: WebhookEvent[]) => events.map((event) => event.type).sort();

  /** Verifies every delivery answered 2xx with both verifiers; returns their events. */
  function verified(receiver: Receiver, key: string): WebhookEvent[] {
    const kit = createWebhookVerifier({ secret: key });
    const library = new Webhook(key);
    return receiver.received
      .filter((delivery) => delivery.status < 300)
      .map((delivery) => {
        const fromKit = kit.verify(delivery.body, delivery.headers);
        const fromLibrary = library.verify(delivery.body, delivery.headers as Record<string, string>);
        expect(fromLibrary).toEqual(fromKit.event);
        expect(delivery.headers['webhook-id']).toMatch(/^msg_[0-9a-f-]{36}$/);
        return fromKit.event;
      });
  }

  it('when a unit binds a person, the person accepts, the permissions change and the unit unbinds, then the system of that business receives each event, signed, and the others none', async () => {
    const { bindings } = app.app.services;
    const unitActor = { actor: { type: 'unit' as const, id: unit.id } };
    const binding = await bindings.bind(unit.id, { account: handler.loginName, scopes: ['biz:continuing_education'] }, unitActor);
    await bindings.accept(handler.id, binding.id, { actor: { type: 'person', id: handler.id } });
    await bindings.setScopes(unit.id, binding.id, ['biz:continuing_education', 'biz:civil_service_exam'], undefined, '2099-12-31', unitActor);
    await bindings.unbind(unit.id, binding.id, unitActor);
    await jobsSettled(app.db);

    const events = verified(education, educationSecret);
    expect(types(events)).toEqual(['binding.accepted', 'binding.created', 'binding.permissions_changed', 'binding.removed']);
    expect(byType(events, 'binding.created').data).toEqual({
      bindingId: binding.id,
      unitId: unit.id,
      personId: handler.id,
      role: 'handler',
      scopes: ['biz:continuing_education'],
      validFrom: null,
      validUntil: null,
    });
    expect(byType(events, 'binding.accepted').data).toMatchObject({ bindingId: binding.id, scopes: ['biz:continuing_education'] });
    expect(byType(events, 'binding.permissions_changed').data).toMatchObject({ scopes: ['biz:continuing_education', 'biz:civil_service_exam'], validUntil: '2099-12-31' });
    expect(byType(events, 'binding.removed').data).toEqual({ bindingId: binding.id, unitId: unit.id, personId: handler.id });
    // The exam system is concerned from the change of permissions on (it was granted then).
    expect(types(verified(exams, examsSecret))).toEqual(['binding.permissions_changed', 'binding.removed']);
    // The other system's secret does not verify them.
    expect(() => createWebhookVerifier({ secret: examsSecret }).verify(education.received[0]!.body, education.received[0]!.headers)).toThrow();
  });

  it('when a person declines, a binding expires and the unit is verified at the counter, then the concerned systems receive binding.declined, binding.expired and unit.verified', async () => {
    const { bindings, verification } = app.app.services;
    const unitActor = { actor: { type: 'unit' as const, id: unit.id } };
    const declined = await bindings.bind(unit.id, { account: handler.loginName, scopes: ['biz:civil_service_exam'] }, unitActor);
    await bindings.decline(handler.id, declined.id, { actor: { type: 'person', id: handler.id } });
    const expiring = await bindings.bind(unit.id, { account: handler.loginName, scopes: ['biz:continuing_education'] }, unitActor);
    await bindings.accept(handler.id, expiring.id, { actor: { type: 'person', id: handler.id } });
    await app.db.query("UPDATE binding SET valid_until = now() - interval '1 minute' WHERE id = $1", [expiring.id]);
    expect(await bindings.processExpired()).toBeGreaterThanOrEqual(1);
    const { operator } = await app.app.services.operators.create(
      `op${crypto.randomBytes(4).toString('hex')}`,
      '测试窗口',
      `Operator-${crypto.randomBytes(12).toString('base64url')}`,
    );
    const { code } = await verification.issue(unit.id, { actor: { type: 'operator', id: operator.id } });
    await verification.redeem(unit.id, code, unitActor);
    await jobsSettled(app.db);

    const education_ = verified(education, educationSecret);
    expect(types(education_)).toEqual(['binding.accepted', 'binding.created', 'binding.expired', 'unit.verified']);
    expect(byType(education_, 'binding.expired').data).toEqual({ bindingId: expiring.id, unitId: unit.id, personId: handler.id });
    expect(byType(education_, 'unit.verified').data).toEqual({ unitId: unit.id });
    const exams_ = verified(exams, examsSecret);
    expect(types(exams_)).toEqual(['binding.created', 'binding.declined', 'unit.verified']);
    expect(byType(exams_, 'binding.declined').data).toEqual({ bindingId: declined.id, unitId: unit.id, personId: handler.id });
  });

  it('when a unit is renamed and a person disabled, then every client with a webhook receives the event; a client without one gets no job', async () => {
    await app.app.services.units.changeVerifiedName(unit.id, '改名后的测试单位', { actor: { type: 'unit', id: unit.id } });
    const other = await createPerson(app.app.services, { verified: true });
    await app.app.services.persons.setStatus(other.id, 'disabled', { actor: { type: 'operator', id: 'op' } });
    await jobsSettled(app.db);
    for (const [receiver, key] of [
      [education, educationSecret],
      [exams, examsSecret],
    ] as const) {
      const events = verified(receiver, key);
      expect(types(events)).toEqual(['person.disabled', 'unit.renamed']);
      expect(byType(events, 'unit.renamed').data).toEqual({ unitId: unit.id, name: '改名后的测试单位', previousName: unit.name });
      expect(byType(events, 'person.disabled').data).toEqual({ personId: other.id });
    }
    const { rows } = await app.db.query("SELECT 1 FROM job WHERE kind = $1 AND payload->>'clientId' = 'quiet-rp'", [WEBHOOK_JOB]);
    expect(rows).toHaveLength(0);
  });

  it('S-56 when the state change rolls back, then no webhook job is written and nothing is delivered', async () => {
    const count = async () => Number((await app.db.query<{ n: string }>('SELECT count(*) AS n FROM job WHERE kind = $1', [WEBHOOK_JOB])).rows[0]!.n);
    const before = await count();
    const failure = new Error('rolled back after the event');
    await expect(
      app.db.transaction(async (tx) => {
        await tx.query("UPDATE person SET status = 'disabled' WHERE id = $1", [handler.id]);
        await app.app.services.events.emit(tx, 'person.disabled', { personId: handler.id });
        throw failure;
      }),
    ).rejects.toBe(failure);
    // A real service call that fails after its checks (unbinding the common contact) writes none either.
    const contactBinding = (await app.app.services.bindings.listForUnit(unit.id)).find((binding) => binding.role === 'contact')!;
    await expect(app.app.services.bindings.unbind(unit.id, contactBinding.id, { actor: { type: 'unit', id: unit.id } })).rejects.toMatchObject({
      code: 'binding_contact_cannot_be_unbound',
    });
    expect(await count()).toBe(before);
    await jobsSettled(app.db);
    expect(education.received).toHaveLength(0);
  });

  it('when the receiver fails, then the delivery is retried with the same webhook-id and a fresh signature until it answers 2xx', async () => {
    education.answers.push(500, 503);
    await app.app.services.persons.setStatus(handler.id, 'disabled', { actor: { type: 'operator', id: 'op' } });
    for (let round = 0; round < 300 && education.received.length < 3; round += 1) await new Promise((resolve) => setTimeout(resolve, 20));
    await jobsSettled(app.db);
    expect(education.received.map((delivery) => delivery.status)).toEqual([500, 503, 204]);
    expect(new Set(education.received.map((delivery) => delivery.headers['webhook-id'])).size).toBe(1);
    const events = verified(education, educationSecret);
    expect(events).toEqual([expect.objectContaining({ type: 'person.disabled', data: { personId: handler.id } })]);
    const { rows } = await app.db.query<{ state: string; attempts: number }>(
      "SELECT state, attempts FROM job WHERE kind = $1 AND payload = '{}'::jsonb ORDER BY finished_at DESC LIMIT 1",
      [WEBHOOK_JOB],
    );
    expect(rows[0]).toEqual({ state: 'done', attempts: 3 });
  });
});
