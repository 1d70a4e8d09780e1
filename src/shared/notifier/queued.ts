import type { Database, Queryable } from '../db/database.js';
import { AppError } from '../errors.js';
import type { Jobs } from '../jobs.js';
import type { Channel, Notification, Notifier, OutboxMessage } from './notifier.js';

export const NOTIFICATION_JOB = 'notification';
export const DECOY_JOB = 'notification_decoy';

/**
 * What services send through (S-56): a message is a job written in the caller's transaction, or in one of its
 * own, and delivered by the job worker through `delivery` (the SMS gateway, SMTP or the development outbox) with
 * retries. No request waits for a gateway, so a slow or failing gateway never holds a database connection
 * and a real send costs the request what a decoy costs (see `decoy`).
 */
export class QueuedNotifier implements Notifier {
  constructor(
    private readonly jobs: Jobs,
    private readonly db: Database,
    private readonly delivery: Notifier & { supports?(channel: Channel): boolean },
  ) {}

  supports(channel: Channel): boolean {
    return this.delivery.supports?.(channel) ?? true;
  }

  async send(notification: Notification, tx?: Queryable): Promise<void> {
    if (!this.supports(notification.channel)) throw new AppError('notifier_unavailable');
    if (!tx) return this.db.transaction((own) => this.send(notification, own));
    await this.jobs.enqueue(tx, { kind: NOTIFICATION_JOB, payload: { ...notification } });
  }

  /** The stand-in of a send to nobody (S-22): the same write in the request, a job the worker drops. */
  async decoy(tx?: Queryable): Promise<void> {
    if (!tx) return this.db.transaction((own) => this.decoy(own));
    await this.jobs.enqueue(tx, { kind: DECOY_JOB, payload: {} });
  }

  /** What the delivery wrote to the development outbox, newest first (nothing when it keeps none). */
  async outbox(limit: number): Promise<OutboxMessage[]> {
    return this.delivery.outbox ? this.delivery.outbox(limit) : [];
  }

  /** The job handler: the actual delivery. */
  handler() {
    return (payload: Record<string, unknown>) => this.delivery.send(payload as unknown as Notification);
  }
}
