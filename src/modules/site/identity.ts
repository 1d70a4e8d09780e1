import type { Context, Middleware, Next } from 'koa';
import type { FrameIdentity } from '../../shared/http/views.js';
import { state } from '../../shared/http/middleware.js';
import { translate, type Locale } from '../../shared/i18n/index.js';
import type { Services } from '../../services.js';
import { consoleAccount } from '../../shared/console-account.js';

export type IdentityServices = Pick<Services, 'persons' | 'units' | 'operators' | 'unitGrants'>;

/** A name with its login name: 李四（lisi） in Chinese, 李四 (lisi) in English. */
export function nameWithLogin(name: string, login: string, locale: Locale = 'zh-CN'): string {
  return translate(locale, 'frame.name_login', { name, login });
}

/** How the frame names a person: 李四（lisi） when real-name verified, else the login name. */
export function personLabel(person: { loginName: string; legalName?: string | null; realnameStatus?: string }, locale: Locale = 'zh-CN'): string {
  return person.realnameStatus === 'verified' && person.legalName ? nameWithLogin(person.legalName, person.loginName, locale) : person.loginName;
}

/** The identity bar of the page frame for a signed-in person (with the unit acted for), unit account or operator. */
export async function identityOf(
  services: IdentityServices,
  kind: FrameIdentity['kind'],
  id: string,
  sessionUid?: string,
  locale: Locale = 'zh-CN',
): Promise<FrameIdentity | undefined> {
  if (kind === 'person') {
    const person = await services.persons.byId(id);
    if (!person) return undefined;
    const acting = await services.unitGrants.sessionUnit(sessionUid);
    const unit = acting?.personId === id && acting.unitId ? await services.units.byId(acting.unitId) : undefined;
    return { kind, name: personLabel(person, locale), ...(unit ? { unit: unit.name } : {}) };
  }
  if (kind === 'unit') {
    const unit = await services.units.byId(id);
    return unit && { kind, name: nameWithLogin(unit.name, unit.loginName, locale) };
  }
  const operator = await services.operators.byId(id);
  return operator && { kind, name: nameWithLogin(operator.displayName, operator.loginName, locale) };
}

/** Router middleware after requireAccount: fills ctx.state.identity for the frame's identity bar. */
export function frameIdentity(services: IdentityServices): Middleware {
  return async (ctx: Context, next: Next) => {
    const account = consoleAccount(ctx);
    (ctx.state as { identity?: FrameIdentity }).identity = await identityOf(services, account.kind, account.id, account.sessionUid, state(ctx).locale);
    await next();
  };
}
