import { IsIn, IsOptional } from 'class-validator';
import { TypedPassword, TextField } from '../shared/http/validate.js';
import { ACCOUNT_MAX } from '../modules/persons/rules.js';

/** A sign-in (person, unit account or operator): the account as typed and the password, never truncated. */
export class SignInDto {
  @TextField(ACCOUNT_MAX)
  account!: string;

  @TypedPassword()
  password!: string;
}

/** The personal tab also carries “以单位身份登录” (C-UI2). */
export class PersonSignInDto extends SignInDto {
  @IsIn(['', '1'])
  unitMode!: string;
}

/** The unit picker's search (name or certificate number; issue #15, Q-P6). `shown` is read leniently by the route. */
export class PickerQueryDto {
  @IsOptional()
  @TextField(64)
  q?: string;
}
