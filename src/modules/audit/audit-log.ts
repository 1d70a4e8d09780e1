import type { ActorType, AuditContext } from '../../shared/audit-context.js';
import type { Queryable } from '../../shared/db/database.js';
import { camelised } from '../../shared/db/rows.js';

export type { Actor, ActorType, AuditContext } from '../../shared/audit-context.js';

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

/** Filters of the paged audit query (management API): a time range, the outcome and a cursor. */
export interface AuditPageFilter extends Omit<AuditFilter, 'before' | 'limit'> {
  outcome?: 'success' | 'failure' | undefined;
  /** Entries at or after this time. */
  since?: Date | undefined;
  /** Entries before this time. */
  until?: Date | undefined;
}

export interface AuditPage {
  entries: AuditRecord[];
  /** Pass as `cursor` for the next (older) entries; absent on the last page. */
  nextCursor?: string;
}

/** Thrown for a cursor this log did not issue (the route answers 400). */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

/**
 * A keyset cursor: the position (time in microseconds, id) of the last entry of a page, so paging is stable while
 * new entries are appended and costs one index range scan at any depth (no OFFSET).
 */
function encodeCursor(microseconds: string, id: string): string {
  return Buffer.from(`${microseconds}.${id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): { microseconds: string; id: string } {
  const match = /^(\d{1,16})\.(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match?.[1] || !match[2] || encodeCursor(match[1], match[2]) !== cursor) throw new InvalidCursorError('invalid cursor');
  return { microseconds: match[1], id: match[2] };
}

interface Row {
  id: string;
  at_us?: string;
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
  constructor(
    private readonly db: Queryable,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Writes one entry; pass the transaction so the entry commits (or not) with the change it records. */
  async record(context: AuditContext, entry: AuditEntry, tx: Queryable = this.db): Promise<void> {
    await tx.query(
      `INSERT INTO audit_event (at, action, outcome, actor_type, actor_id, acting_unit_id, target_type, target_id, ip, request_id, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)`,
      [
        this.now(),
        entry.action,
        entry.outcome ?? 'success',
        context.actor.type,
        context.actor.id ?? null,
        context.actingUnitId ?? null,
        entry.target?.type ?? null,
        entry.target?.id ?? null,
        context.ip ?? null,
        context.requestId ?? null,
        JSON.stringify(entry.detail ?? {}),
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
    return rows.map(toRecord);
  }

  /**
   * One page of entries, newest first, after `cursor` (the `nextCursor` of the previous page). Throws
   * InvalidCursorError for a cursor that is not one of ours.
   */
  async page(filter: AuditPageFilter, limit: number, cursor?: string): Promise<AuditPage> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, ...values: unknown[]) => {
      let text = sql;
      for (const value of values) {
        params.push(value);
        text = text.replace('?', `$${params.length}`);
      }
      where.push(text);
    };
    if (filter.actorType) add('actor_type = ?', filter.actorType);
    if (filter.actorId) add('actor_id = ?', filter.actorId);
    if (filter.actingUnitId) add('acting_unit_id = ?', filter.actingUnitId);
    if (filter.targetId) add('target_id = ?', filter.targetId);
    if (filter.action) add('action = ?', filter.action);
    if (filter.outcome) add('outcome = ?', filter.outcome);
    if (filter.subjectId) add('(actor_id = ? OR target_id = ?)', filter.subjectId, filter.subjectId);
    if (filter.since) add('at >= ?', filter.since);
    if (filter.until) add('at < ?', filter.until);
    if (cursor !== undefined) {
      const position = decodeCursor(cursor);
      add("(at, id) < (timestamptz 'epoch' + ?::bigint * interval '1 microsecond', ?::bigint)", position.microseconds, position.id);
    }
    const size = Math.max(1, Math.min(limit, 500));
    params.push(size + 1);
    const { rows } = await this.db.query<Row>(
      `SELECT id::text, at, (extract(epoch FROM at) * 1000000)::bigint::text AS at_us, action, outcome, actor_type, actor_id,
              acting_unit_id, target_type, target_id, ip, request_id, detail
       FROM audit_event ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const entries = rows.slice(0, size);
    const last = entries[entries.length - 1];
    const page: AuditPage = { entries: entries.map(toRecord) };
    if (rows.length > size && last?.at_us) page.nextCursor = encodeCursor(last.at_us, last.id);
    return page;
  }

  /**
   * Every entry after `afterId` (exclusive) and within [since, until), oldest first, in pages of `pageSize`
   * (keyset on the id, so an export can resume where the last one stopped and never skips or repeats an entry).
   */
  async *export(options: { afterId?: string | undefined; since?: Date | undefined; until?: Date | undefined; pageSize?: number } = {}): AsyncGenerator<AuditRecord> {
    let after = options.afterId ?? '0';
    const size = options.pageSize ?? 1000;
    for (;;) {
      const { rows } = await this.db.query<Row>(
        `SELECT id::text, at, action, outcome, actor_type, actor_id, acting_unit_id, target_type, target_id, ip, request_id, detail
         FROM audit_event WHERE id > $1::bigint AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
         ORDER BY id LIMIT $4`,
        [after, options.since ?? null, options.until ?? null, size],
      );
      for (const row of rows) yield toRecord(row);
      if (rows.length < size) return;
      after = rows[rows.length - 1]!.id;
    }
  }
}

/** One JSON line of the SIEM export (`npm run admin -- audit:export`); field names are stable. */
export function auditJsonLine(record: AuditRecord): string {
  return JSON.stringify({
    id: record.id,
    at: record.at.toISOString(),
    action: record.action,
    outcome: record.outcome,
    actor: { type: record.actorType, id: record.actorId },
    actingUnitId: record.actingUnitId,
    target: record.targetType ? { type: record.targetType, id: record.targetId } : null,
    ip: record.ip,
    requestId: record.requestId,
    detail: record.detail,
  });
}

function toRecord(row: Row): AuditRecord {
  // `at_us` is the cursor's microseconds, not part of the record.
  const { at_us: _cursor, ...columns } = row;
  return camelised(columns);
}
