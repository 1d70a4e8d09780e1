import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { parseAccountId } from '../shared/account-id.js';
import { isBusinessScope, unitAccess, type UnitAccess, type UnitAccessDeps } from '../modules/bindings/access.js';
import type { UnitGrants } from './unit-grants.js';
import type { ClientCatalog } from '../config/clients.js';
import { CONSOLE_CLIENT_ID, requestedAccountKind } from './console-client.js';

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
function participates(clientId: string | undefined, params: Record<string, unknown>): boolean {
  if (clientId !== CONSOLE_CLIENT_ID) return true;
  return requestedAccountKind(clientId, params.console, () => undefined) === 'person';
}

export type UnitSelectionDeps = UnitAccessDeps & { unitGrants: UnitGrants; catalog: Pick<ClientCatalog, 'businesses' | 'client'> };

/** The business scopes (`biz:…`) this authorization asks for, of those the client is registered for. */
export function requestedBusinessScopes(scope: unknown, deps: { catalog: Pick<ClientCatalog, 'client'> }, clientId: unknown): string[] {
  const registered = deps.catalog.client(clientId)?.metadata.scope;
  const allowed = new Set(typeof registered === 'string' ? registered.split(' ') : []);
  return typeof scope === 'string' ? [...new Set(scope.split(' ').filter((entry) => isBusinessScope(entry) && allowed.has(entry)))] : [];
}

/**
 * Whether acting for this unit serves the requesting system: it grants at least one of the business scopes
 * asked for (C-UI2, issue 10), or the system asks for none.
 */
export function servesRequest(access: Pick<UnitAccess, 'allowed'>, requested: string[]): boolean {
  return requested.length === 0 || requested.some((scope) => access.allowed.includes(scope));
}

/** What the unit decision reads: the same for an authorization request and for a stored interaction. */
export interface UnitDecisionInput {
  accountId: string | undefined;
  sessionUid: string | undefined;
  clientId: string | undefined;
  params: Record<string, unknown>;
  result: UnitResults;
  /** The RP sent `prompt=select_unit`. */
  selectRequested: boolean;
}

/** What one authorization request has already read, by name, for the rest of that request only (C-T5). */
const perRequest = new WeakMap<object, Map<string, Promise<unknown>>>();

/** `read()` once per request (`ctx`) and name: its hooks share the answer instead of asking again. */
function oncePerRequest<T>(ctx: object, name: string, read: () => Promise<T>): Promise<T> {
  let reads = perRequest.get(ctx);
  if (!reads) {
    reads = new Map();
    perRequest.set(ctx, reads);
  }
  let answer = reads.get(name) as Promise<T> | undefined;
  if (!answer) {
    answer = read();
    reads.set(name, answer);
  }
  return answer;
}

/** What `unitInForce` reads: the unit and the person's binding in force for it. */
export interface UnitInForce {
  unit: { mfaRequired: boolean } | undefined;
  binding: { id: string } | undefined;
}

/**
 * The unit an authorization request is for, with the person's binding for it if in force now, read once for this
 * request (issue #15, Q-P1): the grant's binding (loadExistingGrant) and the unit's second-factor policy (the
 * step-up check) come from one statement. Current data at each request: nothing is kept beyond `ctx` (C-T5).
 */
export function unitInForce(
  ctx: object,
  deps: { bindings: { activeWithUnit(personId: string, unitId: string): Promise<UnitInForce> } },
  personId: string,
  unitId: string,
): Promise<UnitInForce> {
  return oncePerRequest(ctx, `in-force ${personId} ${unitId}`, () => deps.bindings.activeWithUnit(personId, unitId));
}

/** The unit of this authorization request (see `decideUnit`), computed once per request. */
export function unitForAuthorization(ctx: KoaContextWithOIDC, deps: UnitSelectionDeps): Promise<string | null | undefined> {
  return oncePerRequest(ctx, 'unit', () =>
    decideUnit(
      {
        accountId: ctx.oidc.session?.accountId,
        sessionUid: ctx.oidc.session?.uid,
        clientId: ctx.oidc.client?.clientId,
        params: (ctx.oidc.params ?? {}) as Record<string, unknown>,
        result: results(ctx),
        selectRequested: ctx.oidc.prompts.has('select_unit'),
      },
      deps,
    ),
  );
}

/**
 * The unit an authorization is for: chosen in this flow (picker), personal after a sign-in without the
 * checkbox, else the identity of the SSO session (C-UI6) if its binding is still in force, serves this system's
 * business and is the RP's `unit_hint` when one is sent. `undefined` means a choice is needed: the select_unit
 * prompt shows the picker, preselecting a hinted unit even while the session acts for another one (C-T6), or
 * saying why a foreign hint was refused (S-40), or that the session's unit does not grant this system.
 */
export async function decideUnit(input: UnitDecisionInput, deps: UnitSelectionDeps): Promise<string | null | undefined> {
  const { result, params } = input;
  const person = parseAccountId(input.accountId);
  if (!person || person.kind !== 'person' || !participates(input.clientId, params)) return null;
  if (result.select_unit) return result.select_unit.unitId;
  if (result.login) return result.unit_mode ? undefined : null;
  if (input.selectRequested) return undefined;
  const requested = requestedBusinessScopes(params.scope, deps, input.clientId);
  const hint = typeof params.unit_hint === 'string' ? params.unit_hint : undefined;
  const acting = await deps.unitGrants.sessionUnit(input.sessionUid);
  // A hint for another identity than the session's is never overridden by it: the picker asks, with the hinted
  // unit preselected when its binding is in force, or saying that it was refused (C-T6, S-40).
  if (hint !== undefined && !(acting?.personId === person.id && acting.unitId === hint)) return undefined;
  if (acting?.personId === person.id && acting.unitId) {
    const access = await unitAccess(deps, person.id, acting.unitId);
    return access && servesRequest(access, requested) ? acting.unitId : undefined;
  }
  return params.login_as === 'unit' ? undefined : null;
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
