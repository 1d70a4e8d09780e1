import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { createWebhookVerifier, isEvent, WebhookError, EVENT_TYPES, type WebhookEvent } from '../src/index.js';

/** The kit's Standard Webhooks verifier (node:crypto) against signatures made by the `standardwebhooks` library. */

const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
const sender = new Webhook(secret);

function deliver(event: unknown, at = new Date(), id = `msg_${crypto.randomUUID()}`) {
  const body = JSON.stringify(event);
  return { body, headers: { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': sender.sign(id, at, body) } };
}

function refusal(run: () => unknown): WebhookError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookError);
    return error as WebhookError;
  }
  throw new Error('expected a refusal');
}

const renamed = { type: 'unit.renamed', timestamp: '2026-12-01T10:00:00.000Z', data: { unitId: 'u-1', name: '新名称有限公司', previousName: '示例科技有限公司' } };

describe('RP kit: webhook verification (Standard Webhooks)', () => {
  const verifier = createWebhookVerifier({ secret });

  it('when the standardwebhooks library signs an event, then the kit verifies it and returns id, time and the typed event', () => {
    const at = new Date();
    const { body, headers } = deliver(renamed, at, 'msg_1');
    const verified = verifier.verify(body, headers);
    expect(verified.id).toBe('msg_1');
    expect(verified.timestamp.getTime()).toBe(Math.floor(at.getTime() / 1000) * 1000);
    expect(verified.event).toEqual(renamed);
    const event: WebhookEvent = verified.event;
    expect(isEvent(event, 'unit.renamed') && event.data.previousName).toBe('示例科技有限公司');
    expect(isEvent(event, 'unit.verified')).toBe(false);
    // And the other way round: what the library accepts, the kit accepts from a Fetch Headers object and raw bytes too.
    expect(() => sender.verify(body, headers)).not.toThrow();
    expect(verifier.verify(Buffer.from(body), new Headers(headers)).event).toEqual(renamed);
  });

  it('when the body, id or timestamp is changed after signing, then bad_signature', () => {
    const { body, headers } = deliver(renamed);
    expect(refusal(() => verifier.verify(body.replace('新名称', '假名称'), headers)).code).toBe('bad_signature');
    expect(refusal(() => verifier.verify(body, { ...headers, 'webhook-id': 'msg_other' })).code).toBe('bad_signature');
    const later = String(Number(headers['webhook-timestamp']) + 1);
    expect(refusal(() => verifier.verify(body, { ...headers, 'webhook-timestamp': later })).code).toBe('bad_signature');
  });

  it('when the signature was made with another secret, then bad_signature; with a rotation list both secrets verify', () => {
    const other = `whsec_${crypto.randomBytes(32).toString('base64')}`;
    const id = 'msg_rot';
    const at = new Date();
    const body = JSON.stringify(renamed);
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(other).sign(id, at, body) };
    expect(refusal(() => verifier.verify(body, headers)).code).toBe('bad_signature');
    expect(createWebhookVerifier({ secret: [other, secret] }).verify(body, headers).id).toBe(id);
    expect(createWebhookVerifier({ secret: [secret, other] }).verify(body, headers).id).toBe(id);
  });

  it('when several signatures are sent (the sender rotating), then one valid v1 signature suffices; other versions are skipped', () => {
    const { body, headers } = deliver(renamed);
    const forged = `v1,${crypto.randomBytes(32).toString('base64')}`;
    expect(verifier.verify(body, { ...headers, 'webhook-signature': `${forged} v1a,xyz ${headers['webhook-signature']}` }).event.type).toBe('unit.renamed');
    expect(refusal(() => verifier.verify(body, { ...headers, 'webhook-signature': `${forged} v2,${headers['webhook-signature'].slice(3)}` })).code).toBe('bad_signature');
  });

  it('when the timestamp is more than 5 minutes old or ahead (a replayed or held delivery), then timestamp_out_of_range', () => {
    for (const offset of [-301_000, 301_000]) {
      const { body, headers } = deliver(renamed, new Date(Date.now() + offset));
      expect(refusal(() => verifier.verify(body, headers)).code).toBe('timestamp_out_of_range');
    }
    const { body, headers } = deliver(renamed, new Date(Date.now() - 290_000));
    expect(verifier.verify(body, headers).event.type).toBe('unit.renamed');
    expect(refusal(() => verifier.verify(body, { ...headers, 'webhook-timestamp': '1e9' })).code).toBe('timestamp_out_of_range');
  });

  it('when a header is missing, then missing_headers; when the signed body is not an event, then invalid_payload', () => {
    const { body, headers } = deliver(renamed);
    for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const) {
      const { [name]: _dropped, ...rest } = headers;
      expect(refusal(() => verifier.verify(body, rest)).code).toBe('missing_headers');
    }
    for (const payload of [[1, 2], { type: 'unit.verified' }, { type: 1, timestamp: 'x', data: {} }, 'text']) {
      const signed = deliver(payload);
      expect(refusal(() => verifier.verify(signed.body, signed.headers)).code).toBe('invalid_payload');
    }
  });

  it('when the secret is malformed or too short, then invalid_secret at construction', () => {
    expect(refusal(() => createWebhookVerifier({ secret: 'whsec_not base64!' })).code).toBe('invalid_secret');
    expect(refusal(() => createWebhookVerifier({ secret: `whsec_${Buffer.from('short').toString('base64')}` })).code).toBe('invalid_secret');
    expect(refusal(() => createWebhookVerifier({ secret: [] })).code).toBe('invalid_secret');
  });

  it('when the event types are listed, then they are those of issue #17 (binding.*, unit.verified/renamed, person.disabled)', () => {
    expect([...EVENT_TYPES].sort()).toEqual([
      'binding.accepted',
      'binding.created',
      'binding.declined',
      'binding.expired',
      'binding.permissions_changed',
      'binding.removed',
      'person.disabled',
      'unit.renamed',
      'unit.verified',
    ]);
  });
});
