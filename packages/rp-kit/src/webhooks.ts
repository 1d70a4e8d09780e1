import crypto from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { WebhookEvent } from './events.js';

/**
 * Verification of the provider's webhooks per the Standard Webhooks specification
 * (https://www.standardwebhooks.com/, symmetric signatures): headers `webhook-id`, `webhook-timestamp` (Unix
 * seconds) and `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256>`); the signed content is
 * `<id>.<timestamp>.<raw body>`; the secret is `whsec_<base64 key>`; timestamps more than 5 minutes away are
 * refused (replays of old deliveries). Implemented with node:crypto so the kit depends on jose only; signatures
 * of the `standardwebhooks` library verify (and are tested).
 *
 * Use the raw request body exactly as received (before any JSON parsing), and the `webhook-id` as the
 * idempotency key: a retried delivery has the same id.
 */

export type WebhookErrorCode = 'missing_headers' | 'timestamp_out_of_range' | 'bad_signature' | 'invalid_payload' | 'invalid_secret';

/** A refused webhook: answer it with 400 (the sender retries deliveries answered otherwise). */
export class WebhookError extends Error {
  override readonly name = 'WebhookError';
  readonly status = 400;

  constructor(
    readonly code: WebhookErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface WebhookVerifierOptions {
  /** The secret of this business system (`whsec_…`); during a rotation give both, new first. */
  secret: string | readonly string[];
  /** Accepted distance of `webhook-timestamp` from now, in seconds (default 300, the specification's). */
  toleranceSeconds?: number;
  /** The clock, in milliseconds (tests). */
  now?: () => number;
}

export interface VerifiedWebhook {
  /** `webhook-id`: unique per message, the same on every retry of it. */
  id: string;
  timestamp: Date;
  event: WebhookEvent;
}

export type HeadersLike = Headers | IncomingHttpHeaders | Record<string, string | string[] | undefined>;

export interface WebhookVerifier {
  /** Verifies the signature and timestamp and parses the payload; throws WebhookError. */
  verify(body: string | Uint8Array, headers: HeadersLike): VerifiedWebhook;
}

const SECRET_PREFIX = 'whsec_';

function decodeSecret(secret: string): Buffer {
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new WebhookError('invalid_secret', 'the webhook secret must be whsec_ followed by base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 16) throw new WebhookError('invalid_secret', 'the webhook secret is too short (at least 16 bytes)');
  return key;
}

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const value = (headers as Record<string, string | string[] | undefined>)[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseEvent(text: string): WebhookEvent {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    throw new WebhookError('invalid_payload', 'the webhook body is not JSON');
  }
  const event = payload as { type?: unknown; timestamp?: unknown; data?: unknown };
  if (
    typeof payload !== 'object' ||
    payload === null ||
    typeof event.type !== 'string' ||
    typeof event.timestamp !== 'string' ||
    typeof event.data !== 'object' ||
    event.data === null ||
    Array.isArray(event.data)
  ) {
    throw new WebhookError('invalid_payload', 'the webhook body must be {"type", "timestamp", "data"}');
  }
  return payload as WebhookEvent;
}

/** A verifier for the webhooks of one business system; build it once with the secret from clients.json. */
export function createWebhookVerifier(options: WebhookVerifierOptions): WebhookVerifier {
  const secrets = typeof options.secret === 'string' ? [options.secret] : [...options.secret];
  if (secrets.length === 0) throw new WebhookError('invalid_secret', 'give at least one webhook secret');
  const keys = secrets.map(decodeSecret);
  const tolerance = options.toleranceSeconds ?? 300;
  const now = options.now ?? Date.now;

  return {
    verify(body, headers) {
      const id = header(headers, 'webhook-id');
      const timestamp = header(headers, 'webhook-timestamp');
      const signatures = header(headers, 'webhook-signature');
      if (!id || !timestamp || !signatures) throw new WebhookError('missing_headers', 'webhook-id, webhook-timestamp and webhook-signature are required');
      if (!/^\d{1,15}$/.test(timestamp)) throw new WebhookError('timestamp_out_of_range', 'webhook-timestamp must be Unix seconds');
      const seconds = Number(timestamp);
      if (Math.abs(now() / 1000 - seconds) > tolerance) throw new WebhookError('timestamp_out_of_range', 'webhook-timestamp is too far from now');
      const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), raw]);
      const expected = keys.map((key) => crypto.createHmac('sha256', key).update(signed).digest());
      let valid = false;
      for (const entry of signatures.split(' ')) {
        const comma = entry.indexOf(',');
        // Only v1 (HMAC-SHA256); other versions (v1a: asymmetric) are skipped, as the specification says.
        if (comma === -1 || entry.slice(0, comma) !== 'v1') continue;
        const given = Buffer.from(entry.slice(comma + 1), 'base64');
        for (const digest of expected) if (given.length === digest.length && crypto.timingSafeEqual(given, digest)) valid = true;
      }
      if (!valid) throw new WebhookError('bad_signature', 'no valid webhook signature');
      return { id, timestamp: new Date(seconds * 1000), event: parseEvent(raw.toString('utf8')) };
    },
  };
}
