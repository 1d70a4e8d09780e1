/** `unit_id` → `unitId`, as a type. */
type CamelCase<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelCase<Tail>>}` : S;

/** A row's columns under their camelCase names, each with its column's type. */
export type Camelised<R> = { [K in keyof R & string as CamelCase<K>]: R[K] };

/**
 * A database row as a domain record: every column under its camelCase name (`unit_id` → `unitId`), values as the
 * driver returned them. The one mapping the stores share; a store adds what it derives (e.g. `verified` from
 * `verified_at`) and leaves out what is not part of its record before calling this.
 */
export function camelised<R extends object>(row: R): Camelised<R> {
  const record: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) record[column.replace(/_([a-z0-9])/g, (_, next: string) => next.toUpperCase())] = value;
  return record as Camelised<R>;
}
