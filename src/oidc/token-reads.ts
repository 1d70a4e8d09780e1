import type { Context, Middleware, Next } from 'koa';
import type { TokenReads } from './adapter.js';
import { parseAccountId } from '../shared/account-id.js';
import { keepRead, withRequestReads } from '../shared/request-reads.js';
import { personJoin } from '../modules/persons/service.js';
import { unitJoin } from '../modules/units/service.js';
import { liveBindingJoin } from '../modules/bindings/service.js';
import { grantUnitJoin } from './unit-grants.js';

const UUID_SQL = "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'";

/**
 * Issue #15 (Q-P2), C-T5: what findAccount and introspection's policy read after the token, read with it. The
 * adapter's lookup of a token (`o`) also joins its person (a person's account id is its UUID), its grant's unit
 * link, that unit (with its second-factor policy) and the live binding of the link's person and unit, and keeps
 * them for the rest of the request under the kinds that `persons.byId`, `unitGrants.forGrant`, `units.byId` and
 * `bindings.activeFor` ask for (`readOnce`). A token of a personal grant has no link: only the person is kept.
 */
export const TOKEN_READS: TokenReads = {
  columns: [personJoin.columns('tp'), grantUnitJoin.columns('tgu'), unitJoin.columns('tu'), liveBindingJoin.columns('tb')].join(', '),
  joins: `LEFT JOIN person tp ON tp.id = CASE WHEN o.account_id ~ ${UUID_SQL} THEN o.account_id::uuid END
    LEFT JOIN grant_unit tgu ON tgu.grant_id = o.grant_id
    LEFT JOIN unit tu ON tu.id = tgu.unit_id
    LEFT JOIN binding tb ON ${liveBindingJoin.on('tb', 'tgu.unit_id', 'tgu.person_id')}`,
  keep(row) {
    const account = parseAccountId(typeof row.account_id === 'string' ? row.account_id : undefined);
    if (account?.kind === 'person') keepRead('person', account.id, personJoin.read(row, 'tp'));
    if (typeof row.grant_id !== 'string') return;
    const link = grantUnitJoin.read(row, 'tgu');
    keepRead('grant-unit', row.grant_id, link);
    if (!link) return;
    keepRead('unit', link.unitId, unitJoin.read(row, 'tu'));
    keepRead('live-binding', `${link.unitId} ${link.personId}`, liveBindingJoin.read(row, 'tb'));
  },
};

/**
 * Requests to these paths (introspection, userinfo) keep what their token lookup read, for themselves only
 * (`withRequestReads`); the token endpoint does so in `atomicTokenRequests`.
 */
export function requestReadsFor(paths: string[]): Middleware {
  const kept = new Set(paths);
  return (ctx: Context, next: Next) => (kept.has(ctx.path) ? withRequestReads(next) : next());
}
