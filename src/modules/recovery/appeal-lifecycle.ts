/**
 * The lifecycle of an appeal as data (R-R3): an operator approves or rejects a pending appeal; the applicant
 * completes an approved one once through its single-use link. `rejected` and `completed` are terminal; "expired"
 * is not a status but derived from `link_expires_at` (an approved appeal whose link ran out).
 */
export type AppealStatus = 'pending' | 'approved' | 'rejected' | 'completed';
export type AppealAction = 'approve' | 'reject' | 'complete';

export const APPEAL_STATUSES: readonly AppealStatus[] = ['pending', 'approved', 'rejected', 'completed'];

export const APPEAL_TRANSITIONS = {
  approve: { from: ['pending'], to: 'approved', by: 'operator' },
  reject: { from: ['pending'], to: 'rejected', by: 'operator' },
  complete: { from: ['approved'], to: 'completed', by: 'applicant' },
} as const satisfies Record<AppealAction, { from: readonly AppealStatus[]; to: AppealStatus; by: 'operator' | 'applicant' }>;

export const APPEAL_TERMINAL: readonly AppealStatus[] = ['rejected', 'completed'];

export function canTransitionAppeal(action: AppealAction, from: AppealStatus): boolean {
  return (APPEAL_TRANSITIONS[action].from as readonly AppealStatus[]).includes(from);
}

/** What the applicant and the operator see: the stored status, or `expired` for an approved appeal past its link. */
export type AppealState = AppealStatus | 'expired';

export function appealState(appeal: { status: AppealStatus; linkExpiresAt: Date | null }, at: Date): AppealState {
  if (appeal.status === 'approved' && appeal.linkExpiresAt && appeal.linkExpiresAt <= at) return 'expired';
  return appeal.status;
}
