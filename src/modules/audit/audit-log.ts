import type { Queryable } from '../../shared/db/database.js';

export type ActorType = 'person' | 'unit' | 'operator' | 'system' | 'anonymous';

export interface Actor {
  type: ActorType;
  id?: string | undefined;
}

/** Who, from where: attached to every audit entry of a request. */
export interface AuditContext {
  actor: Actor;
  actingUnitId?: string | undefined;
  ip?: string | undefined;
  requestId?: string | undefined;
}

export interface AuditEntry {
  action: string;
  outcome?: 'success' | 'failure';
  target?: { type: string; id: string } | undefined;
  detail?: Record<string, unknown>;
}

export interface AuditRecord {
  id: string;
  at: Date;
  action: string;
  outcome: 'success' | 'failure';
  actorType: ActorType;
  actorId: string | null;
  actingUnitId: string | null;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  requestId: string | null;
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  actorType?: ActorType | undefined;
  actorId?: string | undefined;
  actingUnitId?: string | undefined;
  targetId?: string | undefined;
  action?: string | undefined;
  /** Entries that concern this subject as actor or target. */
  subjectId?: string | undefined;
  before?: Date | undefined;
  /** Entries at or after this time. */
  since?: Date | undefined;
  limit?: number | undefined;
  /** Paging: entries to skip (newest first). */
  offset?: number | undefined;
}

interface Row {
  id: string;
  at: Date;
  action: string;
  outcome: 'success' | 'failure';
  actor_type: ActorType;
  actor_id: string | null;
  acting_unit_id: string | null;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  request_id: string | null;
  detail: Record<string, unknown>;
}

/** The append-only audit log (R-A1); the table refuses UPDATE and DELETE. */
export class AuditLog {
  constructor(private readonly db: Queryable, private readonly now: () => Date = () => new Date()) {}

  /** Writes one entry; pass the transaction so the entry commits (or not) with the change it records. */
  async record(context: AuditContext, entry: AuditEntry, tx: Queryable = this.db): Promise<void> {
    await tx.query(
      `INSERT INTO audit_event (at, action, outcome, actor_type, actor_id, acting_unit_id, target_type, target_id, ip, request_id, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)`,
      [
        this.now(), entry.action, entry.outcome ?? 'success', context.actor.type, context.actor.id ?? null,
        context.actingUnitId ?? null, entry.target?.type ?? null, entry.target?.id ?? null, context.ip ?? null,
        context.requestId ?? null, JSON.stringify(entry.detail ?? {}),
      ],
    );
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.actorType) add('actor_type = ?', filter.actorType);
    if (filter.actorId) add('actor_id = ?', filter.actorId);
    if (filter.actingUnitId) add('acting_unit_id = ?', filter.actingUnitId);
    if (filter.targetId) add('target_id = ?', filter.targetId);
    if (filter.action) add('action = ?', filter.action);
    if (filter.subjectId) {
      params.push(filter.subjectId);
      where.push(`(actor_id = $${params.length} OR target_id = $${params.length})`);
    }
    if (filter.before) add('at < ?', filter.before);
    if (filter.since) add('at >= ?', filter.since);
    params.push(Math.min(filter.limit ?? 100, 500));
    const limit = params.length;
    params.push(Math.max(0, Math.min(filter.offset ?? 0, 100_000)));
    const { rows } = await this.db.query<Row>(
      `SELECT id::text, at, action, outcome, actor_type, actor_id, acting_unit_id, target_type, target_id, ip, request_id, detail
       FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY at DESC, id DESC LIMIT $${limit} OFFSET $${params.length}`,
      params,
    );
    return rows.map((row) => ({
      id: row.id, at: row.at, action: row.action, outcome: row.outcome, actorType: row.actor_type, actorId: row.actor_id,
      actingUnitId: row.acting_unit_id, targetType: row.target_type, targetId: row.target_id, ip: row.ip,
      requestId: row.request_id, detail: row.detail,
    }));
  }
}
