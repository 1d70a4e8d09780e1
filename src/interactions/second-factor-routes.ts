import type { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import { translate } from '../shared/i18n/index.js';
import { auditContext, csrfToken, formFields, parseBody, verifyCsrf } from '../shared/http/forms.js';
import { state } from '../shared/http/middleware.js';
import { render } from '../shared/http/views.js';
import { accountIdOf } from '../shared/account-id.js';
import type { Services } from '../services.js';
import { ACR_MFA } from '../oidc/assurance.js';
import { clientName, finish, loadInteraction, type Interaction } from './context.js';

/** How long the password of a sign-in stays valid for its second factor. */
const PASSWORD_STEP_SECONDS = 5 * 60;

/** The first factor of a person's sign-in, kept in the interaction until the second is entered. */
export interface PersonPasswordStep {
  personId: string;
  at: number;
  unitMode: boolean;
}

function passwordStep(interaction: Interaction): PersonPasswordStep | undefined {
  const step = (interaction.result as { personPassword?: PersonPasswordStep } | undefined)?.personPassword;
  if (!step || Date.now() / 1000 - step.at > PASSWORD_STEP_SECONDS) return undefined;
  return step;
}

/**
 * The second-factor step of a person's sign-in (issue #18): after a correct password, a person with an
 * authenticator enters its code or a recovery code before the sign-in completes, with `amr` [pwd, otp] and the
 * multi-factor `acr`. Checked by SecondFactorService (throttled like the password, audited).
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

  /** The page of a pending second factor; false when none is pending. */
  async function page(ctx: Context, interaction: Interaction, view: { error?: string; field?: string } = {}, status = 200): Promise<boolean> {
    if (!passwordStep(interaction)) return false;
    const locale = state(ctx).locale;
    render(ctx, 'interaction/second-factor.njk', {
      uid: interaction.uid, csrf: csrfToken(ctx), error: view.error, errorField: view.field,
      client: clientName(services, (interaction.params as Record<string, unknown>).client_id, locale),
      languageSwitch: `/lang?to=${locale === 'en' ? 'zh-CN' : 'en'}&return=/interaction/${interaction.uid}`,
    }, status);
    return true;
  }

  router.post('/second-factor', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    const step = passwordStep(interaction);
    if (interaction.prompt.name !== 'login' || !step) throw new AppError('interaction_expired', 400);
    const form = formFields(ctx, ['code'], 32);
    try {
      await services.mfa.verify(step.personId, form.code, auditContext(ctx, { type: 'person', id: step.personId }));
      const sessionUid = (interaction.session as { uid?: string } | undefined)?.uid;
      if (sessionUid) await services.unitGrants.clearSessionUnit(sessionUid);
      await finish(ctx, interaction, {
        login: { accountId: accountIdOf({ kind: 'person', id: step.personId }), amr: ['pwd', 'otp'], acr: ACR_MFA, remember: true },
        unit_mode: step.unitMode,
      });
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      await page(ctx, interaction, { error: translate(state(ctx).locale, error.messageKey, error.params), field: 'code' }, error.status);
    }
  });

  return { afterPassword, page };
}
