/**
 * The lifecycle of a person's real-name verification as data (R-P2): the person submits name and identity number;
 * an operator at the counter or the identity-verification service verifies or rejects the pending submission; a
 * rejected person may submit again. `verified` is terminal. The submission a decision applies to is derived from
 * `realname_submitted_at` (a service answer for an earlier submission decides nothing).
 */
export type RealnameStatus = 'none' | 'pending' | 'verified' | 'rejected';
export type RealnameAction = 'submit' | 'verify' | 'reject';

export const REALNAME_TRANSITIONS = {
  submit: { from: ['none', 'rejected'], to: 'pending', by: ['person'] },
  verify: { from: ['pending'], to: 'verified', by: ['operator', 'service'] },
  reject: { from: ['pending'], to: 'rejected', by: ['operator', 'service'] },
} as const satisfies Record<RealnameAction, { from: readonly RealnameStatus[]; to: RealnameStatus; by: readonly ('person' | 'operator' | 'service')[] }>;

export const REALNAME_TERMINAL: readonly RealnameStatus[] = ['verified'];

export function canTransitionRealname(action: RealnameAction, from: RealnameStatus): boolean {
  return (REALNAME_TRANSITIONS[action].from as readonly RealnameStatus[]).includes(from);
}
