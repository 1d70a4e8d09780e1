import { errors, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import { ACR_MFA, ACR_VALUES, hasSecondFactor } from './assurance.js';

const { Check } = interactionPolicy;

/** The login check's reason when the sign-in must be stepped up to a second factor (issue #18). */
export const STEP_UP_REASON = 'mfa_required';

/** What the authorization request asks for: `acr_values`, and `claims.id_token.acr` (essential or not). */
export function requestedAcrs(params: Record<string, unknown>, claims: { id_token?: { acr?: { value?: unknown; values?: unknown } } } | undefined): string[] {
  const asked = new Set<string>();
  if (typeof params.acr_values === 'string') for (const value of params.acr_values.split(' ')) if (value) asked.add(value);
  const acr = claims?.id_token?.acr;
  if (typeof acr?.value === 'string') asked.add(acr.value);
  if (Array.isArray(acr?.values)) for (const value of acr.values) if (typeof value === 'string') asked.add(value);
  return [...asked];
}

/**
 * Whether the request needs multi-factor: every acr it asks for that we know is the multi-factor one (an RP asking
 * for "pwd mfa" accepts either; unknown values are ignored, as OIDC Core §3.1.2.1 allows).
 */
export function acrRequiresMfa(requested: readonly string[]): boolean {
  const known = requested.filter((value) => (ACR_VALUES as readonly string[]).includes(value));
  return known.length > 0 && known.every((value) => value === ACR_MFA);
}

/** The policies beyond the request's own acr: the business's (clients.json) and the unit's (unit console). */
export type NeedsMfa = (ctx: KoaContextWithOIDC) => boolean | Promise<boolean>;

/**
 * The step-up check of the login prompt: a person signed in with the password alone is asked for the second
 * factor, within the same SSO session, when the request needs multi-factor (acr_values or the acr claim, or the
 * policy of the business or of the unit chosen, `needsMfa`). The interaction then shows the second-factor page, not the password.
 */
export function stepUpCheck(needsMfa: NeedsMfa) {
  return new Check(STEP_UP_REASON, 'multi-factor authentication is required', async (ctx) => {
    const { session, params, claims } = ctx.oidc;
    const ref = parseAccountId(session?.accountId);
    if (!ref || ref.kind !== 'person' || hasSecondFactor(session?.amr)) return Check.NO_NEED_TO_PROMPT;
    const required = acrRequiresMfa(requestedAcrs((params ?? {}) as Record<string, unknown>, claims as never)) || (await needsMfa(ctx));
    return required ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
  });
}

/** Members the claims parameter may name: how the person signed in, never account or unit data. */
const CLAIMS_PARAMETER_MEMBERS = new Set(['acr', 'auth_time']);

/**
 * The claims parameter serves the essential `acr` only (issue #18): `id_token.acr` (and `auth_time`). Anything
 * else is refused as invalid_request, so it can never widen what a client's scopes give (C-T2, C-T8).
 */
export async function assertAcrOnlyClaims(_ctx: KoaContextWithOIDC, claims: Record<string, unknown>): Promise<void> {
  for (const [container, members] of Object.entries(claims)) {
    const ok =
      container === 'id_token' &&
      members !== null &&
      typeof members === 'object' &&
      !Array.isArray(members) &&
      Object.entries(members).every(([name, value]) => CLAIMS_PARAMETER_MEMBERS.has(name) && (value === null || (typeof value === 'object' && !Array.isArray(value))));
    if (!ok) throw new errors.InvalidRequest('the claims parameter may only ask for id_token acr and auth_time');
  }
}
