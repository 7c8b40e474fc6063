import { html, trusted, type SafeHtml } from './html.js';
import { pageChrome, type Locale } from './locale.js';

// Inline, nonce-guarded CSS keeps the pages one request each and working without JavaScript.
const css = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1b1b1b;background:#f3f4f6}
header{background:#9b1c1c;color:#fff;padding:.75rem 1.25rem;display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center}
header .site{font-weight:600;margin-right:auto}
header a{color:#fff}
main{max-width:28rem;margin:2rem auto;background:#fff;padding:1.5rem 1.75rem;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.5rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
.hint{display:block;color:#4b5563;font-size:.875rem;margin-bottom:.25rem}
input[type=text],input[type=password]{width:100%;padding:.6rem .7rem;font-size:1rem;border:2px solid #6b7280;border-radius:4px}
button{margin-top:1.25rem;padding:.65rem 1.25rem;font-size:1rem;border-radius:4px;border:2px solid #1e40af;background:#1e40af;color:#fff;cursor:pointer}
button.secondary{background:#fff;color:#1e40af}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.error{border-left:4px solid #b91c1c;background:#fef2f2;color:#7f1d1d;padding:.6rem .8rem;margin:0 0 1rem}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;padding:.25rem .5rem}
ul{padding-left:1.25rem}
.sr-only{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.user-code{margin:1rem 0;padding:.75rem 1rem;text-align:center;font:700 2.5rem/1.2 ui-monospace,"SFMono-Regular",Menlo,Consolas,monospace;letter-spacing:.12em;background:#f9fafb;border:2px solid #1b1b1b;border-radius:6px}
.user-code .sep{color:#4b5563;margin:0 .2em}
`;
// Trusted markup: escaped, its quotes (font names) would become &quot;, which CSS does not read.
const stylesheet = trusted(css);

/**
 * `switchLanguage` is where the language switch points (a page that takes `?ui_locales=`); pages
 * that cannot change language midway leave it out.
 */
export function layout({ locale, title, nonce, body, switchLanguage }: { locale: Locale; title: string; nonce: string; body: SafeHtml; switchLanguage?: string | undefined }): string {
  const t = pageChrome(locale);
  const other = t.otherLanguage.href;
  const switcher = switchLanguage
    ? html`<a href="${switchLanguage}${switchLanguage.includes('?') ? '&' : '?'}ui_locales=${other}" lang="${other}" hreflang="${other}">${t.otherLanguage.label}</a>`
    : '';
  return `<!doctype html>${html`<html lang="${locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${t.siteName}</title>
<style nonce="${nonce}">${stylesheet}</style>
</head>
<body>
<a class="skip" href="#main">${t.skipToMain}</a>
<header role="banner"><span class="site">${t.siteName}</span>${switcher}</header>
<main id="main">${body}</main>
</body>
</html>`}`;
}
