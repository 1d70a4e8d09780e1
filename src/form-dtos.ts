import { registerFormDtos } from './shared/http/views.js';
import { SignInDto } from './interactions/dto.js';
import { ConsoleAuditQueryDto, ConsoleSearchQueryDto } from './modules/operators/dto.js';
import {
  IdNumberDto, MobileChangeDto, MobileChangeStartDto, NewPasswordDto, PasswordResetStartDto, RealnameDto, RegistrationCodeDto,
  RegistrationDto,
} from './modules/persons/dto.js';
import {
  AppealDecisionDto, AppealDto, AppealStatusDto, NoteDto, RecoveryCertificateDto, RecoveryCodeDto, UnitPasswordDto,
} from './modules/recovery/dto.js';
import { BindDto, CodeDto, UnitNameDto, UnitRegistrationFormDto } from './modules/units/dto.js';
import { SecondFactorCodeDto, TotpCodeDto } from './modules/mfa/dto.js';

/** The DTOs whose `@MaxLength` the HTML forms show as `maxlength` (views' `limit(dto, property)`, issue #13). */
export const FORM_DTOS = {
  SignInDto, ConsoleAuditQueryDto, ConsoleSearchQueryDto, IdNumberDto, MobileChangeDto, MobileChangeStartDto, NewPasswordDto,
  PasswordResetStartDto, RealnameDto, RegistrationCodeDto, RegistrationDto, AppealDecisionDto, AppealDto, AppealStatusDto, NoteDto,
  RecoveryCertificateDto, RecoveryCodeDto, UnitPasswordDto, BindDto, CodeDto, UnitNameDto, UnitRegistrationFormDto, SecondFactorCodeDto,
  TotpCodeDto,
};
registerFormDtos(FORM_DTOS);
