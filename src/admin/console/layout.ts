import { html, trusted, type SafeHtml } from '../../http/html.js';
import { SECTIONS, type ConsoleMessages, type Locale, type Section } from './i18n.js';

// The portal's look, wider for tables. Inline and nonce-guarded: one request per page, no JavaScript.
const css = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1b1b1b;background:#f3f4f6}
header{background:#1e3a8a;color:#fff;padding:.75rem 1.25rem;display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center}
header .site{font-weight:600;margin-right:auto}
header a{color:#fff}
header form{margin:0}
header button{margin:0;padding:.3rem .8rem;font-size:.9rem;background:#fff;color:#1e3a8a;border-color:#fff}
nav{background:#fff;border-bottom:1px solid #d1d5db}
nav ul{list-style:none;margin:0 auto;padding:0 1rem;max-width:64rem;display:flex;flex-wrap:wrap;gap:0 1.25rem}
nav a{display:block;padding:.65rem 0;color:#1e40af;text-decoration:none;border-bottom:3px solid transparent}
nav a[aria-current=page]{color:#1b1b1b;font-weight:600;border-bottom-color:#1e3a8a}
main{max-width:64rem;margin:1.5rem auto;background:#fff;padding:1.5rem 1.75rem;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.5rem;margin:0 0 1rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
p.lead{color:#374151}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.25rem;margin:0}
dt{font-weight:600;color:#374151}
dd{margin:0;overflow-wrap:anywhere}
.card{border:1px solid #d1d5db;border-radius:6px;padding:1rem 1.25rem;margin:0 0 1rem}
.tag{display:inline-block;padding:0 .5rem;border-radius:999px;background:#e0e7ff;color:#1e3a8a;font-size:.85rem;font-weight:600}
.hint{color:#4b5563;font-size:.9rem;margin:.25rem 0}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;color:#374151;padding-bottom:.5rem;font-weight:600}
/* keep-all: a Chinese word (系统, 操作人) stays on one line as an English one does; lines break at
   spaces and punctuation. */
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top;word-break:keep-all;overflow-wrap:normal}
/* Ids and codes break only when one cannot fit its column (so columns grow to hold them whole);
   JSON has no words to keep whole and may break anywhere. */
code.id,code.json{font-size:.85rem;color:#374151}
code.id{overflow-wrap:break-word}
code.json{overflow-wrap:anywhere}
td.details{min-width:12rem}
.nowrap{white-space:nowrap}
.table-scroll{overflow-x:auto}
th{background:#f9fafb}
del{background:#fee2e2;color:#7f1d1d}
ins{background:#dcfce7;color:#14532d;text-decoration:none}
label{display:block;font-weight:600;margin:.9rem 0 .25rem}
fieldset{border:1px solid #d1d5db;border-radius:6px;margin:.9rem 0 0;padding:.5rem 1rem}
legend{font-weight:600;padding:0 .25rem}
fieldset label{display:inline-block;font-weight:400;margin:.25rem 1rem .25rem 0}
input[type=text],input[type=number],input[type=search],input[type=datetime-local],select,textarea{width:100%;max-width:40rem;padding:.45rem .5rem;font:inherit;border:1px solid #6b7280;border-radius:4px}
textarea{min-height:4.5rem}
[aria-invalid=true]{border-color:#b91c1c;border-width:2px}
.field-error{color:#b91c1c;font-weight:600;margin:.25rem 0 0}
.inline{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;margin:0 0 1rem}
.inline label{margin:0}
.inline div{min-width:10rem}
.actions{display:flex;flex-wrap:wrap;gap:1rem;margin-top:1rem}
.actions form{margin:0}
button{margin-top:.75rem;padding:.5rem 1rem;font-size:1rem;border-radius:4px;border:2px solid #1e40af;background:#1e40af;color:#fff;cursor:pointer}
.inline button{margin:0}
button.danger{background:#fff;color:#991b1b;border-color:#991b1b}
button.secondary{background:#fff;color:#1e40af}
a.button{display:inline-block;padding:.45rem 1rem;border-radius:4px;background:#1e40af;color:#fff;text-decoration:none}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.notice{border-left:4px solid #047857;background:#ecfdf5;color:#064e3b;padding:.6rem .8rem;margin:0 0 1rem}
.warning{border-left:4px solid #b45309;background:#fffbeb;color:#78350f;padding:.6rem .8rem;margin:0 0 1rem}
.tag.danger{background:#fef3c7;color:#78350f}
.error{border-left:4px solid #b91c1c;background:#fef2f2;color:#7f1d1d;padding:.6rem .8rem;margin:0 0 1rem}
.secret{font:1.1rem/1.4 ui-monospace,monospace;background:#f9fafb;border:1px dashed #6b7280;padding:.5rem;overflow-wrap:anywhere}
.dashboard section{margin:1.5rem 0}
svg.chart{display:block;width:100%;height:auto;max-width:48rem}
.legend{list-style:none;margin:.25rem 0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem 1.25rem;font-size:.9rem}
.legend svg{vertical-align:-2px;margin-right:.35rem}
details{margin:.5rem 0}
summary{cursor:pointer;color:#1e40af}
tr.sub th{font-weight:400;padding-left:1.5rem}
td[data-figure],th.num{text-align:right;font-variant-numeric:tabular-nums}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;padding:.25rem .5rem}
@media (max-width:40rem){main{margin:0;border-radius:0}dl{grid-template-columns:1fr}}
`;
// Trusted markup: escaped, its quotes (font names) would become &quot;, which CSS does not read.
const stylesheet = trusted(css);

export const sectionPath = (s: Section) => (s === 'home' ? '/admin' : `/admin/${s}`);

export interface Chrome {
  name: string;
  csrf: string;
  section: Section;
  /** The sections this operator's roles open; the others are not offered. */
  sections: readonly Section[];
  notice?: string | undefined;
}

export interface PageFrame {
  locale: Locale;
  t: ConsoleMessages;
  nonce: string;
  /** The current path with its query, for the language switch. */
  path: string;
  chrome?: Chrome | undefined;
}

export function consoleLayout(f: PageFrame, title: string, body: SafeHtml): string {
  const { t } = f;
  const switchTo = `${f.path}${f.path.includes('?') ? '&' : '?'}ui_locales=${t.otherLanguage.href}`;
  const nav = f.chrome
    ? html`<nav aria-label="${t.navLabel}"><ul>${SECTIONS.filter((s) => f.chrome!.sections.includes(s)).map(
        (s) => html`<li><a href="${sectionPath(s)}"${s === f.chrome!.section ? html` aria-current="page"` : ''}>${t.nav[s]}</a></li>`,
      )}</ul></nav>`
    : '';
  const account = f.chrome
    ? html`<span>${t.signedInAs(f.chrome.name)}</span>
<form method="post" action="/admin/sign-out"><input type="hidden" name="csrf" value="${f.chrome.csrf}"><button type="submit">${t.signOut}</button></form>`
    : '';
  const notice = f.chrome?.notice && t.notices[f.chrome.notice] ? html`<p class="notice" role="status">${t.notices[f.chrome.notice]}</p>` : '';
  return `<!doctype html>${html`<html lang="${f.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${t.consoleName} · ${t.siteName}</title>
<style nonce="${f.nonce}">${stylesheet}</style>
</head>
<body>
<a class="skip" href="#main">${t.skipToMain}</a>
<header><span class="site"><a href="/admin">${t.siteName} · ${t.consoleName}</a></span>
${account}
<a href="${switchTo}" lang="${t.otherLanguage.href}" hreflang="${t.otherLanguage.href}">${t.otherLanguage.label}</a></header>
${nav}
<main id="main">
<h1>${title}</h1>
${notice}${body}
</main>
</body>
</html>`}`;
}
