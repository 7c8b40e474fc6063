import { html, trusted, type SafeHtml } from '../../http/html.js';
import { ALERT_NOTICES, type Locale, type Notice, type PortalMessages } from '../i18n.js';

export type Section = 'profile' | 'credentials' | 'sessions' | 'apps' | 'history' | 'wallet' | 'certificates';
export const SECTIONS: readonly Section[] = ['profile', 'credentials', 'sessions', 'apps', 'history', 'wallet', 'certificates'];
export const sectionPath = (s: Section): string => (s === 'profile' ? '/account' : `/account/${s}`);

// The sign-in pages' look (interactions/views/layout.ts), widened for lists and tables, with a
// navigation bar. Inline and nonce-guarded: one request per page, no JavaScript.
const css = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;color:#1b1b1b;background:#f3f4f6}
header{background:#9b1c1c;color:#fff;padding:.75rem 1.25rem;display:flex;flex-wrap:wrap;gap:.5rem 1.25rem;align-items:center}
header .site{font-weight:600;margin-right:auto}
header a{color:#fff}
header form{margin:0}
header button{margin:0;padding:.3rem .8rem;font-size:.9rem;background:#fff;color:#9b1c1c;border-color:#fff}
nav{background:#fff;border-bottom:1px solid #d1d5db}
nav ul{list-style:none;margin:0 auto;padding:0 1rem;max-width:48rem;display:flex;flex-wrap:wrap;gap:0 1.25rem}
nav a{display:block;padding:.65rem 0;color:#1e40af;text-decoration:none;border-bottom:3px solid transparent}
nav a[aria-current=page]{color:#1b1b1b;font-weight:600;border-bottom-color:#9b1c1c}
main{max-width:48rem;margin:1.5rem auto;background:#fff;padding:1.5rem 1.75rem;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{font-size:1.5rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:0 0 .5rem}
h3{font-size:1rem;margin:0 0 .5rem}
p.lead{color:#374151}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.25rem;margin:0}
dt{font-weight:600;color:#374151}
dd{margin:0}
.card{border:1px solid #d1d5db;border-radius:6px;padding:1rem 1.25rem;margin:0 0 1rem}
.card form{margin:.75rem 0 0}
.tag{display:inline-block;margin-left:.5rem;padding:0 .5rem;border-radius:999px;background:#e0e7ff;color:#1e3a8a;font-size:.8rem;font-weight:600;vertical-align:middle}
.hint{color:#4b5563;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.95rem}
caption{text-align:left;color:#374151;padding-bottom:.5rem}
th,td{text-align:left;padding:.45rem .5rem;border-bottom:1px solid #e5e7eb;vertical-align:top}
th{background:#f9fafb}
ul.plain{margin:0;padding-left:1.1rem}
button{margin-top:.25rem;padding:.5rem 1rem;font-size:1rem;border-radius:4px;border:2px solid #1e40af;background:#1e40af;color:#fff;cursor:pointer}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input[type=text]{padding:.5rem .6rem;font-size:1rem;border:2px solid #6b7280;border-radius:4px;max-width:12rem}
button.danger{background:#fff;color:#991b1b;border-color:#991b1b}
:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.notice{border-left:4px solid #047857;background:#ecfdf5;color:#064e3b;padding:.6rem .8rem;margin:0 0 1rem}
.error{border-left:4px solid #b91c1c;background:#fef2f2;color:#7f1d1d;padding:.6rem .8rem;margin:0 0 1rem}
.tx-code{font-size:2rem;letter-spacing:.3em;font-weight:600;margin:.25rem 0}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:#fff;color:#000;padding:.25rem .5rem}
@media (max-width:40rem){main{margin:0;border-radius:0}dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}}
`;
// Trusted markup: escaped, its quotes (font names) would become &quot;, which CSS does not read.
const stylesheet = trusted(css);

export interface SignedInChrome {
  section: Section;
  name: string;
  csrf: string;
  notice?: Notice | undefined;
}

export function portalLayout(p: { locale: Locale; t: PortalMessages; nonce: string; title: string; body: SafeHtml; path: string; signedIn?: SignedInChrome }): string {
  const { t } = p;
  const other = `${p.path}?ui_locales=${t.otherLanguage.href}`;
  const nav = p.signedIn
    ? html`<nav aria-label="${t.navLabel}"><ul>${SECTIONS.map(
        (s) => html`<li><a href="${sectionPath(s)}"${s === p.signedIn!.section ? html` aria-current="page"` : ''}>${t.nav[s]}</a></li>`,
      )}</ul></nav>`
    : '';
  const account = p.signedIn
    ? html`<span>${t.signedInAs(p.signedIn.name)}</span>
<form method="post" action="/account/logout"><input type="hidden" name="csrf" value="${p.signedIn.csrf}"><button type="submit">${t.signOut}</button></form>`
    : '';
  const n = p.signedIn?.notice;
  const notice = n ? (ALERT_NOTICES.has(n) ? html`<p class="error" role="alert">${t.notices[n]}</p>` : html`<p class="notice" role="status">${t.notices[n]}</p>`) : '';
  return `<!doctype html>${html`<html lang="${p.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · ${t.portalName} · ${t.shared.siteName}</title>
<style nonce="${p.nonce}">${stylesheet}</style>
</head>
<body>
<a class="skip" href="#main">${t.shared.skipToMain}</a>
<header role="banner"><span class="site">${t.shared.siteName} · ${t.portalName}</span>
${account}
<a href="${other}" lang="${t.otherLanguage.href}" hreflang="${t.otherLanguage.href}">${t.otherLanguage.label}</a></header>
${nav}
<main id="main">
<h1>${p.title}</h1>
${notice}${p.body}
</main>
</body>
</html>`}`;
}
