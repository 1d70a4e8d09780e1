import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { fieldCode, NewPassword, TypedPassword, TextField, NonEmptyTextField } from '../../shared/http/validate.js';
import { ACCOUNT_MAX, LOGIN_NAME_MAX } from '../persons/rules.js';
import { CERT_NO_MAX, CERT_TYPES, UNIT_NAME } from './certificates.js';

/**
 * The unit use cases' inputs (R-U1, R-U2, R-U4, R-B1, R-B3), one DTO each, read by the unit console's and the
 * account centre's forms and by the management API alike; the OpenAPI document is generated from them.
 */

const UNIT_NAME_INVALID = fieldCode('unit_name_invalid');
/** The unit name of the general form (unverified units) and of the dedicated name change (R-U4). */
export class UnitNameDto {
  @IsString(UNIT_NAME_INVALID)
  @MinLength(UNIT_NAME.min, UNIT_NAME_INVALID)
  @MaxLength(UNIT_NAME.max, UNIT_NAME_INVALID)
  name!: string;
}

/** Registration of a unit by a real-name verified person (R-U1, R-U2); the new password twice (R-P3). */
export class UnitRegistrationDto extends UnitNameDto {
  @IsIn(CERT_TYPES, fieldCode('unit_cert_type_invalid'))
  certType!: string;

  @TextField(CERT_NO_MAX)
  certNo!: string;

  @IsString()
  @MaxLength(LOGIN_NAME_MAX, fieldCode('login_name_invalid'))
  loginName!: string;

  @NewPassword()
  password!: string;
}

/** The unit console's registration form also asks for the password twice. */
export class UnitRegistrationFormDto extends UnitRegistrationDto {
  @TypedPassword()
  passwordConfirm!: string;
}

/** `YYYY-MM-DD`, or empty for no limit (the service checks that it is a real date). */
const DATE_OR_EMPTY = /^(?:\d{4}-\d{2}-\d{2})?$/;
const VALIDITY_INVALID = fieldCode('binding_validity_invalid');

/** New permissions and validity of a handler (R-B3). */
export class ScopesDto {
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  scopes!: string[];

  @IsOptional()
  @IsString(VALIDITY_INVALID)
  @Matches(DATE_OR_EMPTY, VALIDITY_INVALID)
  validFrom?: string;

  @IsOptional()
  @IsString(VALIDITY_INVALID)
  @Matches(DATE_OR_EMPTY, VALIDITY_INVALID)
  validUntil?: string;
}

/** A binding: the person (login name or mobile number) and the permissions (R-B1). */
export class BindDto extends ScopesDto {
  @NonEmptyTextField(ACCOUNT_MAX)
  account!: string;
}

/** The counter's authorisation code, entered by the unit or a handler (R-U5). */
export class CodeDto {
  @NonEmptyTextField(32)
  code!: string;
}
