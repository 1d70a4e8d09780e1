/**
 * The provider's session knows one account id. Persons use their UUID (it is the `sub` of every token); unit
 * accounts and operators are prefixed, so they can never be mistaken for a person.
 */
export const ACCOUNT_KINDS = ['person', 'unit', 'operator'] as const;

/** The one list of account kinds: the session's account ids, the consoles, sign-in throttling, audit actors, clients. */
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export interface AccountRef {
  kind: AccountKind;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical lower-case UUID, as every id of ours is; anything else can never match a row. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function isAccountKind(value: unknown): value is AccountKind {
  return (ACCOUNT_KINDS as readonly unknown[]).includes(value);
}

export function parseAccountId(accountId: string | undefined): AccountRef | undefined {
  if (!accountId) return undefined;
  const colon = accountId.indexOf(':');
  const kind = colon < 0 ? 'person' : accountId.slice(0, colon);
  const id = colon < 0 ? accountId : accountId.slice(colon + 1);
  if (!isAccountKind(kind) || !UUID.test(id)) return undefined;
  if (kind === 'person' && colon >= 0) return undefined;
  return { kind, id };
}

export function accountIdOf(ref: AccountRef): string {
  return ref.kind === 'person' ? ref.id : `${ref.kind}:${ref.id}`;
}
