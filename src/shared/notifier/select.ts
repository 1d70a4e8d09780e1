import type { AppConfig } from '../../config/env.js';
import { ConfigError } from '../../config/env.js';
import type { Queryable } from '../db/database.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { HttpSmsNotifier } from './http-sms.js';
import { OutboxNotifier, type Channel, type Notification, type Notifier, type OutboxMessage } from './notifier.js';
import { SmtpNotifier } from './smtp.js';

/** Sends each notification through the notifier of its channel; a channel without one is refused (503). */
export class ChannelNotifier implements Notifier {
  constructor(private readonly channels: Partial<Record<Channel, Notifier>>) {}

  supports(channel: Channel): boolean {
    return this.channels[channel] !== undefined;
  }

  async send(notification: Notification, tx?: Queryable): Promise<void> {
    const target = this.channels[notification.channel];
    if (!target) throw new AppError('notifier_unavailable');
    await target.send(notification, tx);
  }

  /** The development outbox, when a channel writes to it (the SMS and e-mail channels share one). */
  async outbox(limit: number): Promise<OutboxMessage[]> {
    const outbox = Object.values(this.channels).find((channel) => channel?.outbox);
    return outbox?.outbox ? outbox.outbox(limit) : [];
  }
}

/** Whether a notifier can send on a channel (an injected notifier of tests is taken to send everything). */
export function supportsChannel(notifier: Notifier & { supports?(channel: Channel): boolean }, channel: Channel): boolean {
  return notifier.supports?.(channel) ?? true;
}

/**
 * The notifier of the configuration, per channel (PRODUCT.md §8): the HTTP SMS gateway and SMTP when configured,
 * otherwise the development outbox. Production has no outbox: without an SMS gateway (one-time codes go by SMS)
 * the start is refused; without SMTP, e-mail is unavailable (appeals then ask for a mobile number).
 */
export function createNotifier(config: AppConfig, db: Queryable, logger: Logger, now: () => Date): ChannelNotifier {
  const production = config.mode === 'production';
  if (production && !config.smsGateway) {
    throw new ConfigError('SMS_GATEWAY_URL must be set in production (one-time codes are sent by SMS; the development outbox is not available)');
  }
  const outbox = production ? undefined : new OutboxNotifier(db, logger, true, now);
  const sms = config.smsGateway ? new HttpSmsNotifier({ ...config.smsGateway, logger }) : outbox;
  const email = config.smtp ? new SmtpNotifier({ ...config.smtp, logger }) : outbox;
  return new ChannelNotifier({ sms, email });
}
