import { registerFormDtos } from './shared/http/views.js';
import * as interactionDtos from './interactions/dto.js';
import * as mfaDtos from './modules/mfa/dto.js';
import * as operatorDtos from './modules/operators/dto.js';
import * as personDtos from './modules/persons/dto.js';
import * as recoveryDtos from './modules/recovery/dto.js';
import * as unitDtos from './modules/units/dto.js';

type Dto = new () => object;

/**
 * The DTOs whose `@MaxLength` the HTML forms show as `maxlength` (views' `limit(dto, property)`, issue #13): every
 * DTO class of the modules with forms, by its class name, so a new DTO needs no second list.
 */
export const FORM_DTOS: Readonly<Record<string, Dto>> = Object.fromEntries(
  [interactionDtos, mfaDtos, operatorDtos, personDtos, recoveryDtos, unitDtos].flatMap((module) =>
    Object.entries(module).filter((entry): entry is [string, Dto] => entry[0].endsWith('Dto') && typeof entry[1] === 'function'),
  ),
);
registerFormDtos(FORM_DTOS);
