import crypto from 'node:crypto';
import type { Queryable } from '../db/database.js';
import type { Logger } from '../logger.js';

export type Channel = 'sms' | 'email';

export interface Notification {
  channel: Channel;
  /** Mobile number (11 digits) or e-mail address. */
  to: string;
  /** Template name, kept with the message for the record. */
  template: string;
  /** The rendered text in the recipient's language. */
  body: string;
  subject?: string;
}

/** The outside world: SMS and e-mail. Tests and development read what was sent from the outbox. */
export interface Notifier {
  /**
   * Sends one message. `tx`: the caller's transaction, when the message is the last step of one (the outbox then
   * writes in it, so it needs no second connection and disappears if the transaction rolls back).
   */
  send(notification: Notification, tx?: Queryable): Promise<void>;
  /** The newest messages of the development outbox, for notifiers that keep one (none in production). */
  outbox?(limit: number): Promise<OutboxMessage[]>;
}

/** Masks all but the last four characters of a mobile number or the domain of an e-mail, for logs. */
export function maskRecipient(to: string): string {
  const at = to.indexOf('@');
  if (at > 0) return `${to.slice(0, 1)}***${to.slice(at)}`;
  return `${to.slice(0, 3)}****${to.slice(-4)}`;
}

/**
 * Development notifier: every message goes to the `notification_outbox` table (readable in the operator console
 * outside production) and the log. Production deployments configure a real SMS gateway and SMTP server.
 */
export class OutboxNotifier implements Notifier {
  constructor(
    private readonly db: Queryable,
    private readonly logger: Logger,
    private readonly logBodies: boolean,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async send(notification: Notification, tx: Queryable = this.db): Promise<void> {
    const at = this.now();
    await tx.query(
      `INSERT INTO notification_outbox (id, channel, recipient, template, body, created_at, sent_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6)`,
      [crypto.randomUUID(), notification.channel, notification.to, notification.template, notification.body, at],
    );
    this.logger.info(
      {
        channel: notification.channel,
        to: this.logBodies ? notification.to : maskRecipient(notification.to),
        template: notification.template,
        ...(this.logBodies ? { body: notification.body } : {}),
      },
      'notification (outbox)',
    );
  }

  outbox(limit: number): Promise<OutboxMessage[]> {
    return listOutbox(this.db, limit);
  }
}

export interface OutboxMessage {
  channel: string;
  recipient: string;
  body: string;
  createdAt: Date;
}

/** The newest messages of the development outbox (what the SMS gateway or SMTP server would have sent). */
export async function listOutbox(db: Queryable, limit = 50): Promise<OutboxMessage[]> {
  const { rows } = await db.query<{ channel: string; recipient: string; body: string; created_at: Date }>(
    'SELECT channel, recipient, body, created_at FROM notification_outbox ORDER BY created_at DESC LIMIT $1',
    [limit],
  );
  return rows.map((row) => ({ channel: row.channel, recipient: row.recipient, body: row.body, createdAt: row.created_at }));
}
