/**
 * A name inside running text (an app's, a department's, an upstream provider's): in Chinese
 * between 「」, so that it stands apart from the sentence around it; in English as it is, since
 * the name's own capitals do that. Every catalogue quotes names through this, in both languages.
 */
export const quoteName = {
  'zh-CN': (name: string): string => `「${name}」`,
  en: (name: string): string => name,
} as const;
