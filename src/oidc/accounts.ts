import type { Account, AccountClaims, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import { parseAccountId, type AccountKind } from '../shared/account-id.js';
import type { Person } from '../modules/persons/service.js';
import type { Services } from '../services.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';
import { hasSecondFactor } from './assurance.js';
import { narrowLoadedGrant } from './library-internals.js';
import { unitAccessForGrant, unitClaims, type GrantAccessDeps, type UnitAccess } from '../modules/bindings/access.js';

/** Standard claims of a person (profile, phone) and the real-name flag. */
export function personClaims(person: Person): AccountClaims {
  const verified = person.realnameStatus === 'verified';
  return {
    sub: person.id,
    preferred_username: person.loginName,
    ...(verified && person.legalName ? { name: person.legalName } : {}),
    updated_at: Math.floor(person.updatedAt.getTime() / 1000),
    realname_verified: verified,
    phone_number: `+86${person.mobile}`,
    phone_number_verified: person.mobileVerified,
  };
}

/** The look-ups of the three kinds of account, each by id. */
export interface AccountLookups {
  persons: Pick<Services['persons'], 'byId'>;
  units: Pick<Services['units'], 'byId'>;
  operators: Pick<Services['operators'], 'byId'>;
}

interface AccountRecords {
  person: NonNullable<Awaited<ReturnType<Services['persons']['byId']>>>;
  unit: NonNullable<Awaited<ReturnType<Services['units']['byId']>>>;
  operator: NonNullable<Awaited<ReturnType<Services['operators']['byId']>>>;
}

/**
 * The one answer to "is this account active": the account of that kind and id exists and is not disabled
 * (R-B6, S-41). findAccount (tokens, userinfo, refresh) and the management API's bearer check both ask it.
 */
export async function activeAccount<K extends AccountKind>(lookups: AccountLookups, kind: K, id: string): Promise<AccountRecords[K] | undefined> {
  const found = kind === 'person' ? await lookups.persons.byId(id) : kind === 'unit' ? await lookups.units.byId(id) : await lookups.operators.byId(id);
  return found?.status === 'active' ? (found as AccountRecords[K]) : undefined;
}

function clientIdOf(ctx: KoaContextWithOIDC | undefined, token: unknown): string | undefined {
  const fromToken = (token as { clientId?: string } | undefined)?.clientId;
  return fromToken ?? ctx?.oidc?.client?.clientId;
}

/** A refresh token or authorization code whose sign-in had no second factor (access tokens carry no `amr`). */
function withoutSecondFactor(token: unknown): boolean {
  const { kind, amr } = (token ?? {}) as { kind?: string; amr?: string[] };
  return (kind === 'RefreshToken' || kind === 'AuthorizationCode') && !hasSecondFactor(amr);
}

const PER_REQUEST = new WeakMap<object, Map<string, Promise<UnitAccess | null | undefined>>>();

/**
 * The unit access of a person's grant, computed once per request (C-T5): findAccount, the resource server's scope
 * and the access token's claims each ask for it, so none depends on another having run first or stored something.
 * `undefined`: a personal grant; `null`: the grant's unit access no longer holds (see unitAccessForGrant).
 */
export function requestUnitAccess(ctx: object | undefined, services: GrantAccessDeps, personId: string, grantId: string | undefined): Promise<UnitAccess | null | undefined> {
  if (!ctx) return unitAccessForGrant(services, personId, grantId);
  const memo = PER_REQUEST.get(ctx) ?? new Map<string, Promise<UnitAccess | null | undefined>>();
  PER_REQUEST.set(ctx, memo);
  const key = `${personId} ${grantId ?? ''}`;
  const known = memo.get(key);
  if (known) return known;
  const access = unitAccessForGrant(services, personId, grantId);
  memo.set(key, access);
  return access;
}

/** The unit access of the person and grant a token request issues for (undefined when it is not a person's grant). */
export async function tokenRequestUnitAccess(
  ctx: KoaContextWithOIDC,
  services: GrantAccessDeps,
  accountId: string | undefined,
  grantId: string | undefined,
): Promise<UnitAccess | null | undefined> {
  const ref = parseAccountId(accountId);
  return ref?.kind === 'person' && grantId ? requestUnitAccess(ctx, services, ref.id, grantId) : undefined;
}

/**
 * findAccount: a person that exists and is active, with the unit of the token's grant when the person signed in
 * for a unit. Unit accounts and operators exist only for the provider's own consoles; for business systems they
 * are unknown (R-U3). Returning undefined makes refresh fail with invalid_grant and userinfo with invalid_token:
 * that is how a removed binding or a disabled person or unit is caught (S-41, R-B6).
 */
export function createFindAccount(services: Pick<Services, 'catalog'> & AccountLookups & GrantAccessDeps): FindAccount {
  return async (ctx, id, token) => {
    const ref = parseAccountId(id);
    if (!ref) return undefined;
    if (ref.kind !== 'person') {
      // Only the provider's consoles and management-API clients registered for this kind of account (R-U3).
      const clientId = clientIdOf(ctx, token);
      const registered = services.catalog.client(clientId)?.accountKind;
      if (clientId !== CONSOLE_CLIENT_ID && registered !== ref.kind) return undefined;
      return (await activeAccount(services, ref.kind, ref.id)) ? ({ accountId: id, claims: async () => ({ sub: id }) } satisfies Account) : undefined;
    }
    const person = await activeAccount(services, 'person', ref.id);
    if (!person) return undefined;
    const grantId = (token as { grantId?: string } | undefined)?.grantId;
    const access = token ? await requestUnitAccess(ctx, services, person.id, grantId) : undefined;
    if (access === null) return undefined;
    // C-T5, issue #18: a refresh token (or code) of a sign-in without a second factor stops working for a unit
    // that requires one now (invalid_grant); the unit's own statement read the policy, no extra one.
    if (access?.mfaRequired && withoutSecondFactor(token)) return undefined;
    if (token) narrowLoadedGrant(ctx, access?.allowed ?? []);
    return { accountId: id, claims: async (_use, scope) => ({ ...personClaims(person), ...(access ? unitClaims(access, scope) : {}) }) } satisfies Account;
  };
}
