import fs from 'node:fs';
import path from 'node:path';
import { Router } from '@koa/router';
import { PUBLIC_DIR } from '../../shared/paths.js';
import type { Context } from 'koa';
import { state } from '../../shared/http/middleware.js';
import { render } from '../../shared/http/views.js';
import type { Services } from '../../services.js';
import type { CurrentAccount } from '../../shared/console-account.js';
import { unitAccess, type UnitAccess, type UnitAccessDeps } from '../bindings/access.js';
import { personLabel } from '../site/identity.js';

type TileState = 'open' | 'sign_in' | 'personal' | 'not_granted' | 'unverified';

/**
 * Issue 10: a tile opens the business system for the current identity. Acting for a unit, the link carries
 * `login_as=unit&unit_hint=<unit id>`, which the system's start page passes on to its authorization request, so
 * the person lands there as that unit (the provider honours the hint without asking when the SSO session acts
 * for that unit).
 */
function tileUrl(portalUrl: string, access: UnitAccess | null | undefined): string {
  if (!access) return portalUrl;
  const url = new URL(portalUrl);
  url.searchParams.set('login_as', 'unit');
  url.searchParams.set('unit_hint', access.unit.id);
  return url.toString();
}

/**
 * The portal (C-UI6): the platform's home after sign-in. It shows the current identity (the person, or the
 * person acting for a unit), a tile per business system of clients.json, open when the identity may use it and
 * saying why not otherwise, switching unit without the password, and sign-out.
 */
export function portalRoutes(services: Pick<Services, 'catalog' | 'persons' | 'unitGrants'> & UnitAccessDeps, currentAccount: CurrentAccount): Router {
  const router = new Router();
  const { catalog, persons, unitGrants } = services;
  // Tile icons (issue 14): public/icons/<business code>.svg when there is one, else a generic one; static files
  // served from our origin (CSP img-src 'self'), no external font or script.
  const icons = new Map(
    catalog.businesses.map((business) => [
      business.code,
      fs.existsSync(path.join(PUBLIC_DIR, 'icons', `${business.code}.svg`)) ? `/static/icons/${business.code}.svg` : '/static/icons/business.svg',
    ]),
  );

  function tileState(scope: string, requiresVerifiedUnit: boolean, access: UnitAccess | null | undefined, signedIn: boolean): TileState {
    if (!signedIn) return 'sign_in';
    if (!access) return 'personal';
    if (access.allowed.includes(scope)) return 'open';
    if (requiresVerifiedUnit && !access.unit.verified && access.binding.effectiveScopes.includes(scope)) return 'unverified';
    return 'not_granted';
  }

  async function page(ctx: Context): Promise<void> {
    const locale = state(ctx).locale;
    const account = await currentAccount(ctx);
    if (account?.kind === 'unit') return ctx.redirect('/unit');
    if (account?.kind === 'operator') return ctx.redirect('/operator');
    const person = account ? await persons.byId(account.id) : undefined;
    const acting = person ? await unitGrants.sessionUnit(account?.sessionUid) : undefined;
    const access = person && acting?.unitId ? await unitAccess(services, person.id, acting.unitId) : undefined;
    const tiles = catalog.businesses
      .filter((business) => business.portalUrl)
      .map((business) => ({
        name: business.name[locale],
        icon: icons.get(business.code),
        url: business.portalUrl && tileUrl(business.portalUrl, access),
        state: tileState(business.scope, business.requiresVerifiedUnit, access, !!person),
      }));
    const displayName = person ? personLabel(person, locale) : undefined;
    if (person && displayName) {
      (ctx.state as { identity?: unknown }).identity = { kind: 'person', name: displayName, ...(access ? { unit: access.unit.name } : {}) };
    }
    render(ctx, 'portal/index.njk', { person, displayName, access, tiles });
  }

  router.get('/', page);
  router.get('/portal', page);
  return router;
}
