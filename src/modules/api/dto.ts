import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { CERT_TYPES } from '../units/certificates.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export class UnitNameDto {
  @IsString() @MinLength(1) @MaxLength(200)
  name!: string;
}

export class BindDto {
  @IsString() @MinLength(1) @MaxLength(64)
  account!: string;

  @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) @MaxLength(64, { each: true })
  scopes!: string[];

  @IsOptional() @IsString() @Matches(DATE)
  validFrom?: string;

  @IsOptional() @IsString() @Matches(DATE)
  validUntil?: string;
}

export class ScopesDto {
  @IsArray() @ArrayMaxSize(50) @IsString({ each: true }) @MaxLength(64, { each: true })
  scopes!: string[];

  @IsOptional() @IsString() @Matches(DATE)
  validFrom?: string;

  @IsOptional() @IsString() @Matches(DATE)
  validUntil?: string;
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
