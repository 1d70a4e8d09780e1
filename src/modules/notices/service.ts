import crypto from 'node:crypto';
import type { Database, Queryable } from '../../shared/db/database.js';
import { DEFAULT_LOCALE, translate } from '../../shared/i18n/index.js';
import type { Notifier } from '../../shared/notifier/notifier.js';

export type NoticeKind = 'binding_invited' | 'binding_removed';

export interface Notice {
  id: string;
  kind: NoticeKind;
  unitId: string;
  unitName: string;
  bindingId: string;
  createdAt: Date;
  readAt: Date | null;
}

export interface NoticeEvent {
  personId: string;
  /** The person's mobile number, where the SMS goes. */
  mobile: string;
  kind: NoticeKind;
  unitId: string;
  unitName: string;
  bindingId: string;
}

interface Row {
  id: string;
  kind: NoticeKind;
  unit_id: string;
  unit_name: string;
  binding_id: string;
  created_at: Date;
  read_at: Date | null;
}

const fromRow = (row: Row): Notice => ({
  id: row.id,
  kind: row.kind,
  unitId: row.unit_id,
  unitName: row.unit_name,
  bindingId: row.binding_id,
  createdAt: new Date(row.created_at),
  readAt: row.read_at ? new Date(row.read_at) : null,
});

/**
 * Notices to people (issue 14): what a unit did to a person's binding. Each is a row for the account centre's list
 * (unread until the person marks it read) and an SMS through the notifier, both written in the transaction of the
 * change itself (S-56): no invitation or unbinding commits without its notice, and none is sent for a rolled-back
 * one. SMS go out in Chinese (the platform's language; no per-person language is kept).
 */
export class NoticeService {
  readonly #now: () => Date;

  constructor(private readonly deps: { db: Database; notifier: Notifier; now?: (() => Date) | undefined }) {
    this.#now = deps.now ?? (() => new Date());
  }

  async notify(tx: Queryable, event: NoticeEvent): Promise<void> {
    await tx.query(`INSERT INTO person_notice (id, person_id, kind, unit_id, binding_id, unit_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      crypto.randomUUID(),
      event.personId,
      event.kind,
      event.unitId,
      event.bindingId,
      event.unitName,
      this.#now(),
    ]);
    await this.deps.notifier.send(
      { channel: 'sms', to: event.mobile, template: `notice.${event.kind}`, body: translate(DEFAULT_LOCALE, `notice.sms.${event.kind}`, { unit: event.unitName }) },
      tx,
    );
  }

  /** The person's notices, newest first. */
  async list(personId: string, limit = 20): Promise<Notice[]> {
    const { rows } = await this.deps.db.query<Row>(
      'SELECT id, kind, unit_id, unit_name, binding_id, created_at, read_at FROM person_notice WHERE person_id = $1 ORDER BY created_at DESC, id LIMIT $2',
      [personId, limit],
    );
    return rows.map(fromRow);
  }

  /** Unread unbinding notices: why a unit a business system asks for is refused (the person's own bindings only). */
  async unreadRemovals(personId: string): Promise<Notice[]> {
    const { rows } = await this.deps.db.query<Row>(
      `SELECT id, kind, unit_id, unit_name, binding_id, created_at, read_at FROM person_notice
       WHERE person_id = $1 AND kind = 'binding_removed' AND read_at IS NULL ORDER BY created_at DESC LIMIT 20`,
      [personId],
    );
    return rows.map(fromRow);
  }

  /** Marks every unread notice of the person read; returns how many. */
  async markAllRead(personId: string): Promise<number> {
    const { rowCount } = await this.deps.db.query('UPDATE person_notice SET read_at = $2 WHERE person_id = $1 AND read_at IS NULL', [personId, this.#now()]);
    return rowCount ?? 0;
  }
}
