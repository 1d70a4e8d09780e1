import type { Database, Queryable } from '../shared/db/database.js';
import { isUuid } from '../shared/account-id.js';
import type { Jobs } from '../shared/jobs.js';
import type { AccountSessions, GrantSummary } from '../shared/sessions.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';
import { logoutJobs, noticesOf, type StoredSession } from './backchannel.js';

/** Sign-in state of accounts in the provider's storage (oidc_model), with back-channel logout to RPs as jobs. */
export class OidcSessions implements AccountSessions {
  /** `now` is the application's clock, also in SQL (a grant counts as expired by the same time everywhere). */
  constructor(
    private readonly db: Database,
    private readonly jobs: Jobs,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async endAll(accountId: string, { keepSessionUid }: { keepSessionUid?: string | undefined }, tx?: Queryable): Promise<void> {
    if (!tx) {
      await this.db.transaction((own) => this.endAll(accountId, { keepSessionUid }, own));
      return;
    }
    const { rows } = await tx.query<{ id: string; payload: StoredSession }>(
      `DELETE FROM oidc_model WHERE model = 'Session' AND account_id = $1 AND ($2::text IS NULL OR uid <> $2)
       RETURNING id, payload`,
      [accountId, keepSessionUid ?? null],
    );
    await tx.query(`DELETE FROM oidc_model WHERE account_id = $1 AND model <> 'Session'`, [accountId]);
    // A person's unit grants went with the statement above; their links go with them (no orphans, S-57).
    if (isUuid(accountId)) await tx.query('DELETE FROM grant_unit WHERE person_id = $1', [accountId]);
    await this.jobs.enqueue(tx, logoutJobs(noticesOf(rows.map((row) => ({ ...row.payload, accountId })))));
  }

  async listGrants(accountId: string): Promise<GrantSummary[]> {
    const { rows } = await this.db.query<{ id: string; payload: { clientId: string; iat?: number; openid?: { scope?: string }; resources?: Record<string, string> } }>(
      `SELECT id, payload FROM oidc_model WHERE model = 'Grant' AND account_id = $1 AND (expires_at IS NULL OR expires_at > $2)
       ORDER BY (payload->>'iat')::bigint DESC NULLS LAST`,
      [accountId, this.now()],
    );
    return rows
      .filter((row) => row.payload.clientId !== CONSOLE_CLIENT_ID)
      .map((row) => ({
        grantId: row.id,
        clientId: row.payload.clientId,
        scopes: [...new Set([...(row.payload.openid?.scope?.split(' ') ?? []), ...Object.values(row.payload.resources ?? {}).flatMap((scope) => scope.split(' '))])].filter(
          Boolean,
        ),
        createdAt: new Date((row.payload.iat ?? 0) * 1000),
      }));
  }

  async revokeGrant(accountId: string, grantId: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rowCount } = await tx.query("DELETE FROM oidc_model WHERE model = 'Grant' AND id = $1 AND account_id = $2", [grantId, accountId]);
      if (rowCount === 0) return false;
      await tx.query('DELETE FROM oidc_model WHERE grant_id = $1', [grantId]);
      await tx.query('DELETE FROM grant_unit WHERE grant_id = $1', [grantId]);
      return true;
    });
  }
}
