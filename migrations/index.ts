import { OidcModels1764270000000 } from './1764270000000-oidc-models.js';
import { Accounts1764270100000 } from './1764270100000-accounts.js';
import { Units1764270200000 } from './1764270200000-units.js';
import { Recovery1764270300000 } from './1764270300000-recovery.js';
import { Jobs1764900300000 } from './1764900300000-jobs.js';
import { GrantBinding1764900100000 } from './1764900100000-grant-binding.js';
import { AppealTakeover1764900800000 } from './1764900800000-appeal-takeover.js';
import { PersonNotices1765140000001 } from './1765140000001-person-notices.js';
import { SecondFactors1765180000001 } from './1765180000001-second-factors.js';
import { UnitMfaPolicy1765180000002 } from './1765180000002-unit-mfa-policy.js';
import { Passkeys1765180000003 } from './1765180000003-passkeys.js';
import { ScaleIndexes1765150000001 } from './1765150000001-scale-indexes.js';
import { BindingLastSelected1765190000001 } from './1765190000001-binding-last-selected.js';

/** Every migration, oldest first. Add new ones at the end; never edit one that has shipped. */
export const migrations = [OidcModels1764270000000, Accounts1764270100000, Units1764270200000, Recovery1764270300000, GrantBinding1764900100000, Jobs1764900300000, AppealTakeover1764900800000, PersonNotices1765140000001, ScaleIndexes1765150000001, SecondFactors1765180000001, UnitMfaPolicy1765180000002, Passkeys1765180000003, BindingLastSelected1765190000001];
