import type { KoaContextWithOIDC, Grant } from 'oidc-provider';

/**
 * Loads the grant of this client in the session. For a first-party client (clients.json `first_party`, and the
 * provider's own console) the requested scopes are granted here, so no consent page is shown; other clients
 * get the consent prompt for whatever the grant lacks.
 */
export function createLoadExistingGrant(firstParty: (clientId: string) => boolean) {
  return async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const { oidc } = ctx;
    const clientId = oidc.client?.clientId;
    if (!clientId || !oidc.session) return undefined;
    const grantId = (oidc.result?.consent as { grantId?: string } | undefined)?.grantId ?? oidc.session.grantIdFor(clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    if (!firstParty(clientId) || !oidc.account) return grant;
    grant ??= new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId });
    const scopes = [...oidc.requestParamOIDCScopes];
    if (scopes.length) grant.addOIDCScope(scopes.join(' '));
    const claims = [...oidc.requestParamClaims];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
      const wanted = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
      if (wanted.length) grant.addResourceScope(indicator, wanted.join(' '));
    }
    await grant.save();
    return grant;
  };
}
