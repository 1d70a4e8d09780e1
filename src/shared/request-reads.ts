import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Rows one request has already read, in the statement that found its token (issue #15, Q-P2): the token lookup of
 * the token, introspection and userinfo endpoints also reads, by LEFT JOINs, the grant, the person, the grant's
 * unit link, the unit and the binding, and the later steps of the SAME request take them from here instead of
 * asking again. It is one consistent read of current data, not a cache (C-T5): the store lives only as long as
 * the request (`withRequestReads`), an entry answers once per kind and key as read then, nothing is kept across
 * requests, and a read that was not made with the token goes to the database as before.
 */
const scope = new AsyncLocalStorage<Map<string, unknown>>();

/** Runs one request with its own (empty) store of reads. */
export function withRequestReads<T>(work: () => Promise<T>): Promise<T> {
  return scope.run(new Map(), work);
}

/** True inside a request that keeps its reads (the token lookup then joins the rows its later steps need). */
export function keepsRequestReads(): boolean {
  return scope.getStore() !== undefined;
}

/** Records what this request read of `kind` under `key` (`undefined`: read, and absent). */
export function keepRead(kind: string, key: string, value: unknown): void {
  scope.getStore()?.set(`${kind} ${key}`, value);
}

/** Drops a kept read (the request itself changed that row). */
export function forgetRead(kind: string, key: string): void {
  scope.getStore()?.delete(`${kind} ${key}`);
}

/** Drops every kept read of `kind` (the request changed a row of that kind it knows only by another key). */
export function forgetReads(kind: string): void {
  const reads = scope.getStore();
  for (const name of reads?.keys() ?? []) if (name.startsWith(`${kind} `)) reads!.delete(name);
}

/** What this request already read of `kind` under `key`, else `read()` (whose answer is not kept). */
export function readOnce<T>(kind: string, key: string, read: () => Promise<T>): Promise<T> {
  const reads = scope.getStore();
  const name = `${kind} ${key}`;
  if (reads?.has(name)) return Promise.resolve(reads.get(name) as T);
  return read();
}

/**
 * For a statement of another module that joins a table under `alias`: each column read as `alias.column`, named
 * `alias_column`, so the module's own row mapper reads it back (`unaliased`).
 */
export function aliasedColumns(alias: string, columns: readonly string[], expressions: Record<string, string> = {}): string {
  return [...columns.map((column) => `${alias}.${column} AS ${alias}_${column}`), ...Object.entries(expressions).map(([name, sql]) => `${sql} AS ${alias}_${name}`)].join(', ');
}

/** The columns `aliasedColumns` named, under their own names; undefined when the join found no row (no `key`). */
export function unaliased<R>(row: Record<string, unknown>, alias: string, columns: readonly string[], key = 'id'): R | undefined {
  if (row[`${alias}_${key}`] === null || row[`${alias}_${key}`] === undefined) return undefined;
  return Object.fromEntries(columns.map((column) => [column, row[`${alias}_${column}`]])) as R;
}
