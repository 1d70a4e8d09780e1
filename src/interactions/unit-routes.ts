import { errorMessageOf, refusedForm } from '../shared/http/form-errors.js';
import type { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import { translate } from '../shared/i18n/index.js';
import { auditContext, csrfToken, formFields, parseBody, verifyCsrf } from '../shared/http/forms.js';
import { state } from '../shared/http/middleware.js';
import { render } from '../shared/http/views.js';
import { parseAccountId } from '../shared/account-id.js';
import type { Services } from '../services.js';
import { clientName, finish, loadInteraction, type Interaction } from './context.js';
import { PickerQueryDto } from './dto.js';
import { validQuery } from '../shared/http/validate.js';
import { accessOf, grantableOf } from '../modules/bindings/access.js';
import { requestedBusinessScopes, servesRequest } from '../oidc/unit-selection.js';

interface PickerView {
  error?: string | undefined;
  selected?: string | undefined;
}

/**
 * Units the picker shows at first, and added by each “显示更多单位” (issue #15, Q-P6): a person bound to hundreds
 * of units gets the units used most recently first and a search by name or certificate number, not hundreds of rows.
 */
export const PICKER_PAGE = 20;
const SHOWN_MAX = 10_000;

/**
 * The picker's search (`q`) and how many units to show (`shown`), through its DTO. A search over the limit is
 * refused next to the search field (never cut, issue #13) and the list shown unfiltered; an odd `shown` is ignored.
 */
function pickerQuery(ctx: Context): { query: string; typed: string; shown: number; searchError?: AppError } {
  const typed = typeof ctx.query.q === 'string' ? ctx.query.q : '';
  const raw = typeof ctx.query.shown === 'string' && /^\d{1,9}$/.test(ctx.query.shown) ? Number(ctx.query.shown) : PICKER_PAGE;
  const shown = Math.min(SHOWN_MAX, Math.max(PICKER_PAGE, raw));
  try {
    return { query: (validQuery(ctx, PickerQueryDto, false).q ?? '').trim(), typed, shown };
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    return { query: '', typed, shown, searchError: error };
  }
}

function personOf(interaction: Interaction): string {
  const ref = parseAccountId((interaction.session as { accountId?: string } | undefined)?.accountId);
  if (!ref || ref.kind !== 'person') throw new AppError('interaction_expired');
  return ref.id;
}

function sessionUidOf(interaction: Interaction): string {
  const uid = (interaction.session as { uid?: string } | undefined)?.uid;
  if (!uid) throw new AppError('interaction_expired');
  return uid;
}

/**
 * The unit picker (C-UI2) and the unverified-unit interstitial (C-UI3) of the select_unit prompt. The choice is
 * checked on the server (S-40): only a unit with a binding in force now can be chosen.
 */
export function unitInteractionRoutes(
  router: Router,
  provider: Provider,
  services: Pick<Services, 'bindings' | 'units' | 'verification' | 'unitGrants' | 'catalog' | 'notices' | 'audit'>,
) {
  const { bindings, units, verification, unitGrants, catalog } = services;

  /** Businesses asked for by the RP that need a verified unit. */
  function verifiedOnlyRequested(interaction: Interaction): string[] {
    const requested = new Set(String((interaction.params as Record<string, unknown>).scope ?? '').split(' '));
    return catalog.businesses.filter((business) => business.requiresVerifiedUnit && requested.has(business.scope)).map((business) => business.scope);
  }

  async function picker(ctx: Context, interaction: Interaction, view: PickerView = {}, status = 200): Promise<void> {
    const locale = state(ctx).locale;
    const personId = personOf(interaction);
    const params = interaction.params as Record<string, unknown>;
    // Issue 10: each unit says whether it grants the requesting system's business permission(s); those first.
    const requested = requestedBusinessScopes(params.scope, services, params.client_id);
    const hint = typeof params.unit_hint === 'string' ? params.unit_hint : undefined;
    const acting = await unitGrants.sessionUnit((interaction.session as { uid?: string } | undefined)?.uid);
    const { query, typed, shown, searchError } = pickerQuery(ctx);
    // One statement however many units (issue #15, Q-P6): the choices ranked as below, the first `shown` of those
    // matching the search, and the hinted, acting and chosen units wherever they rank; the counts of all.
    const found = await bindings.pickerPage(personId, {
      counted: grantableOf(services, requested),
      query,
      limit: shown,
      pinned: [hint, acting?.unitId, view.selected].filter((id): id is string => typeof id === 'string'),
    });
    // The rows are ranked by the statement; what each grants is decided here from the rows just read, by the same
    // rules (accessOf), not by one unitAccess (two statements) per unit.
    const choices = found.rows.flatMap((binding) => {
      const access = accessOf(services, binding.unit, binding);
      if (!access) return [];
      const granted = access.allowed.filter((scope) => requested.includes(scope));
      return [{ binding, granted, serves: servesRequest(access, requested), mfaRequired: access.mfaRequired }];
    });
    const hintRefused = hint !== undefined && !choices.some((choice) => choice.binding.unitId === hint);
    const actingChoice = choices.find((choice) => choice.binding.unitId === acting?.unitId);
    // A password was just entered in this authorization (its earlier steps are the interaction's lastSubmission).
    const fresh = !!((interaction.lastSubmission ?? interaction.result) as { login?: unknown } | undefined)?.login;
    const actingNotGranted =
      !fresh &&
      !hint &&
      requested.length > 0 &&
      actingChoice !== undefined &&
      !actingChoice.serves &&
      !String(params.prompt ?? '')
        .split(' ')
        .includes('select_unit');
    // A refused hint preselects nothing: the person chooses knowingly (S-40).
    const only = found.total === 1 ? choices[0]?.binding.unitId : undefined;
    const preferred = hintRefused ? undefined : (hint ?? (actingNotGranted ? undefined : (acting?.unitId ?? undefined)) ?? only);
    const selected = view.selected ?? preferred;
    // One page of the choices that match the search; the preselected unit is always on it when it matches.
    const matching = choices.filter((choice) => choice.binding.matches);
    let page = matching.slice(0, shown);
    const selectedChoice = matching.find((choice) => choice.binding.unitId === selected);
    if (selectedChoice && !page.includes(selectedChoice)) page = [selectedChoice, ...page.slice(0, shown - 1)];
    const more = found.matching > page.length;
    const moreHref = more
      ? `/interaction/${encodeURIComponent(interaction.uid)}?${new URLSearchParams({ ...(query ? { q: query } : {}), shown: String(shown + PICKER_PAGE) }).toString()}`
      : undefined;
    const businessName = (scope: string) => catalog.businesses.find((business) => business.scope === scope)?.name[locale] ?? scope;
    // Why the unit a business system asks for is gone (issue 14): a refused hint for a unit that cancelled this
    // person's binding (the person's own unread notice) says so (“您与…的绑定已取消”) instead of the generic
    // refusal; a hint for any other unit learns nothing about it (S-40).
    const removal = hintRefused ? (await services.notices.unreadRemovals(personId)).find((notice) => notice.unitId === hint) : undefined;
    const hintRemoved = removal !== undefined;
    render(
      ctx,
      'interaction/select-unit.njk',
      {
        uid: interaction.uid,
        csrf: csrfToken(ctx),
        client: clientName(services, params.client_id, locale),
        businessRequested: requested.length > 0,
        searchable: found.total > PICKER_PAGE || typed !== '',
        query: typed,
        searchError: searchError ? refusedForm(ctx, searchError).error : undefined,
        total: found.total,
        matching: found.matching,
        moreHref,
        clearHref: `/interaction/${encodeURIComponent(interaction.uid)}`,
        choices: page.map(({ binding, granted, serves, mfaRequired }) => ({
          unitId: binding.unitId,
          name: binding.unit.name,
          certNo: binding.unit.certNo,
          certType: binding.unit.certType,
          verified: binding.unit.verified,
          role: binding.role,
          checked: binding.unitId === selected,
          serves,
          granted: granted.map(businessName).join('、'),
          mfaRequired,
        })),
        pending: found.pending,
        hintRefused: hintRefused && !hintRemoved,
        removedUnit: removal?.unitName,
        actingNotGranted,
        error: view.error,
      },
      searchError ? searchError.status : status,
    );
  }

  async function choose(ctx: Context, interaction: Interaction, unitId: string | null): Promise<void> {
    const personId = personOf(interaction);
    await unitGrants.setSessionUnit(sessionUidOf(interaction), personId, unitId);
    if (unitId) await bindings.noteSelected(personId, unitId);
    await finish(ctx, interaction, { select_unit: { unitId } }, true);
  }

  async function interstitial(ctx: Context, interaction: Interaction, unitId: string, error?: string, status = 200): Promise<void> {
    const locale = state(ctx).locale;
    const unit = await units.byId(unitId);
    const names = verifiedOnlyRequested(interaction)
      .map((scope) => catalog.businesses.find((business) => business.scope === scope)?.name[locale] ?? scope)
      .join('、');
    render(ctx, 'interaction/unit-unverified.njk', { uid: interaction.uid, csrf: csrfToken(ctx), unitId, unitName: unit?.name, business: names, error }, status);
  }

  router.post('/select-unit', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (interaction.prompt.name !== 'select_unit') throw new AppError('interaction_expired');
    // A longer field is refused (400), so the unit id recorded below is the one submitted, never a cut one.
    const form = formFields(ctx, ['unitId', 'personal', 'confirm'], 64);
    const locale = state(ctx).locale;
    if (form.personal === '1') {
      await choose(ctx, interaction, null);
      return;
    }
    if (!form.unitId) {
      await picker(ctx, interaction, { error: translate(locale, 'error.unit_selection_required') }, 400);
      return;
    }
    const personId = personOf(interaction);
    // The unit and the binding in one statement (issue #15, Q-P1).
    const { binding, unit } = await bindings.activeWithUnit(personId, form.unitId);
    if (!binding || !unit || unit.status !== 'active') {
      await services.audit.record(auditContext(ctx, { type: 'person', id: personId }), {
        action: 'person.select_unit',
        outcome: 'failure',
        target: { type: 'unit', id: form.unitId },
      });
      await picker(ctx, interaction, { error: translate(locale, 'error.unit_not_selectable') }, 403);
      return;
    }
    if (!unit.verified && verifiedOnlyRequested(interaction).length > 0 && form.confirm !== '1') {
      await interstitial(ctx, interaction, unit.id);
      return;
    }
    await choose(ctx, interaction, unit.id);
  });

  router.post('/unit-code', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (interaction.prompt.name !== 'select_unit') throw new AppError('interaction_expired');
    const form = formFields(ctx, ['unitId', 'code'], 64);
    const personId = personOf(interaction);
    if (!(await bindings.activeFor(personId, form.unitId))) {
      await picker(ctx, interaction, { error: translate(state(ctx).locale, 'error.unit_not_selectable') }, 403);
      return;
    }
    try {
      // Guide §6: a handler acting for the unit may enter the counter's authorisation code.
      await verification.redeem(form.unitId, form.code, auditContext(ctx, { type: 'person', id: personId }, form.unitId));
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      await interstitial(ctx, interaction, form.unitId, errorMessageOf(ctx, error), error.status);
      return;
    }
    await choose(ctx, interaction, form.unitId);
  });

  return { picker };
}
