import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isBusinessScope } from '../modules/bindings/access.js';

/**
 * Every write of ours to objects that node-oidc-provider owns, in one file (issue #13). Each one relies on a
 * behaviour of the library that its configuration does not promise; the comment on each names it, so that an
 * upgrade of the library knows what to re-check.
 */

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/**
 * Records `result` in the interaction and saves it for the rest of its lifetime: what the library's
 * `interactionResult` does, on the interaction this request already loaded (no second read). Relies on the
 * library reading `interaction.result` when the browser comes back to the authorization endpoint (its resume
 * step), and on `Interaction#save(ttl)` keeping the record for `ttl` seconds.
 */
export async function saveInteractionResult(interaction: Interaction, result: Record<string, unknown>): Promise<void> {
  interaction.result = result;
  await interaction.save(Math.max(1, (interaction.exp ?? 0) - Math.floor(Date.now() / 1000)));
}

/**
 * At the token endpoint the grant loaded for this issuance loses, in memory, the business scopes the unit does
 * not grant now; the access token's `scope`, the token response and the ID token follow (C-T3, S-42). The
 * stored grant keeps what was consented, so a scope comes back once it is allowed again (e.g. after the unit is
 * verified). Relies on the order of the library's token issuance (helpers/grant_common.js `issueTokens`): the
 * grant is loaded into `ctx.oidc.entities.Grant` first, then `findAccount` runs, and only then are the access
 * token's and the ID token's scopes filtered through that same in-memory grant (`getOIDCScopeFiltered`,
 * `getResourceScopeFiltered`) without saving it. No configuration hook runs between those two steps for a token
 * without a resource, so findAccount is where this is called from.
 */
export function narrowLoadedGrant(ctx: KoaContextWithOIDC | undefined, allowed: string[]): void {
  const grant = ctx?.oidc?.entities?.Grant;
  if (!grant) return;
  const permitted = new Set(allowed);
  const rejectedOidc = grant
    .getOIDCScope()
    .split(' ')
    .filter((scope) => isBusinessScope(scope) && !permitted.has(scope));
  if (rejectedOidc.length) grant.rejectOIDCScope(rejectedOidc.join(' '));
  for (const resource of Object.keys(grant.resources ?? {})) {
    const rejected = grant
      .getResourceScope(resource)
      .split(' ')
      .filter((scope) => isBusinessScope(scope) && !permitted.has(scope));
    if (rejected.length) grant.rejectResourceScope(resource, rejected.join(' '));
  }
}

/**
 * Adds claims to the answer of the introspection endpoint for this token. Relies on the library building that
 * answer after `introspection.allowedPolicy` has run, from the same token object, with the members of
 * `token.extra` spread into it (actions/introspection.js); the token is not saved again.
 */
export function addIntrospectionClaims(token: { extra?: Record<string, unknown> }, claims: Record<string, unknown>): void {
  token.extra = { ...token.extra, ...claims };
}
