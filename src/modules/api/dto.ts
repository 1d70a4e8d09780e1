import { IsIn, IsISO8601, IsOptional, IsUUID, Matches } from 'class-validator';
import { NonEmptyTextField, TextField } from '../../shared/http/validate.js';

export { BindDto, CodeDto, ScopesDto, UnitNameDto, UnitRegistrationDto } from '../units/dto.js';
export { IdNumberDto } from '../persons/dto.js';
export { AppealStatusDto, NoteDto, RecoveryCertificateDto, RecoveryCodeDto, RecoveryResetDto } from '../recovery/dto.js';

const ACTOR_TYPES = ['person', 'unit', 'operator', 'system', 'anonymous'] as const;
const CURSOR = /^[A-Za-z0-9_-]{1,64}$/;
const LIMIT = /^(?:[1-9]\d{0,1}|[1-4]\d{2}|500)$/;

/** Filters and paging of a unit's own audit log (R-A1). Times are ISO 8601; `limit` 1–500 (default 100). */
export class UnitAuditQueryDto {
  @IsOptional()
  @TextField(64)
  action?: string;

  @IsOptional()
  @IsIn(['success', 'failure'])
  outcome?: 'success' | 'failure';

  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;

  @IsOptional()
  @Matches(LIMIT)
  limit?: string;

  @IsOptional()
  @Matches(CURSOR)
  cursor?: string;
}

/** The operators' audit query: every filter of the console's audit page, with paging. */
export class AuditQueryDto extends UnitAuditQueryDto {
  @IsOptional()
  @IsIn(ACTOR_TYPES)
  actorType?: (typeof ACTOR_TYPES)[number];

  @IsOptional()
  @TextField(64)
  actorId?: string;

  @IsOptional()
  @TextField(64)
  targetId?: string;

  @IsOptional()
  @IsUUID()
  unitId?: string;
}

export class AppealListQueryDto {
  @IsOptional()
  @IsIn(['pending', 'approved', 'rejected', 'completed', 'all'])
  status?: 'pending' | 'approved' | 'rejected' | 'completed' | 'all';

  @IsOptional()
  @IsUUID()
  unitId?: string;
}

/** A page of 子账户信息 over the API: `page` from 1, `limit` 1–500 (default 100); the answer says whether more follow. */
export class BindingsPageQueryDto {
  @IsOptional()
  @Matches(/^[1-9]\d{0,5}$/)
  page?: string;

  @IsOptional()
  @Matches(LIMIT)
  limit?: string;
}

export class SearchQueryDto {
  @NonEmptyTextField(64)
  q!: string;
}
