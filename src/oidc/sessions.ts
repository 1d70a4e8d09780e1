import type Provider from 'oidc-provider';
import type { Queryable } from '../shared/db/database.js';
import type { Logger } from '../shared/logger.js';
import type { AccountSessions, GrantSummary } from '../shared/sessions.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';
import { notifyBackchannel, type StoredSession } from './backchannel.js';


/** Sign-in state of accounts in the provider's storage (oidc_model), with back-channel logout to RPs. */
export class OidcSessions implements AccountSessions {
  #provider: Provider | undefined;

  constructor(private readonly db: Queryable, private readonly logger: Logger) {}

  /** The provider is built after the services that use this; it is attached once it exists. */
  attach(provider: Provider): void {
    this.#provider = provider;
  }

  async endAll(accountId: string, { keepSessionUid }: { keepSessionUid?: string | undefined }): Promise<void> {
    const { rows } = await this.db.query<{ id: string; payload: StoredSession }>(
      `DELETE FROM oidc_model WHERE model = 'Session' AND account_id = $1 AND ($2::text IS NULL OR uid <> $2)
       RETURNING id, payload`,
      [accountId, keepSessionUid ?? null],
    );
    await this.db.query(
      `DELETE FROM oidc_model WHERE account_id = $1 AND model <> 'Session'`,
      [accountId],
    );
    const notices = rows.flatMap(({ payload }) =>
      Object.entries(payload.authorizations ?? {}).flatMap(([clientId, { sid }]) => (sid ? [{ clientId, sub: accountId, sid }] : [])));
    await notifyBackchannel(this.#provider, notices, this.logger);
  }

  async listGrants(accountId: string): Promise<GrantSummary[]> {
    const { rows } = await this.db.query<{ id: string; payload: { clientId: string; iat?: number; openid?: { scope?: string }; resources?: Record<string, string> } }>(
      `SELECT id, payload FROM oidc_model WHERE model = 'Grant' AND account_id = $1 AND (expires_at IS NULL OR expires_at > now())
       ORDER BY (payload->>'iat')::bigint DESC NULLS LAST`,
      [accountId],
    );
    return rows.filter((row) => row.payload.clientId !== CONSOLE_CLIENT_ID).map((row) => ({
      grantId: row.id,
      clientId: row.payload.clientId,
      scopes: [...new Set([
        ...(row.payload.openid?.scope?.split(' ') ?? []),
        ...Object.values(row.payload.resources ?? {}).flatMap((scope) => scope.split(' ')),
      ])].filter(Boolean),
      createdAt: new Date((row.payload.iat ?? 0) * 1000),
    }));
  }

  async revokeGrant(accountId: string, grantId: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      "DELETE FROM oidc_model WHERE model = 'Grant' AND id = $1 AND account_id = $2",
      [grantId, accountId],
    );
    if (rowCount === 0) return false;
    await this.db.query('DELETE FROM oidc_model WHERE grant_id = $1', [grantId]);
    return true;
  }
}
