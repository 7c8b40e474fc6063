import type { Client, KoaContextWithOIDC } from 'oidc-provider';
import { htmlPage } from '../../http/html-page.js';
import { pickLocale, type Locale } from '../../http/locale.js';
import { html, trusted } from '../../http/html.js';
import { layout } from '../../http/layout.js';
import { quoteName } from '../../http/quote-name.js';

const q = quoteName['zh-CN'];

/** What the citizen reads on their phone while approving a kiosk (RFC 8628 device flow). */
const text = {
  'zh-CN': {
    inputTitle: '在手机上登录终端',
    inputLead: '请输入自助终端屏幕上显示的代码。',
    codeLabel: '终端代码',
    codeHint: '8 个字母，例如 BCDF-GHJK',
    next: '继续',
    startAgain: '重新输入代码',
    wrongCode: '代码不正确或已过期，请核对终端屏幕后重试。',
    aborted: '已取消登录请求。',
    failed: '处理请求时出错，请重试。',
    confirmTitle: '确认终端登录',
    confirmLead: (client: string) => `${q(client)}请求以您的身份登录。`,
    confirmCheck: '请核对终端屏幕上显示的代码与下面的代码一致：',
    confirmWarning: '如果这不是您本人面前的终端，或代码不一致，请选择“取消”。',
    confirm: '确认登录',
    abort: '取消',
    doneTitle: '已登录',
    done: (client: string) => `您已在${q(client)}上登录，可以关闭此页面。`,
  },
  en: {
    inputTitle: 'Sign in to a kiosk with your phone',
    inputLead: 'Enter the code shown on the kiosk screen.',
    codeLabel: 'Kiosk code',
    codeHint: '8 letters, such as BCDF-GHJK',
    next: 'Continue',
    startAgain: 'Enter the code again',
    wrongCode: 'The code is not correct or has expired. Check the kiosk screen and try again.',
    aborted: 'The sign-in request was cancelled.',
    failed: 'Something went wrong with the request. Try again.',
    confirmTitle: 'Confirm the kiosk sign-in',
    confirmLead: (client: string) => `${client} asks to sign you in.`,
    confirmCheck: 'Check that the kiosk screen shows the same code as this one:',
    confirmWarning: 'If this is not the kiosk in front of you, or the codes differ, choose "Cancel".',
    confirm: 'Sign in',
    abort: 'Cancel',
    doneTitle: 'Signed in',
    done: (client: string) => `You are signed in at ${client}. You can close this page.`,
  },
} as const;

/**
 * The language: `ui_locales` on the link, else the one the kiosk asked for in its device
 * authorization request (the language the citizen chose at the kiosk, which the sign-in pages use
 * too), else the phone's own.
 */
const localeOf = (ctx: KoaContextWithOIDC): Locale => {
  const device = (ctx.oidc?.entities as { DeviceCode?: { params?: { ui_locales?: unknown } } } | undefined)?.DeviceCode;
  const asked = ctx.query?.ui_locales ?? device?.params?.ui_locales;
  if (typeof asked === 'string') return pickLocale(asked);
  return pickLocale(ctx.get('accept-language').split(',')[0]?.split(';')[0]?.trim());
};

/** oidc-provider's forms carry its CSRF token (`xsrf`); our pages keep it and bring their own labelled fields. */
const xsrfOf = (form: string): string | undefined => /name="xsrf" value="([^"]*)"/.exec(form)?.[1];
const actionOf = (form: string): string | undefined => /action="([^"]*)"/.exec(form)?.[1];

const clientName = (client: Client | undefined) => client?.clientName ?? client?.clientId ?? '';

/**
 * The code to compare with the kiosk screen: large, monospaced, in its groups (BCDF-GHJK); screen
 * readers get it spelled out character by character, group by group.
 */
function userCodeDisplay(userCode: string) {
  const groups = userCode.split('-');
  const spelled = groups.map((g) => [...g].join(' ')).join(', ');
  return html`<p class="user-code" data-user-code="${userCode}"><span class="sr-only">${spelled}</span><span aria-hidden="true">${groups.map(
    (g, i) => html`${i ? html`<span class="sep">-</span>` : ''}<span>${g}</span>`,
  )}</span></p>`;
}

/** The pages of `features.deviceFlow`: the code input, the confirmation, and the success page. */
export const devicePages = {
  userCodeInputSource(ctx: KoaContextWithOIDC, form: string, _out?: unknown, err?: Error & { userCode?: string }) {
    const locale = localeOf(ctx);
    const t = text[locale];
    const xsrf = xsrfOf(form);
    const action = actionOf(form);
    let error: string | undefined;
    if (err && (err.userCode || err.name === 'NoCodeError')) error = t.wrongCode;
    else if (err?.name === 'AbortedError') error = t.aborted;
    else if (err) error = t.failed;
    if (err && ctx.status < 400) ctx.status = 400;
    // A request that failed without a session (no earlier visit to this page) has no saved form
    // secret, so a form here could never be accepted: offer a fresh start instead.
    const usable = !err || typeof (ctx.oidc?.session as { exp?: unknown } | undefined)?.exp === 'number';
    htmlPage(ctx, (nonce) =>
      layout({
        locale,
        nonce,
        title: t.inputTitle,
        body: html`<h1>${t.inputTitle}</h1>
<p>${t.inputLead}</p>
${error ? html`<p class="error" role="alert" id="form-error">${error}</p>` : ''}
${
  !usable
    ? html`<p><a href="/device?ui_locales=${locale}">${t.startAgain}</a></p>`
    : xsrf && action
    ? html`<form method="post" action="${action}" novalidate>
<input type="hidden" name="xsrf" value="${xsrf}">
<label for="user_code">${t.codeLabel}</label>
<span class="hint" id="user_code-hint">${t.codeHint}</span>
<input type="text" id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" required maxlength="16"
 aria-describedby="user_code-hint${error ? ' form-error' : ''}"${error ? html` aria-invalid="true"` : ''} autofocus>
<button type="submit">${t.next}</button>
</form>`
    : trusted(form)
}`,
      }),
    );
  },

  userCodeConfirmSource(ctx: KoaContextWithOIDC, form: string, client: Client, _deviceInfo: unknown, userCode: string) {
    const locale = localeOf(ctx);
    const t = text[locale];
    htmlPage(ctx, (nonce) =>
      layout({
        locale,
        nonce,
        title: t.confirmTitle,
        body: html`<h1>${t.confirmTitle}</h1>
<p>${t.confirmLead(clientName(client))}</p>
<p>${t.confirmCheck}</p>
${userCodeDisplay(userCode)}
<p>${t.confirmWarning}</p>
${trusted(form)}
<button type="submit" form="op.deviceConfirmForm">${t.confirm}</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes" class="secondary">${t.abort}</button>`,
      }),
    );
  },

  successSource(ctx: KoaContextWithOIDC) {
    const locale = localeOf(ctx);
    const t = text[locale];
    htmlPage(ctx, (nonce) => layout({ locale, nonce, title: t.doneTitle, body: html`<h1>${t.doneTitle}</h1><p>${t.done(clientName(ctx.oidc.client))}</p>` }));
  },
};
