import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { AppError } from '../shared/errors.js';
import { pickLocale } from '../shared/i18n/index.js';
import { state } from '../shared/http/middleware.js';
import { parseAccountId } from '../shared/account-id.js';
import type { Services } from '../services.js';
import { saveInteractionResult, type Interaction } from '../oidc/library-internals.js';
import { CONSOLE_CLIENT_ID, requestedAccountKind, type ConsoleKind } from '../oidc/console-client.js';

export type { Interaction } from '../oidc/library-internals.js';

/** Cookie (on the interaction's path) remembering the language the relying party asked for with ui_locales. */
export const INTERACTION_LOCALE = 'interaction_locale';

/**
 * The interaction of this request, checked against the uid in the path. An expired or foreign interaction is a
 * readable 400 ("sign-in has timed out"), never a 500.
 */
export async function loadInteraction(ctx: Context, provider: Provider): Promise<Interaction> {
  let interaction: Interaction;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (error) {
    if (error instanceof errors.SessionNotFound) throw new AppError('interaction_expired');
    throw error;
  }
  if (interaction.uid !== ctx.params.uid) throw new AppError('interaction_expired');
  const params = interaction.params as Record<string, unknown>;
  const uiLocales = typeof params.ui_locales === 'string' ? params.ui_locales : undefined;
  const query = ctx.query as Record<string, unknown>;
  state(ctx).locale = pickLocale(typeof query.lang === 'string' ? query.lang : undefined, ctx.cookies.get('lang'), uiLocales);
  if (uiLocales && ctx.method === 'GET') {
    ctx.cookies.set(INTERACTION_LOCALE, pickLocale(uiLocales), {
      path: `/interaction/${interaction.uid}`,
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      maxAge: 15 * 60 * 1000,
    });
  }
  ctx.set('Cache-Control', 'no-store');
  return interaction;
}

/** The kind of account this interaction signs in (persons for every business system). */
export function accountKindOf(interaction: Interaction, services: Pick<Services, 'catalog'>): ConsoleKind {
  const params = interaction.params as Record<string, unknown>;
  return requestedAccountKind(params.client_id, params.console, (clientId) => services.catalog.client(clientId)?.accountKind);
}

/**
 * The account a re-authentication is for (S-34): the console asked with `reauth=1` and the SSO session is signed
 * in with an account of the interaction's kind. Then only that account's password is accepted.
 */
export function reauthAccountOf(interaction: Interaction, services: Pick<Services, 'catalog'>): { kind: ConsoleKind; id: string } | undefined {
  const params = interaction.params as Record<string, unknown>;
  if (params.client_id !== CONSOLE_CLIENT_ID || params.reauth !== '1') return undefined;
  const ref = parseAccountId((interaction.session as { accountId?: string } | undefined)?.accountId);
  const kind = accountKindOf(interaction, services);
  return ref && ref.kind === kind && kind !== 'operator' ? { kind, id: ref.id } : undefined;
}

/** The name of the client to show, in the page's language. */
export function clientName(services: Pick<Services, 'catalog'>, clientId: unknown, locale: 'zh-CN' | 'en'): string {
  const client = services.catalog.client(clientId);
  if (client) return client.name[locale];
  return locale === 'en' ? 'Unified Identity Platform' : '统一身份认证平台';
}

/**
 * Completes the interaction with a result and sends the browser back to the authorization endpoint. What the
 * library's interactionResult does, on the interaction this request already loaded (no second read).
 */
export async function finish(ctx: Context, interaction: Interaction, result: Record<string, unknown>, merge = false): Promise<void> {
  await saveInteractionResult(interaction, merge && !('error' in result) ? { ...interaction.lastSubmission, ...result } : result);
  ctx.status = 303;
  ctx.redirect(interaction.returnTo);
}
