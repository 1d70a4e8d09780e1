import type { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import { translate } from '../shared/i18n/index.js';
import { auditContext, csrfToken, formFields, parseBody, verifyCsrf } from '../shared/http/forms.js';
import { state } from '../shared/http/middleware.js';
import { render } from '../shared/http/views.js';
import { accountIdOf, parseAccountId } from '../shared/account-id.js';
import type { Services } from '../services.js';
import { ACR_MFA } from '../oidc/assurance.js';
import { STEP_UP_REASON } from '../oidc/step-up.js';
import { accountKindOf, clientName, finish, loadInteraction, type Interaction } from './context.js';

/** How long the password of a sign-in stays valid for its second factor. */
const PASSWORD_STEP_SECONDS = 5 * 60;

/** The first factor of a person's sign-in, kept in the interaction until the second is entered. */
export interface PersonPasswordStep {
  personId: string;
  at: number;
  unitMode: boolean;
}

/** A first factor kept in the interaction's result under `key`, while it is at most `seconds` old. */
export function pendingStep<T extends { at: number }>(interaction: Interaction, key: string, seconds: number): T | undefined {
  const step = (interaction.result as Record<string, T | undefined> | undefined)?.[key];
  if (!step || Date.now() / 1000 - step.at > seconds) return undefined;
  return step;
}

function passwordStep(interaction: Interaction): PersonPasswordStep | undefined {
  return pendingStep<PersonPasswordStep>(interaction, 'personPassword', PASSWORD_STEP_SECONDS);
}

/** Reasons of the login prompt that a second factor alone satisfies (no password needed again). */
const STEP_UP_ONLY = new Set([STEP_UP_REASON, 'essential_acr', 'essential_acrs']);

/** The person of a step-up within the SSO session: signed in with the password alone, the request needs more. */
function stepUpPerson(interaction: Interaction, services: Services): { personId: string; amr: string[] } | undefined {
  const reasons = interaction.prompt.reasons;
  if (interaction.prompt.name !== 'login' || !reasons.includes(STEP_UP_REASON) || !reasons.every((reason) => STEP_UP_ONLY.has(reason))) return undefined;
  const session = interaction.session as { accountId?: string; amr?: string[] } | undefined;
  const ref = parseAccountId(session?.accountId);
  if (ref?.kind !== 'person' || accountKindOf(interaction, services) !== 'person') return undefined;
  return { personId: ref.id, amr: session?.amr ?? ['pwd'] };
}

/**
 * The second-factor step of a person's sign-in (issue #18): after a correct password, a person with an
 * authenticator enters its code or a recovery code before the sign-in completes, with `amr` [pwd, otp] and the
 * multi-factor `acr`. Checked by SecondFactorService (throttled like the password, audited). The same page steps
 * up a password-only SSO session when the request needs multi-factor (acr_values, the acr claim, the business's
 * policy): the second factor only, without signing out; a person without one is asked to enrol one.
 */
export function secondFactorInteractionRoutes(router: Router, provider: Provider, services: Services) {
  /** After the password: completes the sign-in at once, or keeps the step and shows the second-factor page. */
  async function afterPassword(ctx: Context, interaction: Interaction, personId: string, unitMode: boolean, complete: () => Promise<void>): Promise<void> {
    if (!(await services.mfa.enrolled(personId))) {
      await complete();
      return;
    }
    interaction.result = { personPassword: { personId, at: Math.floor(Date.now() / 1000), unitMode } satisfies PersonPasswordStep };
    await interaction.save(Math.max(1, (interaction.exp ?? 0) - Math.floor(Date.now() / 1000)));
    ctx.status = 303;
    ctx.redirect(`/interaction/${interaction.uid}`);
  }

  /** The page of a pending second factor or a step-up; false when neither applies. */
  async function page(ctx: Context, interaction: Interaction, view: { error?: string; field?: string } = {}, status = 200): Promise<boolean> {
    const stepUp = passwordStep(interaction) ? undefined : stepUpPerson(interaction, services);
    if (!passwordStep(interaction) && !stepUp) return false;
    const locale = state(ctx).locale;
    const common = {
      uid: interaction.uid, csrf: csrfToken(ctx), error: view.error, errorField: view.field, stepUp: !!stepUp,
      client: clientName(services, (interaction.params as Record<string, unknown>).client_id, locale),
      languageSwitch: `/lang?to=${locale === 'en' ? 'zh-CN' : 'en'}&return=/interaction/${interaction.uid}`,
    };
    if (stepUp && !(await services.mfa.enrolled(stepUp.personId))) {
      render(ctx, 'interaction/second-factor-enrol.njk', common, status);
      return true;
    }
    render(ctx, 'interaction/second-factor.njk', common, status);
    return true;
  }

  router.post('/second-factor', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    const step = interaction.prompt.name === 'login' ? passwordStep(interaction) : undefined;
    const stepUp = step ? undefined : stepUpPerson(interaction, services);
    const personId = step?.personId ?? stepUp?.personId;
    if (!personId) throw new AppError('interaction_expired', 400);
    const form = formFields(ctx, ['code'], 32);
    const context = auditContext(ctx, { type: 'person', id: personId });
    try {
      await services.mfa.verify(personId, form.code, context);
      const accountId = accountIdOf({ kind: 'person', id: personId });
      if (stepUp) {
        // Within the SSO session: the same person, the unit acted for kept; the second factor is added.
        await services.audit.record(context, {
          action: 'person.mfa_step_up', target: { type: 'person', id: personId }, detail: { client: String((interaction.params as Record<string, unknown>).client_id) },
        });
        // Merged with what this authorization submitted before (the unit picked), which still stands.
        await finish(ctx, interaction, { login: { accountId, amr: [...new Set([...stepUp.amr, 'otp'])], acr: ACR_MFA, remember: true } }, true);
        return;
      }
      const sessionUid = (interaction.session as { uid?: string } | undefined)?.uid;
      if (sessionUid) await services.unitGrants.clearSessionUnit(sessionUid);
      await finish(ctx, interaction, { login: { accountId, amr: ['pwd', 'otp'], acr: ACR_MFA, remember: true }, unit_mode: step!.unitMode });
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      await page(ctx, interaction, { error: translate(state(ctx).locale, error.messageKey, error.params), field: 'code' }, error.status);
    }
  });

  return { afterPassword, page };
}
