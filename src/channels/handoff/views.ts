import { html } from '../../http/html.js';
import { layout } from '../../http/layout.js';
import type { Locale } from '../../http/locale.js';
import { pollThenSubmit } from '../../http/poll-script.js';
import { quoteName } from '../../http/quote-name.js';

const q = quoteName['zh-CN'];

const zh = {
  title: '使用一号 App 扫码登录',
  endTitle: '扫码登录未完成',
  linkTitle: '在一号 App 中打开',
  lead: (client: string) => `登录以继续访问${q(client)}。请打开一号 App 扫描下方二维码，并核对 App 中显示的确认码与本页一致后再确认。`,
  qrAlt: '用一号 App 扫描的登录二维码',
  bindingCode: '确认码',
  validFor: (minutes: number) => `二维码 ${minutes} 分钟内有效，只能使用一次。`,
  waiting: '正在等待 App 确认……确认后本页会自动继续。',
  continue: '继续',
  noScriptHint: '在 App 中确认后，请点击"继续"。',
  notYet: 'App 中尚未确认。请在 App 中确认后再点击"继续"。',
  denied: '已在 App 中拒绝此次登录。',
  expired: '二维码已过期，请获取新的二维码。',
  newCode: '获取新的二维码',
  otherBrowser: '此二维码是在另一个浏览器中显示的，不能在这里完成登录。',
  usePassword: '使用密码登录',
  openInApp: '请使用一号 App 扫描登录页面上的二维码。用相机或其他应用打开此链接不能登录。',
  notAccepted: (client: string) => `${q(client)}不接受使用一号 App 登录。请使用其他方式登录。`,
  confirmTitle: '确认登录的账号',
  confirmLead: (client: string) => `一号 App 已确认。将以下面这个账号登录${q(client)}：`,
  account: (name: string, idTail: string) => `${name}（身份证号尾号 ${idTail}）`,
  confirmWarning: '如果这不是你的账号，请不要继续：可能有人抢先扫描了你屏幕上的二维码。',
  continueAs: (name: string) => `以 ${name} 的身份继续`,
  notMe: '不是我，获取新的二维码',
};
const en: typeof zh = {
  title: 'Sign in with the mobile app',
  endTitle: 'Mobile app sign-in did not finish',
  linkTitle: 'Open this link in the Yihao app',
  lead: (client) => `Sign in to continue to ${client}. Open the Yihao app, scan this QR code, and approve only if the app shows the same binding code as this page.`,
  qrAlt: 'QR code to scan with the Yihao app',
  bindingCode: 'Binding code',
  validFor: (minutes) => `The code is valid for ${minutes} minute${minutes === 1 ? '' : 's'} and works once.`,
  waiting: 'Waiting for approval in the app… This page continues by itself once you approve.',
  continue: 'Continue',
  noScriptHint: 'After approving in the app, select Continue.',
  notYet: 'Not approved in the app yet. Approve it in the app, then select Continue.',
  denied: 'The sign-in was declined in the app.',
  expired: 'This QR code has expired. Get a new one.',
  newCode: 'Get a new QR code',
  otherBrowser: 'This QR code was shown in another browser; the sign-in cannot be completed here.',
  usePassword: 'Sign in with a password',
  openInApp: 'Scan the QR code on the sign-in page with the Yihao app. Opening this link with a camera or another app does not sign you in.',
  notAccepted: (client) => `${client} does not accept sign-in with the mobile app. Please sign in another way.`,
  confirmTitle: 'Confirm the account',
  confirmLead: (client) => `The Yihao app approved. You will sign in to ${client} with this account:`,
  account: (name, idTail) => `${name} (ID number ending ${idTail})`,
  confirmWarning: 'If this is not your account, do not continue: someone may have scanned the QR code on your screen first.',
  continueAs: (name) => `Continue as ${name}`,
  notMe: 'Not me: get a new QR code',
};
export const handoffText = (locale: Locale) => (locale === 'en' ? en : zh);

export function qrPage(p: {
  locale: Locale;
  nonce: string;
  uid: string;
  csrf: string;
  clientName: string;
  qrDataUrl: string;
  bindingCode: string;
  minutes: number;
  error?: string | undefined;
}): string {
  const t = handoffText(p.locale);
  const statusUrl = `/interaction/${p.uid}/qr/status`;
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.title,
    body: html`<h1>${t.title}</h1>
<p>${t.lead(p.clientName)}</p>
${p.error ? html`<p class="error" role="alert">${p.error}</p>` : ''}
<p><img src="${p.qrDataUrl}" alt="${t.qrAlt}" width="232" height="232"></p>
<p>${t.bindingCode}: <strong id="binding-code">${p.bindingCode}</strong></p>
<p>${t.validFor(p.minutes)}</p>
<p id="qr-status" role="status" aria-live="polite">${t.waiting}</p>
<form id="qr-complete" method="post" action="/interaction/${p.uid}/qr/complete">
<input type="hidden" name="csrf" value="${p.csrf}">
<span class="hint">${t.noScriptHint}</span>
<button type="submit">${t.continue}</button>
</form>
<p><a href="/interaction/${p.uid}">${t.usePassword}</a></p>
${pollThenSubmit({ nonce: p.nonce, statusUrl, formId: 'qr-complete' })}`,
  });
}

/**
 * The question after the phone approved: whose account this browser is about to be signed into.
 * Whoever scans the code first approves it, so a stranger who photographed the code on the
 * citizen's screen would otherwise sign the citizen's browser into the stranger's account (login
 * CSRF). Only the masked name and the ID number's last four characters: the page may be a
 * phisher's, showing a code relayed from the citizen's own screen.
 */
export function qrConfirmPage(p: { locale: Locale; nonce: string; uid: string; csrf: string; approval: string; clientName: string; maskedName: string; idTail: string }): string {
  const t = handoffText(p.locale);
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.confirmTitle,
    body: html`<h1>${t.confirmTitle}</h1>
<p>${t.confirmLead(p.clientName)}</p>
<p><strong id="qr-account">${t.account(p.maskedName, p.idTail)}</strong></p>
<p>${t.confirmWarning}</p>
<form method="post" action="/interaction/${p.uid}/qr/confirm">
<input type="hidden" name="csrf" value="${p.csrf}">
<input type="hidden" name="approval" value="${p.approval}">
<button type="submit">${t.continueAs(p.maskedName)}</button>
</form>
<p><a href="/interaction/${p.uid}/qr?new=1">${t.notMe}</a></p>
<p><a href="/interaction/${p.uid}">${t.usePassword}</a></p>`,
  });
}

/** The end of a hand-off that cannot complete here: why, and the ways on. */
export function qrEndPage(p: { locale: Locale; nonce: string; uid: string; message: string; canRestart: boolean }): string {
  const t = handoffText(p.locale);
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.endTitle,
    body: html`<h1>${t.endTitle}</h1>
<p class="error" role="alert">${p.message}</p>
${p.canRestart ? html`<p><a href="/interaction/${p.uid}/qr?new=1">${t.newCode}</a></p>` : ''}
<p><a href="/interaction/${p.uid}">${t.usePassword}</a></p>`,
  });
}

/** Where the QR link leads a phone without the app (the app claims the link and never shows this). */
export function qrLinkPage(p: { locale: Locale; nonce: string }): string {
  const t = handoffText(p.locale);
  return layout({ locale: p.locale, nonce: p.nonce, title: t.linkTitle, body: html`<h1>${t.linkTitle}</h1><p>${t.openInApp}</p>` });
}
