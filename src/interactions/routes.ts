import { refusedForm } from '../shared/http/form-errors.js';
import { Router } from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import QRCode from 'qrcode';
import { AppError } from '../shared/errors.js';
import { pickLocale, translate } from '../shared/i18n/index.js';
import { auditContext, csrfToken, parseBody, verifyCsrf } from '../shared/http/forms.js';
import { state } from '../shared/http/middleware.js';
import { formValues, validForm } from '../shared/http/validate.js';
import { PersonSignInDto, SignInDto } from './dto.js';
import { TotpCodeDto } from '../modules/mfa/dto.js';
import { render } from '../shared/http/views.js';
import { parseAccountId } from '../shared/account-id.js';
import { isIdentityScope } from '../config/clients.js';
import type { Services } from '../services.js';
import { accountIdOf } from '../shared/account-id.js';
import { accountKindOf, clientName, finish, INTERACTION_LOCALE, loadInteraction, reauthAccountOf, type Interaction } from './context.js';
import { saveInteractionResult } from '../oidc/library-internals.js';
import { maskMobile } from '../modules/persons/rules.js';
import { unitInteractionRoutes } from './unit-routes.js';
import { takeRegistration } from '../shared/registered-sign-in.js';
import { pendingStep, secondFactorInteractionRoutes } from './second-factor-routes.js';
import { ACR_MFA, ACR_PASSWORD } from '../oidc/assurance.js';
import { saveGrant } from '../oidc/grants.js';
import { decideUnit, type UnitResults } from '../oidc/unit-selection.js';

/** How long the first factor of an operator sign-in stays valid for the second. */
const OPERATOR_STEP_SECONDS = 5 * 60;

interface OperatorStep {
  operatorId: string;
  at: number;
}

function operatorStep(interaction: Interaction): OperatorStep | undefined {
  return pendingStep<OperatorStep>(interaction, 'operatorPassword', OPERATOR_STEP_SECONDS);
}

interface LoginView {
  error?: string | undefined;
  field?: string | undefined;
  account?: string | undefined;
  tab?: string | undefined;
  fieldErrors?: Record<string, string>;
  unitMode?: boolean;
  unitConsole?: boolean;
}

/** The sign-in, second-factor and consent pages of the provider's interactions (C-UI1). */
export function interactionRoutes(
  provider: Provider,
  services: Pick<
    Services,
    'bindings' | 'catalog' | 'config' | 'now' | 'operators' | 'persons' | 'throttle' | 'unitGrants' | 'units' | 'verification' | 'notices' | 'audit' | 'mfa' | 'passkeys'
  >,
): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  // Errors raised before a handler runs (CSRF, body size or type) speak the language of the sign-in, kept in a
  // cookie of the interaction's path when its page was shown (reading the interaction would wait on the database
  // while an oversized body is still arriving).
  router.use(async (ctx, next) => {
    const remembered = ctx.cookies.get(INTERACTION_LOCALE);
    if (!ctx.query.lang && !ctx.cookies.get('lang') && remembered) state(ctx).locale = pickLocale(remembered);
    await next();
  });
  const unitPages = unitInteractionRoutes(router, provider, services);
  const secondFactor = secondFactorInteractionRoutes(router, provider, services);

  /** A refused sign-in form: the message next to its field, every failing field's message at once. */
  function errorView(ctx: Context, error: AppError): Pick<LoginView, 'error' | 'field' | 'fieldErrors'> {
    const view = refusedForm(ctx, error);
    return { error: view.error, field: view.errorField, fieldErrors: view.fieldErrors };
  }

  async function renderLogin(ctx: Context, interaction: Interaction, view: LoginView = {}, status = 200): Promise<void> {
    const locale = state(ctx).locale;
    const kind = accountKindOf(interaction, services);
    const uid = interaction.uid;
    const common = {
      uid,
      csrf: csrfToken(ctx),
      error: view.error,
      errorField: view.field,
      fieldErrors: view.fieldErrors ?? {},
      languageSwitch: `/lang?to=${locale === 'en' ? 'zh-CN' : 'en'}&return=/interaction/${uid}`,
    };
    if (kind === 'operator') {
      const step = operatorStep(interaction);
      if (step) {
        const operator = await services.operators.byId(step.operatorId);
        if (operator && !operator.totpEnrolled) {
          const enrolment = await services.operators.enrolment(operator.id);
          const qr = await QRCode.toDataURL(enrolment.uri, { margin: 1, width: 220 });
          const developmentCode = services.config.mode === 'production' ? undefined : await services.operators.developmentCode(operator.id);
          render(ctx, 'interaction/totp-enrol.njk', { ...common, qr, secret: enrolment.secret.replace(/(.{4})/g, '$1 ').trim(), developmentCode }, status);
          return;
        }
        const developmentCode = services.config.mode === 'production' || !operator ? undefined : await services.operators.developmentCode(operator.id);
        render(ctx, 'interaction/totp.njk', { ...common, developmentCode }, status);
        return;
      }
      render(ctx, 'interaction/operator-login.njk', { ...common, account: view.account }, status);
      return;
    }
    if (await secondFactor.page(ctx, interaction, { error: view.error, field: view.field, fieldErrors: view.fieldErrors ?? {} }, status)) return;
    const reauth = await reauthView(interaction);
    if (reauth) {
      render(ctx, 'interaction/reauth.njk', { ...common, ...reauth }, status);
      return;
    }
    const params = interaction.params as Record<string, unknown>;
    const sessionRef = parseAccountId((interaction.session as { accountId?: string } | undefined)?.accountId);
    const notice =
      sessionRef && sessionRef.kind !== kind
        ? translate(locale, sessionRef.kind === 'unit' && kind === 'person' ? 'login.unit_not_allowed' : 'login.signed_in_as_other')
        : undefined;
    render(
      ctx,
      'interaction/login.njk',
      {
        ...common,
        tab: view.tab ?? (kind === 'unit' ? 'unit' : 'person'),
        unitTabOnly: kind === 'unit',
        unitMode: view.unitMode ?? (params.login_as === 'unit' || typeof params.unit_hint === 'string'),
        unitConsole: view.unitConsole,
        account: view.account ?? (typeof params.login_hint === 'string' ? params.login_hint : ''),
        client: clientName(services, params.client_id, locale),
        notice,
      },
      status,
    );
  }

  /** The fixed account of a re-authentication page (S-34): who is signed in, shown, never chosen. */
  async function reauthView(interaction: Interaction): Promise<{ kind: 'person' | 'unit'; loginName: string; display: string; action: string } | undefined> {
    const target = reauthAccountOf(interaction, services);
    if (target?.kind === 'person') {
      const person = await services.persons.byId(target.id);
      return person && { kind: 'person', loginName: person.loginName, display: maskMobile(person.mobile), action: 'login' };
    }
    if (target?.kind === 'unit') {
      const unit = await services.units.byId(target.id);
      return unit && { kind: 'unit', loginName: unit.loginName, display: unit.name, action: 'unit-login' };
    }
    return undefined;
  }

  /**
   * On a re-authentication the credentials must be those of the signed-in account (S-34): another account is
   * refused before any password check with a readable message, so the session can never switch to it here.
   * Returns the login name to check the password of.
   */
  async function reauthLoginName(interaction: Interaction, typed: string): Promise<string | undefined> {
    const view = await reauthView(interaction);
    if (!view) return undefined;
    const entered = typed.trim().toLowerCase();
    if (entered !== '' && entered !== view.loginName.toLowerCase()) {
      const owner = view.kind === 'person' ? await services.persons.byAccount(entered) : undefined;
      if (!owner || owner.loginName.toLowerCase() !== view.loginName.toLowerCase()) {
        throw new AppError('reauth_other_account', { params: { account: view.loginName }, field: 'account' });
      }
    }
    return view.loginName;
  }

  /**
   * A person who has just registered in this browser (registered.ts) is signed in by this interaction without a
   * second password entry, as by the password form: a new acting identity, the library's login result (which
   * regenerates the session id, S-30). Never on a re-authentication or for a unit or operator sign-in.
   */
  async function signInRegistered(ctx: Context, interaction: Interaction): Promise<boolean> {
    if (accountKindOf(interaction, services) !== 'person' || reauthAccountOf(interaction, services)) return false;
    const personId = await takeRegistration(ctx, services.throttle, services.now());
    const person = personId ? await services.persons.signInAfterRegistration(personId, auditContext(ctx)) : undefined;
    if (!person) return false;
    const sessionUid = (interaction.session as { uid?: string } | undefined)?.uid;
    if (sessionUid) await services.unitGrants.clearSessionUnit(sessionUid);
    const params = interaction.params as Record<string, unknown>;
    await finish(ctx, interaction, {
      login: { accountId: accountIdOf({ kind: 'person', id: person.id }), amr: ['pwd'], acr: ACR_PASSWORD, remember: true },
      unit_mode: params.login_as === 'unit' || typeof params.unit_hint === 'string',
    });
    return true;
  }

  router.get('/', async (ctx) => {
    let interaction: Interaction;
    try {
      interaction = await loadInteraction(ctx, provider);
    } catch (error) {
      // Browser Back after a finished sign-in reopens its interaction, which no longer exists: nothing timed out,
      // so a browser that is signed in goes home (the portal shows who is signed in) rather than to an error page.
      if (error instanceof AppError && error.code === 'interaction_expired' && (await provider.Session.get(ctx as never)).accountId) {
        ctx.set('Cache-Control', 'no-store');
        ctx.redirect('/');
        return;
      }
      throw error;
    }
    switch (interaction.prompt.name) {
      case 'login': {
        if (await signInRegistered(ctx, interaction)) return;
        const tab = ctx.query.tab === 'unit' ? 'unit' : undefined;
        await renderLogin(ctx, interaction, { tab });
        return;
      }
      case 'select_unit':
        await unitPages.picker(ctx, interaction);
        return;
      case 'consent': {
        const locale = state(ctx).locale;
        const params = interaction.params as Record<string, string>;
        const details = interaction.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
        const scopes = new Set([...(details.missingOIDCScope ?? []), ...Object.values(details.missingResourceScopes ?? {}).flat()]);
        const items = [...scopes].map((scope) => {
          const business = services.catalog.businesses.find((entry) => entry.scope === scope);
          if (business) return translate(locale, 'scope.business', { name: business.name[locale] });
          const key = `scope.${scope}`;
          return isIdentityScope(scope) ? translate(locale, key as 'scope.openid') : scope;
        });
        render(ctx, 'interaction/consent.njk', { uid: interaction.uid, csrf: csrfToken(ctx), client: clientName(services, params.client_id, locale), items });
        return;
      }
      default:
        throw new AppError('interaction_expired');
    }
  });

  router.post('/login', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (interaction.prompt.name !== 'login') throw new AppError('interaction_expired');
    const form = formValues(ctx, PersonSignInDto);
    if (accountKindOf(interaction, services) !== 'person') throw new AppError('forbidden');
    try {
      validForm(ctx, PersonSignInDto);
      const account = (await reauthLoginName(interaction, form.account)) ?? form.account;
      const person = await services.persons.authenticate(account, form.password, auditContext(ctx));
      // With an authenticator, the second factor first (issue #18); then the sign-in completes there.
      await secondFactor.afterPassword(ctx, interaction, person.id, form.unitMode === '1', async () => {
        // A new sign-in starts a new acting identity: personally, or the unit picked next (C-UI2).
        const sessionUid = (interaction.session as { uid?: string } | undefined)?.uid;
        if (sessionUid) await services.unitGrants.clearSessionUnit(sessionUid);
        await finish(ctx, interaction, {
          login: { accountId: accountIdOf({ kind: 'person', id: person.id }), amr: ['pwd'], acr: ACR_PASSWORD, remember: true },
          unit_mode: form.unitMode === '1',
        });
      });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      await renderLogin(ctx, interaction, { ...errorView(ctx, error), account: form.account, unitMode: form.unitMode === '1' }, error.status);
    }
  });

  router.post('/unit-login', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (interaction.prompt.name !== 'login') throw new AppError('interaction_expired');
    const form = formValues(ctx, SignInDto);
    try {
      validForm(ctx, SignInDto);
      const account = (await reauthLoginName(interaction, form.account)) ?? form.account;
      const unit = await services.units.authenticate(account, form.password, auditContext(ctx));
      if (accountKindOf(interaction, services) !== 'unit') {
        // R-U3: a unit account never signs in to a business system; it may go to its console instead.
        await renderLogin(ctx, interaction, { tab: 'person', error: translate(state(ctx).locale, 'login.unit_not_allowed'), unitConsole: true }, 403);
        return;
      }
      await finish(ctx, interaction, { login: { accountId: accountIdOf({ kind: 'unit', id: unit.id }), amr: ['pwd'], acr: ACR_PASSWORD, remember: true } });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      await renderLogin(ctx, interaction, { tab: 'unit', ...errorView(ctx, error), account: form.account }, error.status);
    }
  });

  router.post('/operator-login', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (interaction.prompt.name !== 'login' || accountKindOf(interaction, services) !== 'operator') throw new AppError('forbidden');
    const form = formValues(ctx, SignInDto);
    try {
      validForm(ctx, SignInDto);
      const operator = await services.operators.authenticatePassword(form.account, form.password, auditContext(ctx));
      await saveInteractionResult(interaction, { operatorPassword: { operatorId: operator.id, at: Math.floor(Date.now() / 1000) } satisfies OperatorStep });
      ctx.status = 303;
      ctx.redirect(`/interaction/${interaction.uid}`);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      await renderLogin(ctx, interaction, { ...errorView(ctx, error), account: form.account }, error.status);
    }
  });

  router.post('/totp', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    const step = operatorStep(interaction);
    if (interaction.prompt.name !== 'login' || accountKindOf(interaction, services) !== 'operator' || !step) throw new AppError('interaction_expired');
    try {
      const form = validForm(ctx, TotpCodeDto);
      await services.operators.verifyTotp(step.operatorId, form.totp, auditContext(ctx, { type: 'operator', id: step.operatorId }));
      await finish(ctx, interaction, { login: { accountId: accountIdOf({ kind: 'operator', id: step.operatorId }), amr: ['pwd', 'otp'], acr: ACR_MFA, remember: false } });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      const view = errorView(ctx, error);
      await renderLogin(ctx, interaction, { ...view, field: view.field ?? 'totp' }, error.status);
    }
  });

  router.post('/confirm', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    if (interaction.prompt.name !== 'consent') throw new AppError('interaction_expired');
    const {
      prompt: { details },
      params,
      session,
    } = interaction;
    const accountId = (session as { accountId?: string } | undefined)?.accountId;
    const clientId = String(params.client_id);
    if (!accountId) throw new AppError('interaction_expired');
    // The unit this sign-in is for, decided exactly as at the authorization endpoint (C-T8): the consent extends
    // that unit's grant through the one place that creates grants, so the unit is linked whatever the client.
    const unitId = await decideUnit(
      {
        accountId,
        sessionUid: (session as { uid?: string } | undefined)?.uid,
        clientId,
        params: params as Record<string, unknown>,
        // What the earlier steps of this authorization submitted (login, picker) is the consent interaction's lastSubmission.
        result: (interaction.lastSubmission ?? interaction.result ?? {}) as UnitResults,
        selectRequested: String(params.prompt ?? '')
          .split(' ')
          .includes('select_unit'),
      },
      services,
    );
    if (unitId === undefined) throw new AppError('interaction_expired');
    const person = parseAccountId(accountId);
    const binding = unitId && person ? await services.bindings.activeFor(person.id, unitId) : undefined;
    if (unitId && !binding) throw new AppError('unit_not_selectable');
    const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
    if (interaction.grantId && !existing) throw new AppError('interaction_expired');
    const missing = details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    const grant = await saveGrant(
      provider,
      services.unitGrants,
      { grant: existing, accountId, clientId, unit: unitId && person && binding ? { personId: person.id, unitId, bindingId: binding.id } : undefined },
      { oidcScopes: missing.missingOIDCScope ?? [], claims: missing.missingOIDCClaims ?? [], resourceScopes: missing.missingResourceScopes ?? {} },
    );
    if (!grant?.jti) throw new AppError('interaction_expired');
    await finish(ctx, interaction, { consent: { grantId: grant.jti } }, true);
  });

  router.post('/abort', parseBody(), verifyCsrf(), async (ctx) => {
    const interaction = await loadInteraction(ctx, provider);
    await finish(ctx, interaction, { error: 'access_denied', error_description: 'End-User aborted interaction' });
  });

  return router;
}
