/**
 * The provider's session knows one account id. Persons use their UUID (it is the `sub` of every token); unit
 * accounts and operators are prefixed, so they can never be mistaken for a person.
 */
export type AccountKind = 'person' | 'unit' | 'operator';

export interface AccountRef {
  kind: AccountKind;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical lower-case UUID, as every id of ours is; anything else can never match a row. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export function parseAccountId(accountId: string | undefined): AccountRef | undefined {
  if (!accountId) return undefined;
  const colon = accountId.indexOf(':');
  const kind = colon < 0 ? 'person' : accountId.slice(0, colon);
  const id = colon < 0 ? accountId : accountId.slice(colon + 1);
  if ((kind !== 'person' && kind !== 'unit' && kind !== 'operator') || !UUID.test(id)) return undefined;
  if (kind === 'person' && colon >= 0) return undefined;
  return { kind, id };
}

export function accountIdOf(ref: AccountRef): string {
  return ref.kind === 'person' ? ref.id : `${ref.kind}:${ref.id}`;
}
