/**
 * The lifecycle of a counter authorisation code as data (R-U5): a code is live when issued; redeeming it uses it,
 * issuing the unit a new code or the last allowed wrong attempt invalidates it, and time expires it. Every state
 * but `live` is terminal. No status column: the state is derived from `used_at`, `invalidated_at` and
 * `expires_at`, and each terminal state but `expired` is the column its transition sets.
 */
export type CodeState = 'live' | 'used' | 'expired' | 'invalidated';
export type CodeAction = 'redeem' | 'invalidate';

export const CODE_TRANSITIONS = {
  redeem: { from: ['live'], to: 'used', by: ['unit', 'person'], column: 'used_at' },
  invalidate: { from: ['live'], to: 'invalidated', by: ['operator', 'system'], column: 'invalidated_at' },
} as const satisfies Record<CodeAction, { from: readonly CodeState[]; to: CodeState; by: readonly string[]; column: string }>;

export const CODE_TERMINAL: readonly CodeState[] = ['used', 'expired', 'invalidated'];

export function codeState(code: { usedAt: Date | null; invalidatedAt: Date | null; expiresAt: Date }, at: Date): CodeState {
  if (code.usedAt) return 'used';
  if (code.invalidatedAt) return 'invalidated';
  return code.expiresAt <= at ? 'expired' : 'live';
}

/** SQL: no transition has ended the code (it may still have expired). */
export const CODE_UNSETTLED_SQL = Object.values(CODE_TRANSITIONS)
  .map((transition) => `${transition.column} IS NULL`)
  .join(' AND ');

/** SQL: the code is live at the time in the parameter `at` (for example `$2`). */
export function codeLiveSql(at: string): string {
  return `${CODE_UNSETTLED_SQL} AND expires_at > ${at}`;
}
