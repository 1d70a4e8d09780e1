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

/**
 * How long to wait, as a message's `{wait}` reads it: whole seconds under a minute, else whole minutes (rounded
 * up, so nobody is told to come back too early); without a known time, “稍” (请稍后再试) / “later”.
 */
export function formatWait(locale: Locale, seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds <= 0) return locale === 'en' ? 'later' : '稍';
  const whole = Math.ceil(seconds);
  if (whole < 60) return locale === 'en' ? `in ${whole} second${whole === 1 ? '' : 's'}` : `${whole}秒`;
  const minutes = Math.ceil(whole / 60);
  return locale === 'en' ? `in ${minutes} minute${minutes === 1 ? '' : 's'}` : `${minutes}分钟`;
}

/** Translates a key, substituting `{name}` placeholders; `{wait}` is `formatWait` of the `seconds` parameter. */
export function translate(locale: Locale, key: MessageKey, params: Record<string, string | number> = {}): string {
  const text = catalogues[locale][key];
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (name === 'wait' && !(name in params)) return formatWait(locale, typeof params.seconds === 'number' ? params.seconds : undefined);
    return name in params ? String(params[name]) : whole;
  });
}

/** The keys of the catalogue that start with a prefix (e.g. every audit action that has a name). */
export function keysWithPrefix(prefix: string): MessageKey[] {
  return (Object.keys(zhCN) as MessageKey[]).filter((key) => key.startsWith(prefix));
}
