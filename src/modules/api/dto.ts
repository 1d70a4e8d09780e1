import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { CERT_TYPES } from '../units/certificates.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export class UnitNameDto {
  @IsString() @MinLength(1) @MaxLength(200)
  name!: string;
}

/** New permissions and validity of a handler (R-B3). */
export class ScopesDto {
  @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) @MaxLength(64, { each: true })
  scopes!: string[];

  @IsOptional() @IsString() @Matches(DATE)
  validFrom?: string;

  @IsOptional() @IsString() @Matches(DATE)
  validUntil?: string;
}

/** A binding: the person (login name or mobile number) and the permissions (R-B1). */
export class BindDto extends ScopesDto {
  @IsString() @MinLength(1) @MaxLength(64)
  account!: string;
}

export class CodeDto {
  @IsString() @MinLength(1) @MaxLength(32)
  code!: string;
}

export class UnitRegistrationDto {
  @IsString() @MinLength(1) @MaxLength(200)
  name!: string;

  @IsIn(CERT_TYPES)
  certType!: string;

  @IsString() @MinLength(1) @MaxLength(64)
  certNo!: string;

  @IsString() @MinLength(1) @MaxLength(64)
  loginName!: string;

  @IsString() @MaxLength(512)
  password!: string;
}
