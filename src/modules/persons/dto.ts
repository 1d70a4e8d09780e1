import { IsOptional, IsString, MaxLength } from 'class-validator';
import { fieldCode, NewPassword, TypedPassword, TextField } from '../../shared/http/validate.js';
import { ACCOUNT_MAX, LOGIN_NAME_MAX } from './rules.js';

/**
 * The personal use cases' inputs (R-P1 … R-P4), one DTO each, read by the forms of registration, personal
 * recovery and the account centre: every failing field is reported at once, nothing is truncated.
 */

/** A mobile number as typed: 11 digits, perhaps with +86, spaces or hyphens (the service normalises it). */
export const MOBILE_MAX = 20;
/** A one-time code as typed (six digits) and the random challenge of its step (a hidden field). */
const CODE_MAX = 16;
const CHALLENGE_MAX = 64;

export class RegistrationCodeDto {
  @TextField(MOBILE_MAX, 'mobile_invalid')
  mobile!: string;

  /** 重新获取验证码 on step 2 sends the step's challenge, so that a refused resend stays on that step (issue #14). */
  @IsOptional()
  @TextField(CHALLENGE_MAX)
  challenge?: string;
}

/** The code step's challenge and the code typed from the SMS. */
export class CodeStepDto {
  @TextField(CHALLENGE_MAX)
  challenge!: string;

  @TextField(CODE_MAX, 'code_invalid')
  code!: string;
}

/** A new password twice (R-P3). */
export class NewPasswordDto extends CodeStepDto {
  @NewPassword()
  password!: string;

  @TypedPassword()
  passwordConfirm!: string;
}

/** Registration of a personal account (R-P1): the verified mobile's code step, login name, password twice. */
export class RegistrationDto extends NewPasswordDto {
  @TextField(MOBILE_MAX, 'mobile_invalid')
  mobile!: string;

  @TextField(LOGIN_NAME_MAX, 'login_name_invalid')
  loginName!: string;

  /** 用户协议 and 隐私政策 accepted (`yes`). */
  @TextField(8)
  agree!: string;
}

/** Personal password recovery, step 1: the login name or mobile number (R-P4). */
export class PasswordResetStartDto {
  @IsString(fieldCode('account_required'))
  @MaxLength(ACCOUNT_MAX)
  account!: string;
}

/** A password change (the person's or the unit account's): the current password and the new one twice. */
export class PasswordChangeDto {
  @TypedPassword()
  currentPassword!: string;

  @NewPassword()
  password!: string;

  @TypedPassword()
  passwordConfirm!: string;
}

/** Mobile change, step 1: the current password and the new number. */
export class MobileChangeStartDto {
  @TypedPassword()
  currentPassword!: string;

  @TextField(MOBILE_MAX, 'mobile_invalid')
  mobile!: string;
}

/** Mobile change, step 2: the new number (hidden), its challenge and the code. */
export class MobileChangeDto extends CodeStepDto {
  @TextField(MOBILE_MAX, 'mobile_invalid')
  mobile!: string;
}

/** The identity number as read from the card at the counter (R-P2): it must match the submission. */
export class IdNumberDto {
  @TextField(18, 'id_number_invalid')
  idNumber!: string;
}

/** Real-name submission (R-P2): the legal name (2–50 characters) and the 18-character identity number. */
export class RealnameDto {
  @TextField(50, 'legal_name_invalid')
  legalName!: string;

  @TextField(18, 'id_number_invalid')
  idNumber!: string;
}
