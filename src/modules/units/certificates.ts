/** Unit certificate types and their format checks (R-U2). */
export const CERT_TYPES = ['uscc', 'org_code', 'business_license', 'public_institution', 'other'] as const;
export type CertType = (typeof CERT_TYPES)[number];

export function isCertType(value: string): value is CertType {
  return (CERT_TYPES as readonly string[]).includes(value);
}

/** GB 32100-2015 unified social credit code alphabet (no I, O, S, V, Z) and weights. */
const USCC_ALPHABET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/** The GB 32100 check character for the first 17 characters of a unified social credit code. */
export function usccCheckCharacter(first17: string): string | undefined {
  let sum = 0;
  for (let index = 0; index < 17; index += 1) {
    const value = USCC_ALPHABET.indexOf(first17[index] ?? '?');
    if (value < 0) return undefined;
    sum += value * USCC_WEIGHTS[index]!;
  }
  return USCC_ALPHABET[(31 - (sum % 31)) % 31];
}

/** GB 11714 organisation code: 8 characters and a mod 11 check character. */
export function orgCodeValid(code: string): boolean {
  return /^[0-9A-Z]{8}[0-9X]$/.test(code) && orgCodeCheckCharacter(code.slice(0, 8)) === code[8];
}

/**
 * Normalises and checks a certificate number for its type; returns the canonical form or undefined.
 * - uscc: 18 characters with the GB 32100 check character and a valid embedded GB 11714 organisation code;
 * - org_code: GB 11714, `12345678-9` or `123456789`;
 * - business_license: the 15-digit registration number of the old business licence;
 * - public_institution: the 12-digit certificate number of a public institution legal person;
 * - other: 2–40 letters, digits or hyphens.
 */
export function normalizeCertNo(type: CertType, input: string): string | undefined {
  const value = input.trim().toUpperCase().replace(/\s+/g, '');
  switch (type) {
    case 'uscc': {
      if (!/^[0-9A-HJ-NPQRTUWXY]{18}$/.test(value)) return undefined;
      // Characters 9–17 are the organisation code of GB 11714, with its own check character.
      return usccCheckCharacter(value.slice(0, 17)) === value[17] && orgCodeValid(value.slice(8, 17)) ? value : undefined;
    }
    case 'org_code': {
      const plain = value.replace('-', '');
      return orgCodeValid(plain) ? `${plain.slice(0, 8)}-${plain[8]}` : undefined;
    }
    case 'business_license':
      return /^\d{15}$/.test(value) ? value : undefined;
    case 'public_institution':
      return /^\d{12}$/.test(value) ? value : undefined;
    case 'other':
      return /^[0-9A-Z-]{2,40}$/.test(value) ? value : undefined;
  }
}

/** The length of a unit name (R-U4), the one source of the forms, the API's DTOs and its OpenAPI document. */
export const UNIT_NAME = { min: 2, max: 100 } as const;

/** The longest certificate number a form accepts (the `other` type's 40; spaces of a typed USCC fit too). */
export const CERT_NO_MAX = 40;

/** Unit names: 2–100 characters, no control characters or angle brackets. */
export function normalizeUnitName(input: string): string | undefined {
  const name = input.normalize('NFC').trim().replace(/\s+/g, ' ');
  if ([...name].length < UNIT_NAME.min || [...name].length > UNIT_NAME.max) return undefined;
  return /[\p{Cc}<>]/u.test(name) ? undefined : name;
}

/** The GB 11714 check character for the first 8 characters of an organisation code. */
export function orgCodeCheckCharacter(first8: string): string {
  const weights = [3, 7, 9, 10, 5, 8, 4, 2];
  const sum = weights.reduce((total, weight, index) => total + weight * parseInt(first8[index]!, 36), 0);
  const check = 11 - (sum % 11);
  return check === 10 ? 'X' : check === 11 ? '0' : String(check);
}
