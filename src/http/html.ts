/** HTML that has been escaped (or is trusted markup we wrote). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => escapes[c]!);

type Value = SafeHtml | string | number | undefined | null | false | Value[];

function render(v: Value): string {
  if (v === undefined || v === null || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (v instanceof SafeHtml) return v.value;
  return escapeHtml(String(v));
}

/** Tagged template: every interpolation is escaped unless it is already SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Value[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

/** Markup produced by oidc-provider itself (its logout form). */
export const trusted = (markup: string): SafeHtml => new SafeHtml(markup);
