import type { Queryable } from '../../shared/db/database.js';
import { isUuid } from '../../shared/account-id.js';
import { sqlStates } from '../../shared/lifecycle.js';
import { aliasedColumns, unaliased } from '../../shared/request-reads.js';
import { REALNAME_TRANSITIONS, type RealnameStatus } from './realname-lifecycle.js';

export type { RealnameStatus } from './realname-lifecycle.js';

const SUBMIT = REALNAME_TRANSITIONS.submit;
/** Verify and reject both decide a pending submission. */
const DECIDABLE = sqlStates([...new Set([...REALNAME_TRANSITIONS.verify.from, ...REALNAME_TRANSITIONS.reject.from])]);

export interface Person {
  id: string;
  loginName: string;
  mobile: string;
  mobileVerified: boolean;
  realnameStatus: RealnameStatus;
  legalName: string | null;
  idNumberMasked: string | null;
  realnameSubmittedAt: Date | null;
  realnameDecidedAt: Date | null;
  realnameNote: string | null;
  status: 'active' | 'disabled';
  createdAt: Date;
  updatedAt: Date;
  passwordChangedAt: Date;
}

interface Row {
  id: string;
  login_name: string;
  mobile: string;
  mobile_verified_at: Date | null;
  realname_status: RealnameStatus;
  legal_name: string | null;
  id_number_masked: string | null;
  realname_submitted_at: Date | null;
  realname_decided_at: Date | null;
  realname_note: string | null;
  status: 'active' | 'disabled';
  created_at: Date;
  updated_at: Date;
  password_changed_at: Date;
}

const FIELDS = [
  'id',
  'login_name',
  'mobile',
  'mobile_verified_at',
  'realname_status',
  'legal_name',
  'id_number_masked',
  'realname_submitted_at',
  'realname_decided_at',
  'realname_note',
  'status',
  'created_at',
  'updated_at',
  'password_changed_at',
] as const;
const COLUMNS = FIELDS.join(', ');

function toPerson(row: Row): Person {
  return {
    id: row.id,
    loginName: row.login_name,
    mobile: row.mobile,
    mobileVerified: row.mobile_verified_at !== null,
    realnameStatus: row.realname_status,
    legalName: row.legal_name,
    idNumberMasked: row.id_number_masked,
    realnameSubmittedAt: row.realname_submitted_at,
    realnameDecidedAt: row.realname_decided_at,
    realnameNote: row.realname_note,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    passwordChangedAt: row.password_changed_at,
  };
}

/** A person read by another module's statement that joins `person` under `alias` (issue #15: the token lookup). */
export const personJoin = {
  columns: (alias: string): string => aliasedColumns(alias, FIELDS),
  read: (row: Record<string, unknown>, alias: string): Person | undefined => {
    const found = unaliased<Row>(row, alias, FIELDS);
    return found && toPerson(found);
  },
};

export interface NewPerson {
  id: string;
  loginName: string;
  passwordHash: string;
  mobile: string;
  at: Date;
}

/** SQL for persons; every function takes the connection or transaction to run on. */
export const personStore = {
  async insert(db: Queryable, person: NewPerson): Promise<void> {
    await db.query(
      `INSERT INTO person (id, login_name, password_hash, password_changed_at, mobile, mobile_verified_at, created_at, updated_at)
       VALUES ($1, $2, $3, $5, $4, $5, $5, $5)`,
      [person.id, person.loginName, person.passwordHash, person.mobile, person.at],
    );
  },

  async byId(db: Queryable, id: string): Promise<Person | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM person WHERE id = $1`, [id]);
    return rows[0] && toPerson(rows[0]);
  },

  async byIds(db: Queryable, ids: string[]): Promise<Person[]> {
    const valid = ids.filter((id) => isUuid(id));
    if (valid.length === 0) return [];
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM person WHERE id = ANY($1::uuid[])`, [valid]);
    return rows.map(toPerson);
  },

  /** By login name (case-insensitive) or mobile number, with the password hash for verification. */
  async credentialsFor(db: Queryable, account: string): Promise<(Person & { passwordHash: string }) | undefined> {
    const { rows } = await db.query<Row & { password_hash: string }>(`SELECT ${COLUMNS}, password_hash FROM person WHERE lower(login_name) = lower($1) OR mobile = $1 LIMIT 1`, [
      account,
    ]);
    const row = rows[0];
    return row && { ...toPerson(row), passwordHash: row.password_hash };
  },

  async passwordHash(db: Queryable, id: string): Promise<string | undefined> {
    const { rows } = await db.query<{ password_hash: string }>('SELECT password_hash FROM person WHERE id = $1', [id]);
    return rows[0]?.password_hash;
  },

  async byLoginNameOrMobile(db: Queryable, account: string): Promise<Person | undefined> {
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM person WHERE lower(login_name) = lower($1) OR mobile = $1 LIMIT 1`, [account]);
    return rows[0] && toPerson(rows[0]);
  },

  async loginNameTaken(db: Queryable, loginName: string): Promise<boolean> {
    const { rows } = await db.query('SELECT 1 FROM person WHERE lower(login_name) = lower($1)', [loginName]);
    return rows.length > 0;
  },

  async mobileTaken(db: Queryable, mobile: string): Promise<boolean> {
    const { rows } = await db.query('SELECT 1 FROM person WHERE mobile = $1', [mobile]);
    return rows.length > 0;
  },

  async setPassword(db: Queryable, id: string, hash: string, at: Date): Promise<void> {
    await db.query('UPDATE person SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1', [id, hash, at]);
  },

  async setMobile(db: Queryable, id: string, mobile: string, at: Date): Promise<void> {
    await db.query('UPDATE person SET mobile = $2, mobile_verified_at = $3, updated_at = $3 WHERE id = $1', [id, mobile, at]);
  },

  async submitRealname(db: Queryable, id: string, legalName: string, hmac: string, masked: string, at: Date): Promise<number> {
    const { rowCount } = await db.query(
      `UPDATE person SET realname_status = '${SUBMIT.to}', legal_name = $2, id_number_hmac = $3, id_number_masked = $4,
         realname_submitted_at = $5, realname_decided_at = NULL, realname_decided_by = NULL, realname_note = NULL, updated_at = $5
       WHERE id = $1 AND realname_status IN ${sqlStates(SUBMIT.from)}`,
      [id, legalName, hmac, masked, at],
    );
    return rowCount;
  },

  async idNumberHmac(db: Queryable, id: string): Promise<string | undefined> {
    const { rows } = await db.query<{ id_number_hmac: string | null }>('SELECT id_number_hmac FROM person WHERE id = $1', [id]);
    return rows[0]?.id_number_hmac ?? undefined;
  },

  /**
   * Decides a pending submission: by an operator (their id), or by the identity-verification service (null, and
   * only the submission made at `submittedAt`, so a job never decides a later submission).
   */
  async decideRealname(db: Queryable, id: string, status: 'verified' | 'rejected', operatorId: string | null, note: string | null, at: Date, submittedAt?: Date): Promise<number> {
    const { rowCount } = await db.query(
      `UPDATE person SET realname_status = $2, realname_decided_at = $4, realname_decided_by = $3, realname_note = $5, updated_at = $4
       WHERE id = $1 AND realname_status IN ${DECIDABLE} AND ($6::timestamptz IS NULL OR realname_submitted_at = $6)`,
      [id, status, operatorId, at, note, submittedAt ?? null],
    );
    return rowCount;
  },

  async setStatus(db: Queryable, id: string, status: 'active' | 'disabled', at: Date): Promise<number> {
    const { rowCount } = await db.query('UPDATE person SET status = $2, updated_at = $3 WHERE id = $1 AND status <> $2', [id, status, at]);
    return rowCount;
  },

  /** Operator search: exact login name or mobile, or persons waiting for real-name verification. */
  async search(db: Queryable, query: string | undefined, limit = 50): Promise<Person[]> {
    if (query) {
      const { rows } = await db.query<Row>(
        `SELECT ${COLUMNS} FROM person WHERE lower(login_name) = lower($1) OR mobile = $1 OR legal_name = $1
           OR ($2::text IS NOT NULL AND (legal_name ILIKE $2 OR login_name ILIKE $2))
         ORDER BY (lower(login_name) = lower($1) OR mobile = $1 OR legal_name = $1) DESC, created_at DESC LIMIT $3`,
        // Exact matches first, then names and login names containing the text (LIKE wildcards escaped).
        [query, [...query].length >= 2 ? `%${query.replace(/[\\%_]/g, (char) => `\\${char}`)}%` : null, limit],
      );
      return rows.map(toPerson);
    }
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM person WHERE realname_status IN ${DECIDABLE} ORDER BY realname_submitted_at LIMIT $1`, [limit]);
    return rows.map(toPerson);
  },
};
