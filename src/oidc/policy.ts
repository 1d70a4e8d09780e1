import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import { requestedAccountKind, type AccountKindOfClient, type ConsoleKind } from './console-client.js';
import { selectUnitPrompt, type UnitSelectionDeps } from './unit-selection.js';
import { stepUpCheck, type NeedsMfa } from './step-up.js';

const { base, Check } = interactionPolicy;

/** Which kind of account the request needs (see requestedAccountKind). */
export function requiredAccountKind(ctx: KoaContextWithOIDC, kindOfClient: AccountKindOfClient): ConsoleKind {
  return requestedAccountKind(ctx.oidc.client?.clientId, ctx.oidc.params?.console, kindOfClient);
}

/**
 * The library's login and consent prompts with our select_unit prompt between them, plus one login check: the
 * signed-in account must be of the kind the client needs (a person for business systems, R-U3) and must still
 * be usable (not disabled, R-B6). Operators must also have passed the second factor.
 */
export function buildPolicy(deps: UnitSelectionDeps, kindOfClient: AccountKindOfClient, needsMfa: NeedsMfa = () => false) {
  const policy = base();
  const login = policy.get('login');
  if (!login) throw new Error('login prompt missing from the base policy');
  login.checks.add(
    new Check('account_kind', 'the signed-in account cannot be used here', (ctx) => {
      const { session, account } = ctx.oidc;
      if (!session?.accountId) return Check.NO_NEED_TO_PROMPT; // no_session asks for the login
      const ref = parseAccountId(session.accountId);
      if (!account || !ref) return Check.REQUEST_PROMPT;
      const wanted = requiredAccountKind(ctx, kindOfClient);
      if (ref.kind !== wanted) return Check.REQUEST_PROMPT;
      if (wanted === 'operator' && !session.amr?.includes('otp')) return Check.REQUEST_PROMPT;
      return Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(stepUpCheck(needsMfa));
  policy.add(
    selectUnitPrompt(deps),
    policy.findIndex((prompt) => prompt.name === 'consent'),
  );
  return policy;
}
