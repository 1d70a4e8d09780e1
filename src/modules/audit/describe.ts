import type { Services } from '../../services.js';
import { translate, type Locale } from '../../shared/i18n/index.js';
import type { AuditRecord } from './audit-log.js';

export interface Party {
  label: string;
  /** A page about the party (operator console only). */
  href?: string;
}

export interface DescribedEntry extends AuditRecord {
  actor: Party;
  target: Party | undefined;
  unit: Party | undefined;
}

/** The look-ups that name the parties of an audit entry. */
export type DescribeLookups = Pick<Services, 'persons' | 'units' | 'operators' | 'catalog'>;

/**
 * Audit entries as a person reads them: names and login names (李四（lisi）, 示例科技有限公司, 示例窗口（counter）)
 * instead of ids, 未登录访客 and 系统 instead of anonymous and system; with `links`, each links to its page in the
 * operator console. Each id is looked up once per page.
 */
export async function describeEntries(services: DescribeLookups, entries: AuditRecord[], locale: Locale, links: boolean): Promise<DescribedEntry[]> {
  const cache = new Map<string, Promise<Party | undefined>>();
  const party = (type: string | null, id: string | null): Promise<Party | undefined> => {
    if (!type) return Promise.resolve(undefined);
    if (type === 'anonymous' || type === 'system') return Promise.resolve({ label: translate(locale, `audit.who.${type}`) });
    if (!id) return Promise.resolve(undefined);
    const key = `${type}:${id}`;
    let found = cache.get(key);
    if (!found) {
      found = lookup(type, id);
      cache.set(key, found);
    }
    return found;
  };
  const lookup = async (type: string, id: string): Promise<Party | undefined> => {
    switch (type) {
      case 'person': {
        const person = await services.persons.byId(id);
        if (!person) return { label: translate(locale, 'audit.who.unknown') };
        const label = person.legalName ? translate(locale, 'frame.name_login', { name: person.legalName, login: person.loginName }) : person.loginName;
        return { label, ...(links ? { href: `/operator/persons/${person.id}` } : {}) };
      }
      case 'unit': {
        const unit = await services.units.byId(id);
        if (!unit) return { label: translate(locale, 'audit.who.unknown') };
        return { label: unit.name, ...(links ? { href: `/operator/units/${unit.id}` } : {}) };
      }
      case 'operator': {
        const operator = await services.operators.byId(id);
        return { label: operator ? translate(locale, 'frame.name_login', { name: operator.displayName, login: operator.loginName }) : translate(locale, 'audit.who.unknown') };
      }
      case 'client': {
        const client = services.catalog.client(id);
        return { label: client?.name[locale] ?? id };
      }
      case 'appeal':
        return { label: translate(locale, 'audit.who.appeal'), ...(links ? { href: `/operator/appeals/${id}` } : {}) };
      case 'binding':
        return { label: translate(locale, 'audit.who.binding') };
      default:
        return { label: type };
    }
  };
  return Promise.all(
    entries.map(async (entry) => ({
      ...entry,
      actor: (await party(entry.actorType, entry.actorId)) ?? { label: translate(locale, 'audit.who.unknown') },
      target: await party(entry.targetType, entry.targetId),
      unit: entry.actingUnitId ? await party('unit', entry.actingUnitId) : undefined,
    })),
  );
}
