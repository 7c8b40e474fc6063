export type Locale = 'zh-CN' | 'en';

/** The first supported tag in `ui_locales` wins; Simplified Chinese is the default. */
export function pickLocale(uiLocales: unknown): Locale {
  if (typeof uiLocales !== 'string') return 'zh-CN';
  for (const tag of uiLocales.split(' ')) {
    const t = tag.toLowerCase();
    if (t === 'en' || t.startsWith('en-')) return 'en';
    if (t === 'zh' || t.startsWith('zh-')) return 'zh-CN';
  }
  return 'zh-CN';
}

/**
 * What the frame of every page says (the site's name, the skip link, the language switch), whichever
 * part of Yihao drew the page: sign-in, portal, console, registration.
 */
const CHROME = {
  'zh-CN': {
    siteName: '一号 · 统一身份认证',
    skipToMain: '跳到主要内容',
    /** The language switch: the other language's own name, and its tag. */
    otherLanguage: { label: 'English', href: 'en' },
  },
  en: {
    siteName: 'Yihao · unified government sign-in',
    skipToMain: 'Skip to main content',
    otherLanguage: { label: '中文', href: 'zh-CN' },
  },
};

export const pageChrome = (locale: Locale) => CHROME[locale];
