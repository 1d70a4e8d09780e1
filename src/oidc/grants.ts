import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC, Grant } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import type { Services } from '../services.js';
import type { GrantUnit, UnitGrants } from './unit-grants.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';
import { unitForAuthorization, unitInForce, type UnitSelectionDeps } from './unit-selection.js';

/** The unit a grant is for, with the binding that authorises it (S-46). */
export interface GrantUnitRef {
  personId: string;
  unitId: string;
  bindingId: string;
}

/** What a grant gains: OIDC scopes and claims, and scopes per resource indicator. */
export interface GrantAdditions {
  oidcScopes: string[];
  claims: string[];
  resourceScopes: Record<string, string[]>;
}

export interface GrantTarget {
  /** The grant to extend; a new one is created when absent. */
  grant: Grant | undefined;
  accountId: string;
  clientId: string;
  /** The unit acted for, or undefined for a personal grant. */
  unit: GrantUnitRef | undefined;
  /**
   * The unit link of `grant` (undefined: none) as this request has just read it, when it has (loadExistingGrant):
   * it is not read again.
   */
  read?: { link: GrantUnit | undefined };
}

/** What a grant holds that an addition can change. */
function heldBy(grant: Grant): string {
  return JSON.stringify([grant.openid ?? null, grant.resources ?? null]);
}

/**
 * The one place that creates or extends a grant for (client, person, unit) (issue 10, C-T8): the first-party
 * path (loadExistingGrant) and the consent page (`/interaction/:uid/confirm`) both call it, so the chosen unit
 * is linked to the grant — with the binding that authorised it (S-46) — whatever the kind of client. Returns
 * undefined when the grant already belongs to another unit or binding (it is then left unchanged).
 */
export async function saveGrant(provider: Provider, unitGrants: UnitGrants, target: GrantTarget, additions: GrantAdditions): Promise<Grant | undefined> {
  const { accountId, clientId, unit } = target;
  const grant = target.grant ?? new provider.Grant({ accountId, clientId });
  if (grant.accountId !== accountId || grant.clientId !== clientId) return undefined;
  if (grant.jti) {
    const link = target.read ? target.read.link : await unitGrants.forGrant(grant.jti);
    if ((link?.unitId ?? null) !== (unit?.unitId ?? null) || (link && link.bindingId !== unit?.bindingId)) return undefined;
  }
  const before = grant.jti ? heldBy(grant) : undefined;
  if (additions.oidcScopes.length) grant.addOIDCScope(additions.oidcScopes.join(' '));
  if (additions.claims.length) grant.addOIDCClaims(additions.claims);
  for (const [indicator, scopes] of Object.entries(additions.resourceScopes)) {
    if (scopes.length) grant.addResourceScope(indicator, scopes.join(' '));
  }
  // A stored grant that already holds all of it, linked to this very unit and binding (checked just above): it is
  // neither saved again nor linked again (issue #15, Q-P1: four statements of every repeated sign-in).
  if (before !== undefined && heldBy(grant) === before) return grant;
  const grantId = await grant.save();
  if (unit && !(await unitGrants.link({ grantId, clientId, ...unit }))) return undefined;
  return grant;
}

/** What this authorization asks for (the first-party path grants all of it). */
function requested(ctx: KoaContextWithOIDC): GrantAdditions {
  const { oidc } = ctx;
  const resourceScopes: Record<string, string[]> = {};
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    resourceScopes[indicator] = [...oidc.requestParamScopes].filter((scope) => server.scopes.has(scope));
  }
  return { oidcScopes: [...oidc.requestParamOIDCScopes], claims: [...oidc.requestParamClaims], resourceScopes };
}

/** Of what is asked for now, what an earlier grant of the client already holds (remembered consent). */
function alreadyConsented(earlier: Grant, asked: GrantAdditions): GrantAdditions {
  const oidcScopes = new Set(earlier.getOIDCScope().split(' '));
  const claims = new Set(earlier.getOIDCClaims());
  const resourceScopes: Record<string, string[]> = {};
  for (const [indicator, scopes] of Object.entries(asked.resourceScopes)) {
    const held = new Set(earlier.getResourceScope(indicator).split(' '));
    resourceScopes[indicator] = scopes.filter((scope) => held.has(scope));
  }
  return { oidcScopes: asked.oidcScopes.filter((scope) => oidcScopes.has(scope)), claims: asked.claims.filter((claim) => claims.has(claim)), resourceScopes };
}

/**
 * Loads the grant for this authorization. A grant belongs to (client, person, unit, binding): the session's
 * grant for the client is reused only when it is for the same unit and binding (or for none), otherwise the
 * grant of that unit or a new one is used, so switching unit never reuses another unit's grant. A first-party
 * client is granted what it asks for here (no consent page). For a consent-based client a new unit grant starts
 * with what the person already consented to for this client (under another unit), so the consent page shows
 * only what is new; the consent page extends the same grant through `saveGrant`.
 */
export function createLoadExistingGrant(services: Pick<Services, 'bindings' | 'unitGrants'> & UnitSelectionDeps, firstParty: (clientId: string) => boolean) {
  return async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const { oidc } = ctx;
    const clientId = oidc.client?.clientId;
    if (!clientId || !oidc.session || !oidc.account) return undefined;
    const person = parseAccountId(oidc.account.accountId);
    const unitId = person?.kind === 'person' && clientId !== CONSOLE_CLIENT_ID ? await unitForAuthorization(ctx, services) : null;
    // With the unit's second-factor policy, which the step-up check of this request reads (one statement).
    const binding = unitId && person ? (await unitInForce(ctx, services, person.id, unitId)).binding : undefined;
    // The select_unit prompt asks when no unit is decided or its binding is no longer in force.
    if (unitId === undefined || (unitId && !binding)) return undefined;
    const unit = unitId && person && binding ? { personId: person.id, unitId, bindingId: binding.id } : undefined;

    const consented = (oidc.result?.consent as { grantId?: string } | undefined)?.grantId;
    const sessionGrant = oidc.session.grantIdFor(clientId);
    let grant: Grant | undefined;
    /** The link of `grant` as read here (saveGrant does not read it again). */
    let read: { link: GrantUnit | undefined } | undefined;
    for (const candidate of [consented, sessionGrant]) {
      if (grant || !candidate) continue;
      const found = await oidc.provider.Grant.find(candidate);
      const link = found && (await services.unitGrants.forGrant(found.jti));
      if (found && (link?.unitId ?? null) === (unit?.unitId ?? null) && (!link || link.bindingId === unit?.bindingId)) {
        grant = found;
        read = { link };
      }
    }
    if (!grant && unit) {
      const existing = await services.unitGrants.findGrant(clientId, unit.personId, unit.unitId, unit.bindingId);
      grant = existing ? await oidc.provider.Grant.find(existing) : undefined;
      // Found by its link to exactly this client, person, unit and binding.
      if (grant && existing) read = { link: { grantId: existing, clientId, ...unit } };
    }
    const asked = requested(ctx);
    if (firstParty(clientId)) {
      return saveGrant(oidc.provider, services.unitGrants, { grant, accountId: oidc.account.accountId, clientId, unit, read }, asked);
    }
    if (grant || !unit) return grant;
    const earlierId = (await services.unitGrants.latestForClient(clientId, unit.personId)) ?? sessionGrant;
    const earlier = earlierId ? await oidc.provider.Grant.find(earlierId) : undefined;
    if (!earlier || earlier.accountId !== oidc.account.accountId || earlier.clientId !== clientId) return undefined;
    const carried = alreadyConsented(earlier, asked);
    if (!carried.oidcScopes.length && !carried.claims.length && !Object.values(carried.resourceScopes).some((scopes) => scopes.length)) return undefined;
    return saveGrant(oidc.provider, services.unitGrants, { grant: undefined, accountId: oidc.account.accountId, clientId, unit }, carried);
  };
}
