import type { AccountKind } from './account-id.js';

/** Who did something, as the audit log records it. Lives in `shared` so HTTP helpers can build it without a module. */
export type ActorType = AccountKind | 'system' | 'anonymous';

export interface Actor {
  type: ActorType;
  id?: string | undefined;
}

/** Who, from where: attached to every audit entry of a request. */
export interface AuditContext {
  actor: Actor;
  actingUnitId?: string | undefined;
  ip?: string | undefined;
  requestId?: string | undefined;
}
