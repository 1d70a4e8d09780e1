import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import type { BindingService } from '../modules/bindings/service.js';
import type { UnitGrants } from './unit-grants.js';
import { CONSOLE_CLIENT_ID } from './console-client.js';

const { Prompt, Check } = interactionPolicy;

/** What the interactions of this authorization submitted (oidc-provider keeps them in `ctx.oidc.result`). */
export interface UnitResults {
  login?: { accountId: string };
  /** The personal tab's checkbox “以单位身份登录” was ticked at this sign-in. */
  unit_mode?: boolean;
  /** The picker's answer: a unit, or null to continue personally. */
  select_unit?: { unitId: string | null };
}

function results(ctx: KoaContextWithOIDC): UnitResults {
  return (ctx.oidc.result ?? {}) as UnitResults;
}

/** Business systems and the person console take part in unit selection; the unit and operator consoles do not. */
function participates(ctx: KoaContextWithOIDC): boolean {
  if (ctx.oidc.client?.clientId !== CONSOLE_CLIENT_ID) return true;
  const kind = ctx.oidc.params?.console;
  return kind === undefined || kind === 'person';
}

export interface UnitSelectionDeps {
  bindings: BindingService;
  unitGrants: UnitGrants;
}

/**
 * The unit this authorization is for: chosen in this flow (picker), personal after a sign-in without the
 * checkbox, else the identity of the SSO session (C-UI6) if its binding is still in force. `undefined` means
 * a choice is needed (the select_unit prompt asks).
 */
export async function unitForAuthorization(ctx: KoaContextWithOIDC, deps: UnitSelectionDeps): Promise<string | null | undefined> {
  const result = results(ctx);
  const person = parseAccountId(ctx.oidc.session?.accountId);
  if (!person || person.kind !== 'person' || !participates(ctx)) return null;
  if (result.select_unit) return result.select_unit.unitId;
  if (result.login) return result.unit_mode ? undefined : null;
  if (ctx.oidc.prompts.has('select_unit')) return undefined;
  const acting = await deps.unitGrants.sessionUnit(ctx.oidc.session?.uid);
  const wantsUnit = ctx.oidc.params?.login_as === 'unit' || typeof ctx.oidc.params?.unit_hint === 'string';
  if (acting?.personId === person.id && acting.unitId) {
    return (await deps.bindings.activeFor(person.id, acting.unitId)) ? acting.unitId : undefined;
  }
  return wantsUnit ? undefined : null;
}

/**
 * C-UI2 / C-T6 as an interaction prompt after login: asks for a unit when the checkbox was ticked, the RP sent
 * `login_as=unit` or `unit_hint`, the session's unit is no longer in force, or the RP sent `prompt=select_unit`
 * (requestable, so switching unit within the SSO session works without the password).
 */
export function selectUnitPrompt(deps: UnitSelectionDeps) {
  return new Prompt(
    { name: 'select_unit', requestable: true },
    (ctx) => ({
      ...(typeof ctx.oidc.params?.unit_hint === 'string' ? { unit_hint: ctx.oidc.params.unit_hint } : {}),
      ...(ctx.oidc.params?.login_as === 'unit' ? { login_as: 'unit' } : {}),
    }),
    new Check('unit_not_selected', 'the End-User must choose the unit to act for', async (ctx) => {
      if (!ctx.oidc.session?.accountId || !ctx.oidc.account) return Check.NO_NEED_TO_PROMPT;
      const unit = await unitForAuthorization(ctx, deps);
      return unit === undefined ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
}
