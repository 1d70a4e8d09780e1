import type Provider from 'oidc-provider';
import type { NewJob } from '../shared/jobs.js';
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

export const BACKCHANNEL_LOGOUT_JOB = 'backchannel_logout';

/** One job per RP session to notify, written in the transaction of the revocation (S-56). */
export function logoutJobs(notices: LogoutNotice[]): NewJob[] {
  return notices.map(({ clientId, sub, sid }) => ({ kind: BACKCHANNEL_LOGOUT_JOB, payload: { clientId, sub, sid } }));
}

/** The RP sessions of stored sessions, optionally only those of some grants. */
export function noticesOf(sessions: StoredSession[], grantIds?: readonly string[]): LogoutNotice[] {
  const notices: LogoutNotice[] = [];
  for (const payload of sessions) {
    for (const [clientId, authorization] of Object.entries(payload.authorizations ?? {})) {
      if (grantIds && !(authorization.grantId && grantIds.includes(authorization.grantId))) continue;
      if (payload.accountId && authorization.sid) notices.push({ clientId, sub: payload.accountId, sid: authorization.sid });
    }
  }
  return notices;
}

/**
 * Delivers one back-channel logout job. Every instance builds its provider from the same keys and clients.json,
 * so whichever instance claims the job signs the same logout token. An RP without a back-channel URI needs
 * nothing; an RP that fails or hangs (the library times out after 2.5 s) fails the attempt, which is retried.
 */
export function backchannelLogoutHandler(provider: Provider) {
  return async (payload: Record<string, unknown>): Promise<void> => {
    const { clientId, sub, sid } = payload as unknown as LogoutNotice;
    const client = (await provider.Client.find(clientId)) as unknown as { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> } | undefined;
    if (!client?.backchannelLogoutUri) return;
    try {
      await client.backchannelLogout(sub, sid);
      metrics.backchannelLogout(clientId, true);
    } catch (error) {
      metrics.backchannelLogout(clientId, false);
      throw error;
    }
  };
}
