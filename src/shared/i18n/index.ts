import { en } from './en.js';
import { zhCN, type MessageKey } from './zh-CN.js';

export type { MessageKey };
export type Locale = 'zh-CN' | 'en';
export const DEFAULT_LOCALE: Locale = 'zh-CN';
export const LOCALES: readonly Locale[] = ['zh-CN', 'en'];

const catalogues: Record<Locale, Record<MessageKey, string>> = { 'zh-CN': zhCN, en };

/** Maps a language tag (BCP 47) to a supported locale, or undefined. */
export function matchLocale(tag: string | undefined): Locale | undefined {
  if (!tag) return undefined;
  const lower = tag.trim().toLowerCase();
  if (lower === 'en' || lower.startsWith('en-')) return 'en';
  if (lower === 'zh' || lower.startsWith('zh-')) return 'zh-CN';
  return undefined;
}

/** The first supported locale among candidates; each may be a space-separated `ui_locales` list. */
export function pickLocale(...candidates: (string | undefined)[]): Locale {
  for (const candidate of candidates) {
    for (const tag of candidate?.split(/\s+/) ?? []) {
      const locale = matchLocale(tag);
      if (locale) return locale;
    }
  }
  return DEFAULT_LOCALE;
}

export function isMessageKey(key: string): key is MessageKey {
  return Object.hasOwn(zhCN, key);
}

/** Translates a key, substituting `{name}` placeholders. */
export function translate(locale: Locale, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogues[locale][key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** The keys of the catalogue that start with a prefix (e.g. every audit action that has a name). */
export function keysWithPrefix(prefix: string): MessageKey[] {
  return (Object.keys(zhCN) as MessageKey[]).filter((key) => key.startsWith(prefix));
}
