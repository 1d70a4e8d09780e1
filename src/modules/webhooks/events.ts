import crypto from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { ClientCatalog } from '../../config/clients.js';
import type { Queryable, Transaction } from '../../shared/db/database.js';
import type { Jobs, NewJob } from '../../shared/jobs.js';
import type { JobHandler } from '../jobs/worker.js';

export const WEBHOOK_JOB = 'webhook';

/** The event types of the webhooks (the same list as the RP kit's `EVENT_TYPES`, packages/rp-kit/src/events.ts). */
export const EVENT_TYPES = [
  'binding.created',
  'binding.accepted',
  'binding.declined',
  'binding.removed',
  'binding.permissions_changed',
  'binding.expired',
  'unit.verified',
  'unit.renamed',
  'person.disabled',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What a webhook job holds: no secret (it stays in the configuration), only the message and its recipient. */
interface WebhookJobPayload {
  clientId: string;
  /** `webhook-id`: the same on every retry, the receiver's idempotency key. */
  messageId: string;
  type: EventType;
  timestamp: string;
  data: Record<string, unknown>;
}

/**
 * The provider's events to business systems (Standard Webhooks). Services call `emit` inside the transaction of
 * the state change; one job per recipient is written in it (S-56: a rollback writes none) and the job worker
 * delivers it, signed, with retries.
 *
 * Recipients: a binding event goes to the clients whose business (`business` in clients.json) is among the
 * binding's business scopes (before and after, for a change of permissions); unit and person events go to every
 * client with a webhook. A client without `webhooks` receives nothing.
 */
export class WebhookEvents {
  constructor(
    private readonly jobs: Jobs,
    private readonly catalog: ClientCatalog,
    private readonly now: () => Date,
  ) {}

  recipients(type: EventType, scopes: readonly string[] = []): string[] {
    return this.catalog.clients
      .filter((client) => client.webhook && (!type.startsWith('binding.') || (client.business !== undefined && scopes.includes(`biz:${client.business}`))))
      .map((client) => client.clientId);
  }

  async emit(tx: Queryable | Transaction, type: EventType, data: Record<string, unknown>, scopes: readonly string[] = []): Promise<void> {
    const timestamp = this.now().toISOString();
    const jobs: NewJob[] = this.recipients(type, scopes).map((clientId) => ({
      kind: WEBHOOK_JOB,
      payload: { clientId, messageId: `msg_${crypto.randomUUID()}`, type, timestamp, data } satisfies WebhookJobPayload,
    }));
    await this.jobs.enqueue(tx, jobs);
  }
}

/**
 * Delivers one webhook: POSTs `{ type, timestamp, data }` with the Standard Webhooks headers, signed by the
 * `standardwebhooks` library with the client's secret at the time of the attempt (a retry has the same id and a
 * fresh timestamp). Only a 2xx answer within the timeout counts as delivered; anything else is retried.
 */
export function webhookHandler(catalog: ClientCatalog, timeoutMs: number, now: () => Date = () => new Date()): JobHandler {
  return async (raw) => {
    const payload = raw as unknown as WebhookJobPayload;
    const webhook = catalog.client(payload.clientId)?.webhook;
    if (!webhook) throw new Error(`client ${payload.clientId} has no webhook any more`);
    const body = JSON.stringify({ type: payload.type, timestamp: payload.timestamp, data: payload.data });
    const at = now();
    const signature = new Webhook(webhook.secret).sign(payload.messageId, at, body);
    const response = await fetch(webhook.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': payload.messageId,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    if (response.status < 200 || response.status >= 300) throw new Error(`webhook answered ${response.status}`);
  };
}
