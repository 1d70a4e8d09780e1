import { IsIn, IsISO8601, IsOptional, IsString, IsUUID, Matches, MaxLength, MinLength } from 'class-validator';
import { NewPassword, TypedPassword } from '../../shared/http/validate.js';
import { CERT_NO_MAX, CERT_TYPES } from '../units/certificates.js';

export { BindDto, CodeDto, ScopesDto, UnitNameDto, UnitRegistrationDto } from '../units/dto.js';

const ACTOR_TYPES = ['person', 'unit', 'operator', 'system', 'anonymous'] as const;
const CURSOR = /^[A-Za-z0-9_-]{1,64}$/;
const LIMIT = /^(?:[1-9]\d{0,1}|[1-4]\d{2}|500)$/;

/** Filters and paging of a unit's own audit log (R-A1). Times are ISO 8601; `limit` 1–500 (default 100). */
export class UnitAuditQueryDto {
  @IsOptional() @IsString() @MaxLength(64)
  action?: string;

  @IsOptional() @IsIn(['success', 'failure'])
  outcome?: 'success' | 'failure';

  @IsOptional() @IsISO8601({ strict: true })
  since?: string;

  @IsOptional() @IsISO8601({ strict: true })
  until?: string;

  @IsOptional() @Matches(LIMIT)
  limit?: string;

  @IsOptional() @Matches(CURSOR)
  cursor?: string;
}

/** The operators' audit query: every filter of the console's audit page, with paging. */
export class AuditQueryDto extends UnitAuditQueryDto {
  @IsOptional() @IsIn(ACTOR_TYPES)
  actorType?: (typeof ACTOR_TYPES)[number];

  @IsOptional() @IsString() @MaxLength(64)
  actorId?: string;

  @IsOptional() @IsString() @MaxLength(64)
  targetId?: string;

  @IsOptional() @IsUUID()
  unitId?: string;
}

export class AppealListQueryDto {
  @IsOptional() @IsIn(['pending', 'approved', 'rejected', 'completed', 'all'])
  status?: 'pending' | 'approved' | 'rejected' | 'completed' | 'all';

  @IsOptional() @IsUUID()
  unitId?: string;
}

export class SearchQueryDto {
  @IsString() @MinLength(1) @MaxLength(64)
  q!: string;
}

/** An operator's note on a decision (the service checks its length, 2–200 characters). */
export class NoteDto {
  @IsString() @MaxLength(256)
  note!: string;
}

/** The identity number as read from the card at the counter (R-P2). */
export class IdNumberDto {
  @IsString() @MinLength(1) @MaxLength(32)
  idNumber!: string;
}

/** The applicant's own look-up of an appeal: the reference and the contact given when filing. */
export class AppealStatusDto {
  @IsString() @MinLength(1) @MaxLength(32)
  reference!: string;

  @IsString() @MinLength(1) @MaxLength(254)
  contact!: string;
}

/** A certificate typed for 账号找回 / 密码找回 (the service checks type and number, naming the field). */
export class RecoveryCertificateDto {
  @IsIn(CERT_TYPES)
  certType!: string;

  @IsString() @MinLength(1) @MaxLength(CERT_NO_MAX)
  certNo!: string;
}

/** The code sent to the common contact's mobile, with the challenge of the sending step. */
export class RecoveryCodeDto extends RecoveryCertificateDto {
  @IsString() @MinLength(1) @MaxLength(64)
  challenge!: string;

  @IsString() @MinLength(1) @MaxLength(16)
  code!: string;
}

/** 密码找回: the code and the new unit password, twice. */
export class RecoveryResetDto extends RecoveryCodeDto {
  @NewPassword()
  password!: string;

  @TypedPassword()
  passwordConfirm!: string;
}
