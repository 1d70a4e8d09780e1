import type { Queryable } from '../../shared/db/database.js';
import { isUuid } from '../../shared/account-id.js';
import { sqlStates } from '../../shared/lifecycle.js';
import { aliasedColumns, unaliased } from '../../shared/request-reads.js';
import { LIVE, TERMINAL, type BindingRole, type BindingStatus } from './lifecycle.js';
import { mfaRequiredSql, unitJoin, type Unit } from '../units/service.js';
import { camelised } from '../../shared/db/rows.js';

const LIVE_SQL = sqlStates(LIVE);

export interface Binding {
  id: string;
  unitId: string;
  personId: string;
  role: BindingRole;
  status: BindingStatus;
  /** Business scopes granted (`biz:<code>`); a contact has every business of the catalogue (see service). */
  scopes: string[];
  validFrom: Date | null;
  validUntil: Date | null;
  createdAt: Date;
  acceptedAt: Date | null;
  endedAt: Date | null;
}

interface Row {
  id: string;
  unit_id: string;
  person_id: string;
  role: BindingRole;
  status: BindingStatus;
  scopes: string[];
  valid_from: Date | null;
  valid_until: Date | null;
  created_at: Date;
  accepted_at: Date | null;
  ended_at: Date | null;
}

const FIELDS = ['id', 'unit_id', 'person_id', 'role', 'status', 'scopes', 'valid_from', 'valid_until', 'created_at', 'accepted_at', 'ended_at'] as const;
const COLUMNS = FIELDS.join(', ');

/** A live binding as the unit picker reads it, with the unit's fields it shows; `matches`: the search. */
export type PickerRow = Pick<Binding, 'id' | 'unitId' | 'role' | 'status' | 'scopes' | 'validFrom' | 'validUntil'> & {
  unit: Pick<Unit, 'id' | 'name' | 'certType' | 'certNo' | 'verified' | 'status' | 'mfaRequired'>;
  matches: boolean;
};

/** What the unit picker asks for one page (see `bindingStore.pickerPage`). */
export interface PickerAsk {
  /** The clock of the request: a binding is in force at this instant (`effectiveStatus`). */
  at: Date;
  /**
   * The business scopes asked for that count for a unit, by whether it is verified: those of the catalogue,
   * without the verified-only ones for an unverified unit (`accessOf`). No scope asked for: every unit serves.
   */
  counted: { verified: string[]; unverified: string[] };
  /** The search: a unit whose name or certificate number contains it, ASCII letters in either case. */
  query: string;
  /** How many of the matching units to return. */
  limit: number;
  /** Units returned wherever they rank and whether they match: the RP's hint, the acting unit, the one chosen. */
  pinned: string[];
}

/** A page of the picker and the counts of every choice (`total`), of those matching (`matching`), of invitations. */
export interface PickerPage {
  total: number;
  matching: number;
  pending: number;
  rows: PickerRow[];
}

/**
 * Lower case of the ASCII letters only, what PostgreSQL's `lower(… COLLATE "C")` does on every database: the
 * picker's search is the same rule in SQL and wherever else it is applied, whatever the server's locale.
 */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (letter) => letter.toLowerCase());
}

/** A picker row as PostgreSQL writes it in JSON: timestamps as ISO text. */
interface PickerRowJson extends Pick<Row, 'id' | 'unit_id' | 'role' | 'status' | 'scopes'> {
  valid_from: string | null;
  valid_until: string | null;
  name: string;
  cert_type: Unit['certType'];
  cert_no: string;
  verified: boolean;
  unit_status: Unit['status'];
  mfa_required: boolean;
  matches: boolean;
}

function toBinding(row: Row): Binding {
  return camelised(row);
}

/**
 * The live binding of a unit and a person, joined under `alias` by another module's statement (issue #15: the
 * token lookup): the condition that `bindingStore.live` applies, on the two SQL expressions given.
 */
export const liveBindingJoin = {
  on: (alias: string, unitId: string, personId: string): string => `${alias}.unit_id = ${unitId} AND ${alias}.person_id = ${personId} AND ${alias}.status IN ${LIVE_SQL}`,
  columns: (alias: string): string => aliasedColumns(alias, FIELDS),
  read: (row: Record<string, unknown>, alias: string): Binding | undefined => {
    const found = unaliased<Row>(row, alias, FIELDS);
    return found && toBinding(found);
  },
};

/** A binding as first stored: its fields known at creation, and when it was created. */
export type NewBinding = Pick<Binding, 'id' | 'unitId' | 'personId' | 'role' | 'status' | 'scopes' | 'validFrom' | 'validUntil'> & { at: Date };

export const bindingStore = {
  async insert(db: Queryable, binding: NewBinding): Promise<void> {
    await db.query(
      `INSERT INTO binding (id, unit_id, person_id, role, status, scopes, valid_from, valid_until, created_at, updated_at, accepted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, CASE WHEN $5 = 'active' THEN $9::timestamptz END)`,
      [binding.id, binding.unitId, binding.personId, binding.role, binding.status, binding.scopes, binding.validFrom, binding.validUntil, binding.at],
    );
  },

  /** A binding of this unit (every unit-side query is scoped by the unit, S-45). */
  async ofUnit(db: Queryable, unitId: string, id: string, lock = false): Promise<Binding | undefined> {
    if (!isUuid(id) || !isUuid(unitId)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM binding WHERE id = $1 AND unit_id = $2${lock ? ' FOR UPDATE' : ''}`, [id, unitId]);
    return rows[0] && toBinding(rows[0]);
  },

  /** A binding of this person (every person-side query is scoped by the person). */
  async ofPerson(db: Queryable, personId: string, id: string, lock = false): Promise<Binding | undefined> {
    if (!isUuid(id) || !isUuid(personId)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM binding WHERE id = $1 AND person_id = $2${lock ? ' FOR UPDATE' : ''}`, [id, personId]);
    return rows[0] && toBinding(rows[0]);
  },

  /** The unit's bindings, the contact first; `page` (limit, offset) cuts one page of them (issue #15, Q-P6). */
  async listForUnit(db: Queryable, unitId: string, includeEnded = false, page?: { limit: number; offset: number }): Promise<Binding[]> {
    if (!isUuid(unitId)) return [];
    const { rows } = await db.query<Row>(
      `SELECT ${COLUMNS} FROM binding WHERE unit_id = $1 ${includeEnded ? '' : `AND status IN ${LIVE_SQL}`}
       ORDER BY (role = 'contact') DESC, created_at, id${page ? ' LIMIT $2 OFFSET $3' : ''}`,
      page ? [unitId, page.limit, page.offset] : [unitId],
    );
    return rows.map(toBinding);
  },

  async listForPerson(db: Queryable, personId: string): Promise<Binding[]> {
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM binding WHERE person_id = $1 AND status IN ${LIVE_SQL} ORDER BY created_at`, [personId]);
    return rows.map(toBinding);
  },

  /**
   * One page of the unit picker (issue #15, Q-P6: a person bound to hundreds of units), ranked, counted and cut in
   * one statement that reads the person's bindings once: the units the person can act for now (binding in force, unit active), those that grant one of
   * the business scopes asked for first, then by how many they grant, then the unit chosen most recently, then the
   * oldest binding; of those matching the search the first `limit`, and the `pinned` units wherever they rank. Only
   * the page travels, as one JSON array; the counts are of every choice. The rules of the ranking are those of
   * `accessOf`, which the caller applies again to the rows it gets (see `PickerAsk`).
   */
  async pickerPage(db: Queryable, personId: string, ask: PickerAsk): Promise<PickerPage> {
    if (!isUuid(personId)) return { total: 0, matching: 0, pending: 0, rows: [] };
    const pinned = ask.pinned.filter(isUuid);
    const { rows } = await db.query<{ total: string; matching: string; pending: string; rows: PickerRowJson[] }>(
      `WITH mine AS (
         SELECT b.id, b.unit_id, b.role, b.status, b.scopes, b.valid_from, b.valid_until, b.last_selected_at, b.created_at,
                u.name, u.cert_type, u.cert_no, u.verified_at IS NOT NULL AS verified, u.status AS unit_status,
                (b.status = 'active' AND u.status = 'active' AND (b.valid_from IS NULL OR b.valid_from <= $2)
                  AND (b.valid_until IS NULL OR b.valid_until > $2)) AS choice,
                -- How many of the scopes asked for it grants; one scope asked for (the usual case) without a subquery.
                CASE WHEN cardinality($3::text[]) = 0 THEN 0
                     WHEN cardinality($3::text[]) = 1 THEN (b.scopes && CASE WHEN u.verified_at IS NOT NULL THEN $3::text[] ELSE $4::text[] END)::int
                     ELSE (SELECT count(*) FROM unnest(CASE WHEN u.verified_at IS NOT NULL THEN $3::text[] ELSE $4::text[] END) AS asked(scope)
                            WHERE asked.scope = ANY(b.scopes)) END AS granted,
                ($5 = '' OR strpos(lower(u.name COLLATE "C"), $5) > 0 OR strpos(lower(u.cert_no COLLATE "C"), $5) > 0) AS matches
           FROM binding b JOIN unit u ON u.id = b.unit_id
          WHERE b.person_id = $1 AND b.status IN ${LIVE_SQL}
       ), ranked AS (
         SELECT m.*, row_number() OVER (PARTITION BY m.choice AND m.matches
                  ORDER BY (cardinality($3::text[]) = 0 OR m.granted > 0) DESC, m.granted DESC,
                           m.last_selected_at DESC NULLS LAST, m.created_at, m.id) AS place
           FROM mine m
       )
       SELECT count(*) FILTER (WHERE r.choice) AS total, count(*) FILTER (WHERE r.choice AND r.matches) AS matching,
              count(*) FILTER (WHERE r.status = 'pending') AS pending,
              coalesce(json_agg(json_build_object(
                  'id', r.id, 'unit_id', r.unit_id, 'role', r.role, 'status', r.status, 'scopes', r.scopes,
                  'valid_from', r.valid_from, 'valid_until', r.valid_until, 'name', r.name, 'cert_type', r.cert_type,
                  'cert_no', r.cert_no, 'verified', r.verified, 'unit_status', r.unit_status,
                  'mfa_required', ${mfaRequiredSql('r', 'unit_id')}, 'matches', r.matches)
                ORDER BY r.matches DESC, r.place) FILTER (WHERE r.choice AND ((r.matches AND r.place <= $6) OR r.unit_id = ANY($7::uuid[]))), '[]') AS rows
         FROM ranked r`,
      [personId, ask.at, ask.counted.verified, ask.counted.unverified, asciiLower(ask.query), ask.limit, pinned],
    );
    const row = rows[0];
    return {
      total: Number(row?.total ?? 0),
      matching: Number(row?.matching ?? 0),
      pending: Number(row?.pending ?? 0),
      rows: (row?.rows ?? []).map((entry) => ({
        id: entry.id,
        unitId: entry.unit_id,
        role: entry.role,
        status: entry.status,
        scopes: entry.scopes,
        validFrom: entry.valid_from === null ? null : new Date(entry.valid_from),
        validUntil: entry.valid_until === null ? null : new Date(entry.valid_until),
        matches: entry.matches,
        unit: {
          id: entry.unit_id,
          name: entry.name,
          certType: entry.cert_type,
          certNo: entry.cert_no,
          verified: entry.verified,
          status: entry.unit_status,
          mfaRequired: entry.mfa_required,
        },
      })),
    };
  },

  /** The person chose this unit in the picker now (its order there, issue #15 Q-P6). */
  async markSelected(db: Queryable, personId: string, unitId: string, at: Date): Promise<void> {
    await db.query(`UPDATE binding SET last_selected_at = $3 WHERE unit_id = $1 AND person_id = $2 AND status IN ${LIVE_SQL}`, [unitId, personId, at]);
  },

  /**
   * The unit with the person's live binding for it, in one statement (issue #15, Q-P1: a unit is chosen, a code
   * issued): what `live` and the unit's own lookup read, the binding undefined when there is none.
   */
  async liveWithUnit(db: Queryable, unitId: string, personId: string): Promise<{ unit: Unit | undefined; binding: Binding | undefined }> {
    if (!isUuid(unitId) || !isUuid(personId)) return { unit: undefined, binding: undefined };
    const { rows } = await db.query<Record<string, unknown>>(
      `SELECT ${unitJoin.columns('u')}, ${liveBindingJoin.columns('b')}
       FROM unit u LEFT JOIN binding b ON ${liveBindingJoin.on('b', 'u.id', '$2::uuid')} WHERE u.id = $1`,
      [unitId, personId],
    );
    const row = rows[0];
    return { unit: row && unitJoin.read(row, 'u'), binding: row && liveBindingJoin.read(row, 'b') };
  },

  async live(db: Queryable, unitId: string, personId: string): Promise<Binding | undefined> {
    if (!isUuid(unitId) || !isUuid(personId)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM binding WHERE unit_id = $1 AND person_id = $2 AND status IN ${LIVE_SQL}`, [unitId, personId]);
    return rows[0] && toBinding(rows[0]);
  },

  async contactOf(db: Queryable, unitId: string, lock = false): Promise<Binding | undefined> {
    if (!isUuid(unitId)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM binding WHERE unit_id = $1 AND role = 'contact' AND status = 'active'${lock ? ' FOR UPDATE' : ''}`, [unitId]);
    return rows[0] && toBinding(rows[0]);
  },

  async setStatus(db: Queryable, id: string, from: readonly BindingStatus[], to: BindingStatus, at: Date): Promise<number> {
    const { rowCount } = await db.query(
      `UPDATE binding SET status = $3, updated_at = $4,
         accepted_at = CASE WHEN $3 = 'active' THEN $4::timestamptz ELSE accepted_at END,
         ended_at = CASE WHEN $3 IN ${sqlStates(TERMINAL)} THEN $4::timestamptz ELSE ended_at END
       WHERE id = $1 AND status = ANY($2::text[])`,
      [id, [...from], to, at],
    );
    return rowCount;
  },

  async setScopes(db: Queryable, id: string, scopes: string[], validFrom: Date | null, validUntil: Date | null, at: Date): Promise<void> {
    // A new validity period re-arms the expiry sweep (R-B6): the binding is processed again when it ends.
    await db.query(
      `UPDATE binding SET scopes = $2, valid_from = $3, valid_until = $4, updated_at = $5,
         expiry_processed_at = CASE WHEN valid_until IS DISTINCT FROM $4 THEN NULL ELSE expiry_processed_at END
       WHERE id = $1`,
      [id, scopes, validFrom, validUntil, at],
    );
  },

  /** A contact's binding never expires (the unit must always have a way back in), so promotion clears validity. */
  async setRole(db: Queryable, id: string, role: 'handler' | 'contact', scopes: string[], at: Date): Promise<void> {
    await db.query(
      `UPDATE binding SET role = $2, scopes = $3, updated_at = $4,
         expiry_processed_at = CASE WHEN $2 = 'contact' THEN NULL ELSE expiry_processed_at END,
         valid_from = CASE WHEN $2 = 'contact' THEN NULL ELSE valid_from END,
         valid_until = CASE WHEN $2 = 'contact' THEN NULL ELSE valid_until END
       WHERE id = $1`,
      [id, role, scopes, at],
    );
  },
};
