import type { UnitRole } from './claims.js';

/**
 * The events the provider sends to a business system's webhook (Standard Webhooks payload shape:
 * `{ type, timestamp, data }`). Ids are the same as in tokens: `personId` is the `sub`, `unitId` the `unit_id`.
 * Business systems that keep their own records of who may act for a unit learn of delegation changes from them
 * (back-channel logout only ends sessions).
 */

interface BindingRef {
  bindingId: string;
  unitId: string;
  personId: string;
}

export interface BindingGrant extends BindingRef {
  role: UnitRole;
  /** The business scopes (`biz:<code>`) the binding grants now. */
  scopes: string[];
  /** ISO dates (`YYYY-MM-DD`), null when open. */
  validFrom: string | null;
  validUntil: string | null;
}

export interface EventData {
  /** The unit bound the person (pending until the person accepts, R-B1). */
  'binding.created': BindingGrant;
  /** The person accepted: the binding is active and its scopes usable. */
  'binding.accepted': BindingGrant;
  'binding.declined': BindingRef;
  /** 取消绑定: the person can no longer act for the unit (R-B4). */
  'binding.removed': BindingRef;
  /** The unit changed the permissions or the validity (R-B3), or the common contact changed (role). */
  'binding.permissions_changed': BindingGrant;
  /** The validity period ended (R-B6). */
  'binding.expired': BindingRef;
  /** The unit completed real-name verification (R-U5). */
  'unit.verified': { unitId: string };
  /** The unit's name changed (R-U4). */
  'unit.renamed': { unitId: string; name: string; previousName: string };
  /** The person was disabled: no tokens on any path (R-B6). */
  'person.disabled': { personId: string };
}

export type EventType = keyof EventData;

export const EVENT_TYPES: readonly EventType[] = [
  'binding.created',
  'binding.accepted',
  'binding.declined',
  'binding.removed',
  'binding.permissions_changed',
  'binding.expired',
  'unit.verified',
  'unit.renamed',
  'person.disabled',
];

/** One event of a known type. */
export type ProviderEvent = { [Type in EventType]: { type: Type; timestamp: string; data: EventData[Type] } }[EventType];

/** What a verified webhook carries: a known event, or one of a type this version of the kit does not know yet. */
export type WebhookEvent = ProviderEvent | { type: string; timestamp: string; data: Record<string, unknown> };

/** Narrows an event to a known type: `if (isEvent(event, 'unit.renamed')) event.data.name`. */
export function isEvent<Type extends EventType>(event: WebhookEvent, type: Type): event is Extract<ProviderEvent, { type: Type }> {
  return event.type === type;
}
