import type Provider from 'oidc-provider';
import type { Logger } from '../shared/logger.js';
import { metrics } from '../shared/metrics.js';

export interface LogoutNotice {
  clientId: string;
  sub: string;
  sid: string;
}

/** Session payload fields the revocations read (the library's Session model). */
export interface StoredSession {
  accountId?: string;
  authorizations?: Record<string, { sid?: string; grantId?: string }>;
}

/**
 * Sends back-channel logout tokens to the relying parties concerned; an RP that fails or hangs (the library's
 * request times out after 2.5 s) is logged and does not stop the others.
 */
export async function notifyBackchannel(provider: Provider | undefined, notices: LogoutNotice[], logger: Logger): Promise<void> {
  if (!provider || notices.length === 0) return;
  await Promise.all(notices.map(async ({ clientId, sub, sid }) => {
    const client = await provider.Client.find(clientId) as unknown as {
      backchannelLogoutUri?: string;
      backchannelLogout(sub: string, sid: string): Promise<void>;
    } | undefined;
    if (!client?.backchannelLogoutUri) return;
    try {
      await client.backchannelLogout(sub, sid);
      metrics.backchannelLogout(clientId, true);
    } catch (error) {
      metrics.backchannelLogout(clientId, false);
      logger.warn({ err: error, clientId }, 'back-channel logout failed');
    }
  }));
}
