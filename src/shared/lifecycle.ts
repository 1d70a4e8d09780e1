/**
 * A status filter for SQL built from a lifecycle table (`status IN ('pending', 'active')`). The states are
 * constants of a table, never input; each is checked to be a plain lower-case word, so the text stays a literal
 * that the planner matches to partial indexes.
 */
export function sqlStates(states: readonly string[]): string {
  if (states.length === 0 || !states.every((state) => /^[a-z_]+$/.test(state))) throw new Error(`not lifecycle states: ${states.join(', ')}`);
  return `(${states.map((state) => `'${state}'`).join(', ')})`;
}
