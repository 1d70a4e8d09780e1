import { refusedForm } from '../shared/http/form-errors.js';
import type { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import { auditContext, csrfToken, parseBody, verifyCsrf } from '../shared/http/forms.js';
import { formValues, validForm } from '../shared/http/validate.js';
import { state } from '../shared/http/middleware.js';
import { render } from '../shared/http/views.js';
import { accountIdOf, parseAccountId } from '../shared/account-id.js';
import type { Services } from '../services.js';
import { ACR_MFA } from '../oidc/assurance.js';
import { STEP_UP_REASON } from '../oidc/step-up.js';
import { accountKindOf, clientName, finish, loadInteraction, reauthAccountOf, type Interaction } from './context.js';
import { saveInteractionResult } from '../oidc/library-internals.js';
import type { AuthenticationResponseJSON } from '@simplewebauthn/server';
import { parseWebAuthnResponse } from '../modules/mfa/passkeys.js';
import { PasskeyResponseDto, SecondFactorCodeDto } from '../modules/mfa/dto.js';

/** What a second-factor page shows after a refusal: the message, its field, every field's message, the values typed. */
interface PageView {
  error?: string;
  field?: string | undefined;
  fieldErrors?: Record<string, string>;
  form?: Record<string, string>;
}

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
function stepUpPerson(interaction: Interaction, services: Pick<Services, 'catalog'>): { personId: string; amr: string[] } | undefined {
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
export function secondFactorInteractionRoutes(router: Router, provider: Provider, services: Pick<Services, 'catalog' | 'mfa' | 'passkeys' | 'audit' | 'unitGrants' | 'persons'>) {
  /** After the password: completes the sign-in at once, or keeps the step and shows the second-factor page. */
  async function afterPassword(ctx: Context, interaction: Interaction, personId: string, unitMode: boolean, complete: () => Promise<void>): Promise<void> {
    if (!(await services.mfa.enrolled(personId))) {
      await complete();
      return;
    }
    await saveInteractionResult(interaction, { personPassword: { personId, at: Math.floor(Date.now() / 1000), unitMode } satisfies PersonPasswordStep });
    ctx.status = 303;
    ctx.redirect(`/interaction/${interaction.uid}`);
  }

  /** Whose second factor this interaction waits for: after the password in this flow, or a step-up. */
  function pending(interaction: Interaction): { personId: string; step?: PersonPasswordStep; stepUp?: { amr: string[] } } | undefined {
    const step = interaction.prompt.name === 'login' ? passwordStep(interaction) : undefined;
    if (step) return { personId: step.personId, step };
    const stepUp = stepUpPerson(interaction, services);
    return stepUp && { personId: stepUp.personId, stepUp };
  }

  function commonView(ctx: Context, interaction: Interaction, view: PageView) {
    const locale = state(ctx).locale;
    return {
      uid: interaction.uid,
      csrf: csrfToken(ctx),
      error: view.error,
      errorField: view.field,
      fieldErrors: view.fieldErrors,
      form: view.form,
      client: clientName(services, (interaction.params as Record<string, unknown>).client_id, locale),
      languageSwitch: `/lang?to=${locale === 'en' ? 'zh-CN' : 'en'}&return=/interaction/${interaction.uid}`,
    };
  }

  /** The page of a pending second factor or a step-up; false when neither applies. */
  async function page(ctx: Context, interaction: Interaction, view: PageView = {}, status = 200): Promise<boolean> {
    const waiting = pending(interaction);
    if (!waiting) return false;
    const common = { ...commonView(ctx, interaction, view), stepUp: !!waiting.stepUp };
    const factors = await services.mfa.status(waiting.personId);
    if (!factors.totp && factors.passkeys === 0) {
      render(ctx, 'interaction/second-factor-enrol.njk', common, status);
      return true;
    }
    render(
      ctx,
      'interaction/second-factor.njk',
      {
        ...common,
        code: factors.totp || factors.recoveryCodesLeft > 0,
        passkeyOptions: factors.passkeys > 0 ? await services.passkeys.authenticationOptions(waiting.personId) : undefined,
      },
      status,
    );
    return true;
  }

  /** Completes the sign-in once the second factor (`method`: otp, hwk or swk) is accepted. */
  async function complete(
    ctx: Context,
    interaction: Interaction,
    waiting: NonNullable<ReturnType<typeof pending>>,
    method: string,
    context: ReturnType<typeof auditContext>,
  ): Promise<void> {
    const accountId = accountIdOf({ kind: 'person', id: waiting.personId });
    if (waiting.stepUp) {
      // Within the SSO session: the same person, the unit acted for kept; the second factor is added.
      await services.audit.record(context, {
        action: 'person.mfa_step_up',
        target: { type: 'person', id: waiting.personId },
        detail: { client: String((interaction.params as Record<string, unknown>).client_id), method },
      });
      // Merged with what this authorization submitted before (the unit picked), which still stands.
      await finish(ctx, interaction, { login: { accountId, amr: [...new Set([...waiting.stepUp.amr, method])], acr: ACR_MFA, remember: true } }, true);
      return;
    }
    const sessionUid = (interaction.session as { uid?: string } | undefined)?.uid;
    if (sessionUid) await services.unitGrants.clearSessionUnit(sessionUid);
    await finish(ctx, interaction, { login: { accountId, amr: ['pwd', method], acr: ACR_MFA, remember: true }, unit_mode: waiting.step?.unitMode });
  }

  router.post('/second-factor', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    const waiting = pending(interaction);
    if (!waiting) throw new AppError('interaction_expired');
    const context = auditContext(ctx, { type: 'person', id: waiting.personId });
    try {
      const form = validForm(ctx, SecondFactorCodeDto);
      await services.mfa.verify(waiting.personId, form.code, context);
      await complete(ctx, interaction, waiting, 'otp', context);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const refused = refusedForm(ctx, error);
      await page(ctx, interaction, { ...refused, field: refused.errorField ?? 'code', form: formValues(ctx, SecondFactorCodeDto) }, error.status);
    }
  });

  /** Sign-in with a passkey alone (no password): offered on the personal tab, never for a re-authentication. */
  function passwordless(interaction: Interaction): boolean {
    return interaction.prompt.name === 'login' && accountKindOf(interaction, services) === 'person' && !reauthAccountOf(interaction, services);
  }

  async function passkeyPage(ctx: Context, interaction: Interaction, view: PageView = {}, status = 200): Promise<void> {
    render(ctx, 'interaction/passkey.njk', { ...commonView(ctx, interaction, view), options: await services.passkeys.authenticationOptions(undefined) }, status);
  }

  router.get('/passkey', async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (pending(interaction) || !passwordless(interaction)) {
      ctx.redirect(`/interaction/${interaction.uid}`);
      return;
    }
    await passkeyPage(ctx, interaction);
  });

  /** A passkey answer: the second factor of a pending sign-in or step-up, else a sign-in without a password. */
  router.post('/passkey', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    const waiting = pending(interaction);
    if (!waiting && !passwordless(interaction)) throw new AppError('interaction_expired');
    const context = auditContext(ctx, waiting ? { type: 'person', id: waiting.personId } : { type: 'anonymous' });
    try {
      const response = parseWebAuthnResponse<AuthenticationResponseJSON>(validForm(ctx, PasskeyResponseDto).response);
      const proof = await services.passkeys.authenticate(waiting?.personId, response, context);
      if (waiting) {
        await complete(ctx, interaction, waiting, proof.method, context);
        return;
      }
      const person = await services.persons.byId(proof.personId);
      if (!person || person.status !== 'active') throw new AppError('account_disabled');
      await services.audit.record(
        { ...context, actor: { type: 'person', id: person.id } },
        { action: 'person.sign_in', target: { type: 'person', id: person.id }, detail: { method: 'passkey' } },
      );
      const sessionUid = (interaction.session as { uid?: string } | undefined)?.uid;
      if (sessionUid) await services.unitGrants.clearSessionUnit(sessionUid);
      const params = interaction.params as Record<string, unknown>;
      // User verification on the device (biometrics or PIN) with the key held there: two factors (acr mfa).
      await finish(ctx, interaction, {
        login: { accountId: accountIdOf({ kind: 'person', id: person.id }), amr: [proof.method], acr: ACR_MFA, remember: true },
        unit_mode: params.login_as === 'unit' || typeof params.unit_hint === 'string',
      });
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const message = refusedForm(ctx, error).error;
      if (waiting) await page(ctx, interaction, { error: message }, error.status);
      else await passkeyPage(ctx, interaction, { error: message }, error.status);
    }
  });

  return { afterPassword, page };
}
