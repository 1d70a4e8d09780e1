/**
 * The lifecycle of a binding as data (R-B1–R-B6): which action moves which status to which, and who may do
 * it. `declined` and `unbound` are terminal; "expired" is not a status but derived from `valid_until`.
 */
export type BindingStatus = 'pending' | 'active' | 'declined' | 'unbound';
export type BindingRole = 'handler' | 'contact';
export type BindingAction = 'accept' | 'decline' | 'unbind';

export const BINDING_STATUSES: readonly BindingStatus[] = ['pending', 'active', 'declined', 'unbound'];

export const TRANSITIONS = {
  accept: { from: ['pending'], to: 'active', by: 'person' },
  decline: { from: ['pending'], to: 'declined', by: 'person' },
  unbind: { from: ['pending', 'active'], to: 'unbound', by: 'unit' },
} as const satisfies Record<BindingAction, { from: readonly BindingStatus[]; to: BindingStatus; by: 'person' | 'unit' }>;

/** The actions the bound person takes (the account centre); the others are the unit's. */
export type PersonBindingAction = { [A in BindingAction]: (typeof TRANSITIONS)[A]['by'] extends 'person' ? A : never }[BindingAction];

export const TERMINAL: readonly BindingStatus[] = ['declined', 'unbound'];

/** A live binding (one per unit and person, R-B2): any status that is not terminal. */
export const LIVE: readonly BindingStatus[] = BINDING_STATUSES.filter((status) => !TERMINAL.includes(status));

export function canTransition(action: BindingAction, from: BindingStatus): boolean {
  return (TRANSITIONS[action].from as readonly BindingStatus[]).includes(from);
}

/** What a person and the unit see: the stored status, or `expired` / `not_yet_valid` for an active binding. */
export type EffectiveStatus = BindingStatus | 'expired' | 'not_yet_valid';

export function effectiveStatus(binding: { status: BindingStatus; validFrom: Date | null; validUntil: Date | null }, at: Date): EffectiveStatus {
  if (binding.status !== 'active') return binding.status;
  if (binding.validUntil && binding.validUntil <= at) return 'expired';
  if (binding.validFrom && binding.validFrom > at) return 'not_yet_valid';
  return 'active';
}
