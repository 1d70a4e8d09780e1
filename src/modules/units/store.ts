import type { Queryable } from '../../shared/db/database.js';
import { isUuid } from '../../shared/account-id.js';
import { aliasedColumns, unaliased } from '../../shared/request-reads.js';
import type { CertType } from './certificates.js';
import { camelised } from '../../shared/db/rows.js';

export interface Unit {
  id: string;
  name: string;
  certType: CertType;
  certNo: string;
  loginName: string;
  verified: boolean;
  verifiedAt: Date | null;
  status: 'active' | 'disabled';
  registeredBy: string;
  createdAt: Date;
  updatedAt: Date;
  /** The unit requires a second factor of every handler acting for it (issue #18, `unit_mfa_policy`). */
  mfaRequired: boolean;
}

interface Row {
  id: string;
  name: string;
  cert_type: CertType;
  cert_no: string;
  login_name: string;
  verified_at: Date | null;
  status: 'active' | 'disabled';
  registered_by: string;
  created_at: Date;
  updated_at: Date;
  mfa_required: boolean;
}

// The unit's second-factor policy (issue #18) rides along in the same statement, so computing a person's access for
// a unit at every issuance costs no extra round trip (Q-P2; test/e2e/statements-per-request.test.ts).
const FIELDS = ['id', 'name', 'cert_type', 'cert_no', 'login_name', 'verified_at', 'status', 'registered_by', 'created_at', 'updated_at'] as const;
/** Whether the unit whose id is `alias`.`column` requires a second factor of its handlers (issue #18), as SQL. */
export const mfaRequiredSql = (alias: string, column = 'id') => `EXISTS (SELECT 1 FROM unit_mfa_policy mfa WHERE mfa.unit_id = ${alias}.${column})`;
const COLUMNS = `${FIELDS.join(', ')}, ${mfaRequiredSql('unit')} AS mfa_required`;

function toUnit(row: Row): Unit {
  return { ...camelised(row), verified: row.verified_at !== null };
}

/** A unit read by another module's statement that joins `unit` under `alias` (issue #15: the token lookup). */
export const unitJoin = {
  columns: (alias: string): string => aliasedColumns(alias, FIELDS, { mfa_required: mfaRequiredSql(alias) }),
  read: (row: Record<string, unknown>, alias: string): Unit | undefined => {
    const found = unaliased<Row>(row, alias, [...FIELDS, 'mfa_required']);
    return found && toUnit(found);
  },
};

export interface NewUnit {
  id: string;
  name: string;
  certType: CertType;
  certNo: string;
  loginName: string;
  passwordHash: string;
  registeredBy: string;
  at: Date;
}

export const unitStore = {
  async insert(db: Queryable, unit: NewUnit): Promise<void> {
    await db.query(
      `INSERT INTO unit (id, name, cert_type, cert_no, login_name, password_hash, password_changed_at, registered_by, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $8, $7, $8, $8)`,
      [unit.id, unit.name, unit.certType, unit.certNo, unit.loginName, unit.passwordHash, unit.registeredBy, unit.at],
    );
  },

  async byId(db: Queryable, id: string, lock = false): Promise<Unit | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM unit WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0] && toUnit(rows[0]);
  },

  async byIds(db: Queryable, ids: string[]): Promise<Unit[]> {
    const valid = ids.filter((id) => isUuid(id));
    if (valid.length === 0) return [];
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM unit WHERE id = ANY($1::uuid[])`, [valid]);
    return rows.map(toUnit);
  },

  async byCertificate(db: Queryable, certType: CertType, certNo: string): Promise<Unit | undefined> {
    const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM unit WHERE cert_type = $1 AND cert_no = $2`, [certType, certNo]);
    return rows[0] && toUnit(rows[0]);
  },

  /** Operator search by certificate number (any type), login name or exact name. */
  /**
   * The counter's search: exact matches of the certificate number, login name or name first, then units whose
   * name, certificate number or login name contain the text (from 2 characters; LIKE wildcards are escaped).
   * Without a text: the most recently registered units.
   */
  async search(db: Queryable, query: string, limit = 50): Promise<Unit[]> {
    if (!query) {
      const { rows } = await db.query<Row>(`SELECT ${COLUMNS} FROM unit ORDER BY created_at DESC LIMIT $1`, [limit]);
      return rows.map(toUnit);
    }
    const contains = [...query].length >= 2 ? `%${query.replace(/[\\%_]/g, (char) => `\\${char}`)}%` : null;
    const { rows } = await db.query<Row>(
      `SELECT ${COLUMNS} FROM unit WHERE cert_no = upper($1) OR replace(cert_no, '-', '') = upper($1)
         OR lower(login_name) = lower($1) OR name = $1
         OR ($2::text IS NOT NULL AND (name ILIKE $2 OR cert_no ILIKE $2 OR login_name ILIKE $2))
       ORDER BY (cert_no = upper($1) OR lower(login_name) = lower($1) OR name = $1) DESC, created_at DESC LIMIT $3`,
      [query, contains, limit],
    );
    return rows.map(toUnit);
  },

  async credentialsFor(db: Queryable, loginName: string): Promise<(Unit & { passwordHash: string }) | undefined> {
    const { rows } = await db.query<Row & { password_hash: string }>(`SELECT ${COLUMNS}, password_hash FROM unit WHERE lower(login_name) = lower($1)`, [loginName]);
    const row = rows[0];
    return row && { ...toUnit(row), passwordHash: row.password_hash };
  },

  async passwordHash(db: Queryable, id: string): Promise<string | undefined> {
    const { rows } = await db.query<{ password_hash: string }>('SELECT password_hash FROM unit WHERE id = $1', [id]);
    return rows[0]?.password_hash;
  },

  async loginNameTaken(db: Queryable, loginName: string): Promise<boolean> {
    const { rows } = await db.query('SELECT 1 FROM unit WHERE lower(login_name) = lower($1)', [loginName]);
    return rows.length > 0;
  },

  async setName(db: Queryable, id: string, name: string, at: Date): Promise<void> {
    await db.query('UPDATE unit SET name = $2, updated_at = $3 WHERE id = $1', [id, name, at]);
  },

  async addNameHistory(db: Queryable, id: string, oldName: string, newName: string, changedBy: string, at: Date): Promise<void> {
    await db.query('INSERT INTO unit_name_history (unit_id, old_name, new_name, changed_at, changed_by) VALUES ($1, $2, $3, $4, $5)', [id, oldName, newName, at, changedBy]);
  },

  async nameHistory(db: Queryable, id: string): Promise<{ oldName: string; newName: string; changedAt: Date }[]> {
    const { rows } = await db.query<{ old_name: string; new_name: string; changed_at: Date }>(
      'SELECT old_name, new_name, changed_at FROM unit_name_history WHERE unit_id = $1 ORDER BY changed_at DESC, id DESC',
      [id],
    );
    return rows.map((row) => ({ oldName: row.old_name, newName: row.new_name, changedAt: row.changed_at }));
  },

  async setPassword(db: Queryable, id: string, hash: string, at: Date): Promise<void> {
    await db.query('UPDATE unit SET password_hash = $2, password_changed_at = $3, updated_at = $3 WHERE id = $1', [id, hash, at]);
  },

  async markVerified(db: Queryable, id: string, by: string, at: Date): Promise<number> {
    const { rowCount } = await db.query('UPDATE unit SET verified_at = $3, verified_by = $2, updated_at = $3 WHERE id = $1 AND verified_at IS NULL', [id, by, at]);
    return rowCount;
  },

  async setStatus(db: Queryable, id: string, status: 'active' | 'disabled', at: Date): Promise<number> {
    const { rowCount } = await db.query('UPDATE unit SET status = $2, updated_at = $3 WHERE id = $1 AND status <> $2', [id, status, at]);
    return rowCount;
  },
};
