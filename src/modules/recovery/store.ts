import type { Queryable } from '../../shared/db/database.js';
import { isUuid } from '../../shared/account-id.js';
import type { Channel } from '../../shared/notifier/notifier.js';
import type { Locale } from '../../shared/i18n/index.js';
import type { CertType } from '../units/certificates.js';

/** What the common-contact path needs to know about a certificate, read in one statement whatever the outcome. */
export interface RecoveryTarget {
  unitId: string;
  loginName: string;
  verified: boolean;
  unitActive: boolean;
  /** The active common contact's mobile, when the contact is active and the number verified. */
  contactMobile: string | undefined;
}

/** `takeover`: the real unit takes over an unverified unit registered with its certificate by someone else. */
export type AppealKind = 'account' | 'password' | 'takeover';
import { APPEAL_TRANSITIONS, type AppealStatus } from './appeal-lifecycle.js';
import { sqlStates } from '../../shared/lifecycle.js';
import { camelised } from '../../shared/db/rows.js';

export type { AppealStatus } from './appeal-lifecycle.js';

export interface Appeal {
  id: string;
  reference: string;
  kind: AppealKind;
  certType: CertType;
  certNo: string;
  unitId: string | null;
  applicantName: string;
  /** The applicant's own person account as typed (kind `takeover` only), resolved when the operator decides. */
  applicantAccount: string | null;
  contactChannel: Channel;
  contact: string;
  locale: Locale;
  status: AppealStatus;
  createdAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  decisionNote: string | null;
  linkExpiresAt: Date | null;
  linkUsedAt: Date | null;
}

export interface AppealDocumentInfo {
  id: string;
  seq: number;
  filename: string;
  contentType: string;
  size: number;
  sha256: string;
}

interface AppealRow {
  id: string;
  reference: string;
  kind: AppealKind;
  cert_type: CertType;
  cert_no: string;
  unit_id: string | null;
  applicant_name: string;
  applicant_account: string | null;
  contact_channel: Channel;
  contact: string;
  locale: Locale;
  status: AppealStatus;
  created_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  decision_note: string | null;
  link_expires_at: Date | null;
  link_used_at: Date | null;
}

const COLUMNS = `id, reference, kind, cert_type, cert_no, unit_id, applicant_name, applicant_account, contact_channel, contact, locale, status,
  created_at, decided_at, decided_by, decision_note, link_expires_at, link_used_at`;

function toAppeal(row: AppealRow): Appeal {
  return camelised(row);
}

/** An appeal as filed: its fields known at filing (the applicant's account only for a takeover), where from and when. */
export type NewAppeal = Pick<Appeal, 'id' | 'reference' | 'kind' | 'certType' | 'certNo' | 'unitId' | 'applicantName' | 'contactChannel' | 'contact' | 'locale'> & {
  applicantAccount?: string | null;
  ip: string | null;
  at: Date;
};

export interface NewDocument extends AppealDocumentInfo {
  content: Buffer;
}

/** Approve and reject both start from the same states (a decision is made once). */
const DECIDABLE = sqlStates([...new Set([...APPEAL_TRANSITIONS.approve.from, ...APPEAL_TRANSITIONS.reject.from])]);

/** SQL of recovery and appeals; every function takes the connection or transaction to run on. */
export const recoveryStore = {
  async target(db: Queryable, certType: CertType, certNo: string): Promise<RecoveryTarget | undefined> {
    const { rows } = await db.query<{
      id: string;
      login_name: string;
      verified_at: Date | null;
      status: string;
      mobile: string | null;
      mobile_verified_at: Date | null;
      person_status: string | null;
    }>(
      `SELECT u.id, u.login_name, u.verified_at, u.status, p.mobile, p.mobile_verified_at, p.status AS person_status
       FROM unit u
       LEFT JOIN binding b ON b.unit_id = u.id AND b.role = 'contact' AND b.status = 'active'
       LEFT JOIN person p ON p.id = b.person_id
       WHERE u.cert_type = $1 AND u.cert_no = $2`,
      [certType, certNo],
    );
    const row = rows[0];
    if (!row) return undefined;
    const reachable = row.mobile && row.mobile_verified_at && row.person_status === 'active';
    return {
      unitId: row.id,
      loginName: row.login_name,
      verified: row.verified_at !== null,
      unitActive: row.status === 'active',
      contactMobile: reachable ? row.mobile! : undefined,
    };
  },

  async insertAppeal(db: Queryable, appeal: NewAppeal): Promise<void> {
    await db.query(
      `INSERT INTO appeal (id, reference, kind, cert_type, cert_no, unit_id, applicant_name, contact_channel, contact, locale, submitted_ip, created_at, applicant_account)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [
        appeal.id,
        appeal.reference,
        appeal.kind,
        appeal.certType,
        appeal.certNo,
        appeal.unitId,
        appeal.applicantName,
        appeal.contactChannel,
        appeal.contact,
        appeal.locale,
        appeal.ip,
        appeal.at,
        appeal.applicantAccount ?? null,
      ],
    );
  },

  async insertDocument(db: Queryable, appealId: string, document: NewDocument, at: Date): Promise<void> {
    await db.query(
      `INSERT INTO appeal_document (id, appeal_id, seq, filename, content_type, size, sha256, content, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [document.id, appealId, document.seq, document.filename, document.contentType, document.size, document.sha256, document.content, at],
    );
  },

  async byId(db: Queryable, id: string, lock = false): Promise<Appeal | undefined> {
    if (!isUuid(id)) return undefined;
    const { rows } = await db.query<AppealRow>(`SELECT ${COLUMNS} FROM appeal WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
    return rows[0] && toAppeal(rows[0]);
  },

  async byReference(db: Queryable, reference: string): Promise<Appeal | undefined> {
    const { rows } = await db.query<AppealRow>(`SELECT ${COLUMNS} FROM appeal WHERE reference = $1`, [reference]);
    return rows[0] && toAppeal(rows[0]);
  },

  async byLink(db: Queryable, linkHmac: string, lock = false): Promise<Appeal | undefined> {
    const { rows } = await db.query<AppealRow>(`SELECT ${COLUMNS} FROM appeal WHERE link_hmac = $1${lock ? ' FOR UPDATE' : ''}`, [linkHmac]);
    return rows[0] && toAppeal(rows[0]);
  },

  async list(db: Queryable, status: AppealStatus | undefined, limit = 100): Promise<Appeal[]> {
    const { rows } = status
      ? await db.query<AppealRow>(`SELECT ${COLUMNS} FROM appeal WHERE status = $1 ORDER BY created_at LIMIT $2`, [status, limit])
      : await db.query<AppealRow>(`SELECT ${COLUMNS} FROM appeal ORDER BY created_at DESC LIMIT $1`, [limit]);
    return rows.map(toAppeal);
  },

  /** The appeals filed for one unit (matched at filing), newest first. */
  async forUnit(db: Queryable, unitId: string, limit = 100): Promise<Appeal[]> {
    const { rows } = await db.query<AppealRow>(`SELECT ${COLUMNS} FROM appeal WHERE unit_id = $1 ORDER BY created_at DESC LIMIT $2`, [unitId, limit]);
    return rows.map(toAppeal);
  },

  async documents(db: Queryable, appealId: string): Promise<AppealDocumentInfo[]> {
    const { rows } = await db.query<{ id: string; seq: number; filename: string; content_type: string; size: number; sha256: string }>(
      'SELECT id, seq, filename, content_type, size, sha256 FROM appeal_document WHERE appeal_id = $1 ORDER BY seq',
      [appealId],
    );
    return rows.map((row) => ({ id: row.id, seq: row.seq, filename: row.filename, contentType: row.content_type, size: row.size, sha256: row.sha256 }));
  },

  async documentContent(db: Queryable, appealId: string, documentId: string): Promise<(AppealDocumentInfo & { content: Buffer }) | undefined> {
    if (!isUuid(appealId) || !isUuid(documentId)) return undefined;
    const { rows } = await db.query<{ id: string; seq: number; filename: string; content_type: string; size: number; sha256: string; content: Buffer }>(
      'SELECT id, seq, filename, content_type, size, sha256, content FROM appeal_document WHERE appeal_id = $1 AND id = $2',
      [appealId, documentId],
    );
    const row = rows[0];
    return row && { id: row.id, seq: row.seq, filename: row.filename, contentType: row.content_type, size: row.size, sha256: row.sha256, content: row.content };
  },

  /** pending → approved | rejected; returns the rows changed (0: not pending any more). */
  async decide(
    db: Queryable,
    id: string,
    decision: { status: 'approved' | 'rejected'; operatorId: string; note: string | null; linkHmac: string | null; linkExpiresAt: Date | null; at: Date },
  ): Promise<number> {
    const { rowCount } = await db.query(
      `UPDATE appeal SET status = $2, decided_by = $3, decision_note = $4, link_hmac = $5, link_expires_at = $6, decided_at = $7
       WHERE id = $1 AND status IN ${DECIDABLE}`,
      [id, decision.status, decision.operatorId, decision.note, decision.linkHmac, decision.linkExpiresAt, decision.at],
    );
    return rowCount;
  },

  /** approved → completed, once, while the link is valid; returns the rows changed. */
  async useLink(db: Queryable, id: string, at: Date): Promise<number> {
    const { rowCount } = await db.query(
      `UPDATE appeal SET status = '${APPEAL_TRANSITIONS.complete.to}', link_used_at = $2
       WHERE id = $1 AND status IN ${sqlStates(APPEAL_TRANSITIONS.complete.from)} AND link_used_at IS NULL AND link_expires_at > $2`,
      [id, at],
    );
    return rowCount;
  },
};
