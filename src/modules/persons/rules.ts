/** Pure rules about persons' identifiers (R-P1, R-P2). */

/** The longest login name (R-P1: 4–32 characters) and the longest account a sign-in or binding form takes. */
export const LOGIN_NAME_MAX = 32;
export const ACCOUNT_MAX = 64;

/** 4–32 characters: a letter first, then letters, digits, `_`, `.` or `-`. */
export function isValidLoginName(value: string): boolean {
  return /^[A-Za-z][A-Za-z0-9_.-]{3,31}$/.test(value);
}

/** Mainland China mobile numbers, with or without +86 and separators; returns the 11 digits or undefined. */
export function normalizeMobile(value: string): string | undefined {
  const digits = value.replace(/[\s-]/g, '').replace(/^(\+?86)(?=1\d{10}$)/, '');
  return /^1[3-9]\d{9}$/.test(digits) ? digits : undefined;
}

export function maskMobile(mobile: string): string {
  return `${mobile.slice(0, 3)}****${mobile.slice(-4)}`;
}

/** A code step shown again after a refusal: the number as entered (normalised; empty when it is none) and masked. */
export function enteredMobile(entered: string): { mobile: string; masked: string } {
  const mobile = normalizeMobile(entered) ?? '';
  return { mobile, masked: mobile ? maskMobile(mobile) : '' };
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = '10X98765432';

/**
 * Resident identity number (GB 11643-1999): 17 digits and a mod 11-2 check character, with a real birth date.
 * Returns the number upper-cased, or undefined.
 */
export function normalizeIdNumber(value: string, today: Date = new Date()): string | undefined {
  const id = value.trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(id)) return undefined;
  const sum = WEIGHTS.reduce((total, weight, index) => total + weight * Number(id[index]), 0);
  if (CHECK[sum % 11] !== id[17]) return undefined;
  const year = Number(id.slice(6, 10));
  const month = Number(id.slice(10, 12));
  const day = Number(id.slice(12, 14));
  const birth = new Date(Date.UTC(year, month - 1, day));
  if (year < 1900 || birth.getUTCMonth() !== month - 1 || birth.getUTCDate() !== day || birth > today) return undefined;
  return id;
}

/** `4401**********1234`: the full number is never shown again after submission (R-P2). */
export function maskIdNumber(id: string): string {
  return `${id.slice(0, 4)}${'*'.repeat(id.length - 8)}${id.slice(-4)}`;
}

/** Legal names: 2–50 characters of letters (any script), `·`, `.`, spaces or hyphens. */
export function normalizeLegalName(value: string): string | undefined {
  const name = value.normalize('NFC').trim().replace(/\s+/g, ' ');
  return /^[\p{L}\p{M}·.\- ]{2,50}$/u.test(name) ? name : undefined;
}
