import { IsIn, IsString, MaxLength, MinLength } from 'class-validator';
import { fieldCode, NewPassword, TypedPassword, TextField, NonEmptyTextField } from '../../shared/http/validate.js';
import { CERT_NO_MAX, CERT_TYPES, UNIT_NAME } from '../units/certificates.js';
import { ACCOUNT_MAX } from '../persons/rules.js';

/**
 * The recovery use cases' inputs (R-R1 … R-R3), one DTO each, read by the recovery pages and the management
 * API alike: every failing field at once, nothing truncated.
 */

const CHALLENGE_MAX = 64;
const CODE_MAX = 16;
/** An e-mail address is at most 254 characters (RFC 5321); a mobile number is far shorter. */
const CONTACT_MAX = 254;
export const APPEAL_KINDS = ['account', 'password', 'takeover'] as const;

/** A certificate typed for 账号找回 / 密码找回 (the service checks the number for its type, naming the field). */
export class RecoveryCertificateDto {
  @IsIn(CERT_TYPES, fieldCode('unit_cert_type_invalid'))
  certType!: string;

  @NonEmptyTextField(CERT_NO_MAX)
  certNo!: string;
}

/** The code sent to the common contact's mobile, with the challenge of the sending step. */
export class RecoveryCodeDto extends RecoveryCertificateDto {
  @NonEmptyTextField(CHALLENGE_MAX)
  challenge!: string;

  @IsString(fieldCode('code_invalid'))
  @MinLength(1)
  @MaxLength(CODE_MAX, fieldCode('code_invalid'))
  code!: string;
}

/** A new unit password twice (R-P3). */
export class UnitPasswordDto {
  @NewPassword()
  password!: string;

  @TypedPassword()
  passwordConfirm!: string;
}

/** 密码找回: the code and the new unit password, twice. */
export class RecoveryResetDto extends RecoveryCodeDto {
  @NewPassword()
  password!: string;

  @TypedPassword()
  passwordConfirm!: string;
}

/** 申诉 (R-R3): the applicant, the contact for the decision, the certificate and what is asked for. */
export class AppealDto {
  @TextField(50, 'appeal_applicant_invalid')
  applicantName!: string;

  @TextField(CONTACT_MAX, 'appeal_contact_invalid')
  contact!: string;

  @IsIn(CERT_TYPES, fieldCode('unit_cert_type_invalid'))
  certType!: string;

  @TextField(CERT_NO_MAX)
  certNo!: string;

  @IsIn(APPEAL_KINDS, fieldCode('appeal_kind_invalid'))
  kind!: string;

  /** Takeover only: the person account that becomes the common contact. */
  @TextField(ACCOUNT_MAX, 'appeal_applicant_account_invalid')
  applicantAccount!: string;
}

/** The applicant's own look-up of an appeal: the reference and the contact given when filing. */
export class AppealStatusDto {
  @NonEmptyTextField(32)
  reference!: string;

  @NonEmptyTextField(CONTACT_MAX)
  contact!: string;
}

/** The single-use link of an approved appeal, with the new password when the appeal was about it. */
export class AppealLinkDto {
  @TextField(64)
  token!: string;

  @TypedPassword()
  password!: string;

  @TypedPassword()
  passwordConfirm!: string;
}

/** An operator's note on a decision (2–200 characters; the service checks the lower bound). */
export class NoteDto {
  @TextField(200, 'note_invalid')
  note!: string;
}

/** The counter's decision on an appeal: the note, and for a takeover an optional corrected unit name (R-U4). */
export class AppealDecisionDto extends NoteDto {
  @TextField(UNIT_NAME.max, 'unit_name_invalid')
  unitName!: string;
}
