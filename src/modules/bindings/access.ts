import type { ClientCatalog } from '../../config/clients.js';
import type { BindingService, BindingView } from './service.js';
import type { Unit, UnitService } from '../units/service.js';

/** A person's access for a unit as it stands now (C-T5: computed at every issuance, refresh, userinfo, introspection). */
export interface UnitAccess {
  unit: Unit;
  binding: BindingView;
  /** Business scopes the unit grants this person now, minus those needing a verified unit while it is not. */
  allowed: string[];
  /** The unit requires a second factor of every handler acting for it (issue #18). */
  mfaRequired: boolean;
}

/** What computing a person's access for a unit needs. */
export interface UnitAccessDeps {
  units: Pick<UnitService, 'byId'>;
  bindings: Pick<BindingService, 'activeFor'>;
  catalog: Pick<ClientCatalog, 'businesses'>;
}

/** … and for the unit of a token's grant: the grant's unit link (kept by the provider layer). */
export type GrantAccessDeps = UnitAccessDeps & {
  unitGrants: { forGrant(grantId: string | undefined): Promise<{ personId: string; unitId: string; bindingId: string } | undefined> };
};

/** The business scopes of the catalogue that need a verified unit. */
function verifiedOnly(services: Pick<UnitAccessDeps, 'catalog'>): Set<string> {
  return new Set(services.catalog.businesses.filter((business) => business.requiresVerifiedUnit).map((business) => business.scope));
}

/**
 * For the grant of a token: `undefined` for a personal grant, `null` when the grant was for a unit but the
 * access no longer holds (unbound, expired, unit or person disabled, or — S-46 — the binding in force now is
 * not the one that authorised the grant), else the current access.
 */
export async function unitAccessForGrant(services: GrantAccessDeps, personId: string, grantId: string | undefined): Promise<UnitAccess | null | undefined> {
  const link = await services.unitGrants.forGrant(grantId);
  if (!link) return undefined;
  if (link.personId !== personId) return null;
  const access = await unitAccess(services, personId, link.unitId);
  return access && access.binding.id === link.bindingId ? access : null;
}

/** The person's current access for the unit, or null. */
export async function unitAccess(services: UnitAccessDeps, personId: string, unitId: string): Promise<UnitAccess | null> {
  const unit = await services.units.byId(unitId);
  if (!unit || unit.status !== 'active') return null;
  const binding = await services.bindings.activeFor(personId, unitId);
  if (!binding) return null;
  return accessOf(services, unit, binding);
}

/**
 * The access a unit and a binding read in this request give (both current: C-T5), or null when the unit is not
 * active or the binding not in force: what `unitAccess` computes, for lists that already read every unit and
 * binding in one statement each (the unit picker of a person with many bindings, issue #15 Q-P6).
 */
export function accessOf<U extends Pick<Unit, 'id' | 'status' | 'verified' | 'mfaRequired'>, B extends Pick<BindingView, 'unitId' | 'effective' | 'effectiveScopes'>>(
  services: Pick<UnitAccessDeps, 'catalog'>,
  unit: U,
  binding: B,
): (Omit<UnitAccess, 'unit' | 'binding'> & { unit: U; binding: B }) | null {
  if (unit.status !== 'active' || binding.effective !== 'active' || binding.unitId !== unit.id) return null;
  const needsVerified = verifiedOnly(services);
  const allowed = binding.effectiveScopes.filter((scope) => unit.verified || !needsVerified.has(scope));
  return { unit, binding, allowed, mfaRequired: unit.mfaRequired };
}

/**
 * The business scopes asked for that a unit's binding can grant, by whether the unit is verified: those of the
 * catalogue, and for an unverified unit not those that need a verified one. `accessOf`'s rule for `allowed`, as
 * lists a statement can rank by (the unit picker, issue #15 Q-P6).
 */
export function grantableOf(services: Pick<UnitAccessDeps, 'catalog'>, requested: string[]): { verified: string[]; unverified: string[] } {
  const known = new Set(services.catalog.businesses.map((business) => business.scope));
  const needsVerified = verifiedOnly(services);
  const verified = requested.filter((scope) => known.has(scope));
  return { verified, unverified: verified.filter((scope) => !needsVerified.has(scope)) };
}

/** `unit_mfa_required: true` when the unit requires a second factor of its handlers (issue #18); absent otherwise. */
function mfaClaim(access: UnitAccess): { unit_mfa_required?: true } {
  return access.mfaRequired ? { unit_mfa_required: true } : {};
}

/** C-T2: the unit claims for the ID token and userinfo; `unit_scopes` are the requested scopes still allowed. */
export function unitClaims(access: UnitAccess, requestedScope: string | undefined): Record<string, unknown> {
  const requested = new Set((requestedScope ?? '').split(' '));
  return {
    unit_id: access.unit.id,
    unit_name: access.unit.name,
    unit_cert_type: access.unit.certType,
    unit_cert_no: access.unit.certNo,
    unit_verified: access.unit.verified,
    unit_role: access.binding.role,
    unit_scopes: access.allowed.filter((scope) => requested.has(scope)),
    ...mfaClaim(access),
  };
}

/**
 * C-T8: the business scopes a token may still carry: those granted to the token (its own `scope`) that the unit
 * still grants now — never the rest of the person's binding.
 */
export function tokenUnitScopes(access: UnitAccess, tokenScope: string | undefined): string[] {
  const granted = new Set((tokenScope ?? '').split(' '));
  return access.allowed.filter((scope) => granted.has(scope));
}

/** C-T4: what a JWT access token for a resource server carries besides the standard claims and `scope`. */
export function unitTokenClaims(access: UnitAccess): Record<string, unknown> {
  return { unit_id: access.unit.id, unit_role: access.binding.role, unit_verified: access.unit.verified, ...mfaClaim(access) };
}

export function isBusinessScope(scope: string): boolean {
  return scope.startsWith('biz:');
}
