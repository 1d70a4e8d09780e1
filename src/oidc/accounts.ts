import type { Account, AccountClaims, FindAccount, KoaContextWithOIDC } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import type { Person } from '../modules/persons/store.js';
import type { Services } from '../services.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';

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

function clientIdOf(ctx: KoaContextWithOIDC | undefined, token: unknown): string | undefined {
  const fromToken = (token as { clientId?: string } | undefined)?.clientId;
  return fromToken ?? ctx?.oidc?.client?.clientId;
}

/**
 * findAccount: a person that exists and is active. Unit accounts and operators exist only for the provider's
 * own consoles; for any business system they are unknown (R-U3), so no token is ever issued to them there.
 * Returning undefined also makes refresh fail with invalid_grant and userinfo with invalid_token (R-B6).
 */
export function createFindAccount(services: Services): FindAccount {
  return async (ctx, id, token) => {
    const ref = parseAccountId(id);
    if (!ref) return undefined;
    if (ref.kind !== 'person') {
      if (clientIdOf(ctx, token) !== CONSOLE_CLIENT_ID) return undefined;
      const active = ref.kind === 'operator' ? (await services.operators.byId(ref.id))?.status === 'active' : true;
      return active ? { accountId: id, claims: async () => ({ sub: id }) } satisfies Account : undefined;
    }
    const person = await services.persons.byId(ref.id);
    if (!person || person.status !== 'active') return undefined;
    return {
      accountId: id,
      claims: async () => personClaims(person),
    } satisfies Account;
  };
}
