import type { Locale } from '../http/locale.js';
import { html, type SafeHtml } from '../http/html.js';
import { layout } from '../http/layout.js';

const zh = {
  title: '重置密码',
  lead: '请输入身份证号或绑定的手机号。我们会向账号绑定的手机发送验证码。',
  identifier: '身份证号或手机号',
  identifierHint: '18 位居民身份证号码，或 11 位手机号码',
  sendCode: '获取验证码',
  codeTitle: '设置新密码',
  sent: (minutes: number) => `如果该账号存在且绑定了手机号，验证码已发送至该手机，${minutes} 分钟内有效。`,
  code: '短信验证码',
  codeHint: '短信中的 6 位数字',
  password: '新密码',
  passwordHint: '8 至 128 个字符',
  passwordConfirm: '确认新密码',
  submit: '重置密码',
  startOver: '重新开始',
  doneTitle: '密码已重置',
  endedTitle: '重置密码未完成',
  done: '您的密码已更新，所有设备上的登录均已退出。请使用新密码登录。',
  continueSignIn: '返回登录',
  required: '请填写此项。',
  tooLong: '输入内容过长。',
  identifierInvalid: '请输入 18 位身份证号或 11 位手机号。',
  codeFormat: '验证码为 6 位数字。',
  passwordTooShort: '密码至少需要 8 个字符。',
  passwordTooLong: '密码不能超过 128 个字符。',
  passwordMismatch: '两次输入的密码不一致。',
  wrongCode: '验证码不正确。',
  expiredCode: '验证码已过期，请重新开始。',
  tooManyAttempts: '验证码错误次数过多，请重新开始。',
  flowExpired: '页面已过期，请重新开始。',
  badReturnTo: '链接无效。',
  tooSoon: (seconds: number) => `发送过于频繁，请在 ${seconds} 秒后重试。`,
  tooManyCodes: (seconds: number) => `验证码发送次数过多，请在 ${Math.ceil(seconds / 60)} 分钟后重试。`,
  smsUnavailable: '短信暂时无法发送，请稍后重试。',
};
const en: typeof zh = {
  title: 'Reset your password',
  lead: 'Enter your ID number or the mobile number bound to your account. We will send a code to that phone.',
  identifier: 'ID number or mobile number',
  identifierHint: 'Your 18-character resident ID number, or your 11-digit mobile number',
  sendCode: 'Send code',
  codeTitle: 'Choose a new password',
  sent: (minutes) => `If this account exists and has a mobile number, a code has been sent to it. It is valid for ${minutes} minute${minutes === 1 ? '' : 's'}.`,
  code: 'SMS code',
  codeHint: 'The 6 digits in the text message',
  password: 'New password',
  passwordHint: '8 to 128 characters',
  passwordConfirm: 'Confirm the new password',
  submit: 'Reset password',
  startOver: 'Start again',
  doneTitle: 'Password reset',
  endedTitle: 'Password reset did not finish',
  done: 'Your password has been changed and you have been signed out on every device. Sign in with the new password.',
  continueSignIn: 'Back to sign-in',
  required: 'Please fill in this field.',
  tooLong: 'This entry is too long.',
  identifierInvalid: 'Enter an 18-character ID number or an 11-digit mobile number.',
  codeFormat: 'The code is 6 digits.',
  passwordTooShort: 'The password needs at least 8 characters.',
  passwordTooLong: 'The password cannot be longer than 128 characters.',
  passwordMismatch: 'The two passwords do not match.',
  wrongCode: 'The code is not correct.',
  expiredCode: 'The code has expired. Please start again.',
  tooManyAttempts: 'Too many wrong codes. Please start again.',
  flowExpired: 'This page has expired. Please start again.',
  badReturnTo: 'This link is not valid.',
  tooSoon: (seconds) => `Please wait ${seconds} second${seconds === 1 ? '' : 's'} before requesting another code.`,
  tooManyCodes: (seconds) => `Too many codes have been requested. Try again in ${Math.ceil(seconds / 60)} minutes.`,
  smsUnavailable: 'Text messages cannot be sent right now. Please try again later.',
};
export type ResetMessages = typeof zh;
export const resetMessages = (locale: Locale): ResetMessages => (locale === 'en' ? en : zh);

interface PageBase {
  locale: Locale;
  nonce: string;
  /** `?ui_locales=..&return_to=..` for every link and form (or ''). */
  query: string;
  returnTo: string | undefined;
  error?: string | undefined;
}

const alert = (error: string | undefined): SafeHtml | '' => (error ? html`<p class="error" role="alert" id="form-error">${error}</p>` : '');
const invalid = (error: string | undefined) => (error ? html` aria-invalid="true"` : '');

export function resetStartPage(p: PageBase & { csrf: string }): string {
  const t = resetMessages(p.locale);
  return layout({
    ...p,
    title: t.title,
    body: html`<h1>${t.title}</h1>
<p>${t.lead}</p>
${alert(p.error)}
<form method="post" action="/password-reset${p.query}" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
<label for="identifier">${t.identifier}</label>
<span class="hint" id="identifier-hint">${t.identifierHint}</span>
<input type="text" id="identifier" name="identifier" autocomplete="username" required maxlength="64" aria-describedby="identifier-hint${p.error ? ' form-error' : ''}"${invalid(p.error)} autofocus>
<button type="submit">${t.sendCode}</button>
</form>
${p.returnTo ? html`<p><a href="${p.returnTo}">${t.continueSignIn}</a></p>` : ''}`,
  });
}

export function resetCodePage(p: PageBase & { csrf: string; codeMinutes: number }): string {
  const t = resetMessages(p.locale);
  return layout({
    ...p,
    title: t.codeTitle,
    body: html`<h1>${t.codeTitle}</h1>
${alert(p.error)}
<p role="status">${t.sent(p.codeMinutes)}</p>
<form method="post" action="/password-reset/code${p.query}" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
<label for="code">${t.code}</label>
<span class="hint" id="code-hint">${t.codeHint}</span>
<input type="text" id="code" name="code" autocomplete="one-time-code" inputmode="numeric" required maxlength="32"${invalid(p.error)} autofocus>
<label for="password">${t.password}</label>
<span class="hint" id="password-hint">${t.passwordHint}</span>
<input type="password" id="password" name="password" autocomplete="new-password" required maxlength="128">
<label for="password_confirm">${t.passwordConfirm}</label>
<input type="password" id="password_confirm" name="password_confirm" autocomplete="new-password" required maxlength="128">
<button type="submit">${t.submit}</button>
</form>
<p><a href="/password-reset${p.query}">${t.startOver}</a></p>`,
  });
}

export function resetMessagePage(p: PageBase & { title: string; message: string; restart: boolean }): string {
  const t = resetMessages(p.locale);
  return layout({
    ...p,
    title: p.title,
    body: html`<h1>${p.title}</h1>
<p${p.restart ? html` class="error" role="alert"` : html` role="status"`}>${p.message}</p>
${p.restart ? html`<p><a href="/password-reset${p.query}">${t.startOver}</a></p>` : ''}
${p.returnTo ? html`<p><a href="${p.returnTo}">${t.continueSignIn}</a></p>` : ''}`,
  });
}
