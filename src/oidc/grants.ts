import type { KoaContextWithOIDC, Grant } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import type { Services } from '../services.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';
import { unitForAuthorization } from './unit-selection.js';

/**
 * Loads the grant for this authorization. A grant belongs to (client, person, unit): the session's grant for
 * the client is reused only when it is for the same unit (or for none), otherwise the grant of that unit or a
 * new one is used, so switching unit never reuses another unit's grant. For a first-party client the requested
 * scopes are granted here (no consent page) and a new grant is linked to its unit at once.
 */
export function createLoadExistingGrant(services: Services, firstParty: (clientId: string) => boolean) {
  return async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const { oidc } = ctx;
    const clientId = oidc.client?.clientId;
    if (!clientId || !oidc.session || !oidc.account) return undefined;
    const person = parseAccountId(oidc.account.accountId);
    const unitId = person?.kind === 'person' && clientId !== CONSOLE_CLIENT_ID
      ? await unitForAuthorization(ctx, services)
      : null;
    // The unit is still to be chosen (the select_unit prompt comes first): no grant yet, so none is saved for a
    // choice that is then made differently and left behind (S-57: no orphan grants).
    if (unitId === undefined) return undefined;
    const consented = (oidc.result?.consent as { grantId?: string } | undefined)?.grantId;
    const candidate = consented ?? oidc.session.grantIdFor(clientId);
    let grant = candidate ? await oidc.provider.Grant.find(candidate) : undefined;
    if (grant && !consented) {
      const link = await services.unitGrants.forGrant(grant.jti);
      if ((link?.unitId ?? null) !== (unitId ?? null)) grant = undefined;
    }
    if (!grant && unitId && person) {
      const existing = await services.unitGrants.findGrant(clientId, person.id, unitId);
      grant = existing ? await oidc.provider.Grant.find(existing) : undefined;
    }
    if (!firstParty(clientId)) return grant;
    grant ??= new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId });
    const scopes = [...oidc.requestParamOIDCScopes];
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = [...oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
      const wanted = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
      if (wanted.length) grant.addResourceScope(indicator, wanted.join(' '));
    }
    const grantId = await grant.save();
    if (unitId && person) await services.unitGrants.link(grantId, clientId, person.id, unitId);
    return grant;
  };
}
