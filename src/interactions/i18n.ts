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

const zh = {
  siteName: '一号 · 统一身份认证',
  signInTitle: '登录',
  signInTo: (client: string) => `登录以继续访问「${client}」`,
  identifier: '身份证号或手机号',
  identifierHint: '18 位居民身份证号码，或 11 位手机号码',
  password: '密码',
  signIn: '登录',
  invalidCredentials: '身份证号/手机号或密码不正确。',
  accountLocked: (minutes: number) => `登录失败次数过多，账号已被暂时锁定。请在 ${minutes} 分钟后重试。`,
  consentTitle: '授权确认',
  consentLead: (client: string) => `「${client}」请求获取以下信息：`,
  allow: '同意',
  deny: '拒绝',
  scopeText: {
    openid: '您的账号标识（不含身份证号）',
    profile: '姓名、出生日期和性别',
    phone: '手机号码',
    offline_access: '在您离线时保持访问',
    identity_assurance: '您的实名核验方式和时间（以及经核验的姓名、出生日期）',
  } as Record<string, string>,
  citizenIdText: {
    none: undefined,
    masked: '部分隐藏的身份证号（如 110105********002X）',
    pseudonym: '由您的身份证号为本应用生成的专用编码（不含身份证号本身）',
    full: '您完整的身份证号',
  } as Record<string, string | undefined>,
  resourceText: (resource: string, scopes: string) => `访问 ${resource}（${scopes}）`,
  signOutTitle: '退出登录',
  signOutQuestion: '是否退出一号统一身份认证？',
  signOut: '退出登录',
  stay: '保持登录',
  signedOut: '您已退出登录。',
  errorTitle: '出错了',
  errorLead: '请求无法完成。',
  fieldTooLong: '输入内容过长。',
  fieldRequired: '请填写此项。',
  formExpired: '页面已过期，请重新开始登录。',
  skipToMain: '跳到主要内容',
  secondFactor: {
    title: '两步验证',
    lead: '请输入身份验证器应用显示的 6 位动态验证码。',
    stepUpLead: (client: string) => `「${client}」要求更高的安全级别。请输入身份验证器应用显示的 6 位动态验证码。`,
    code: '验证码',
    codeHint: '6 位数字。无法使用身份验证器时，可输入一个恢复码。',
    verify: '验证',
    invalidCode: '验证码不正确。',
    replayedCode: '此验证码已使用过。请等待身份验证器显示新的验证码。',
    enrolTitle: '设置身份验证器',
    enrolLead: (client: string) => `「${client}」要求两步验证。请用身份验证器应用（支持 TOTP 的任意应用）扫描下方二维码。`,
    qrAlt: '用于在身份验证器应用中添加一号账号的二维码',
    manualKey: '无法扫描？请在应用中手动输入以下密钥：',
    enrolCode: '应用显示的 6 位验证码',
    confirm: '确认',
    recoveryTitle: '保存恢复码',
    recoveryLead: '无法使用身份验证器时，每个恢复码可代替验证码登录一次。恢复码只显示这一次，请抄写或打印后妥善保存。',
    continue: '继续',
  },
};

const en: typeof zh = {
  siteName: 'Yihao · unified government sign-in',
  signInTitle: 'Sign in',
  signInTo: (client) => `Sign in to continue to ${client}`,
  identifier: 'ID number or mobile number',
  identifierHint: 'Your 18-character resident ID number, or your 11-digit mobile number',
  password: 'Password',
  signIn: 'Sign in',
  invalidCredentials: 'The ID number, mobile number or password is not correct.',
  accountLocked: (minutes) => `This account is temporarily locked after too many failed sign-in attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`,
  consentTitle: 'Allow access',
  consentLead: (client) => `${client} asks for:`,
  allow: 'Allow',
  deny: 'Deny',
  scopeText: {
    openid: 'an identifier for your account (not your ID number)',
    profile: 'your name, birth date and gender',
    phone: 'your mobile number',
    offline_access: 'access while you are not signed in',
    identity_assurance: 'how and when your identity was verified (with the verified name and birth date)',
  },
  citizenIdText: {
    none: undefined,
    masked: 'your ID number, partly hidden (like 110105********002X)',
    pseudonym: 'a code for this app derived from your ID number (not the number itself)',
    full: 'your full ID number',
  },
  resourceText: (resource, scopes) => `access to ${resource} (${scopes})`,
  signOutTitle: 'Sign out',
  signOutQuestion: 'Do you want to sign out of Yihao?',
  signOut: 'Sign out',
  stay: 'Stay signed in',
  signedOut: 'You have signed out.',
  errorTitle: 'Something went wrong',
  errorLead: 'The request could not be completed.',
  fieldTooLong: 'This entry is too long.',
  fieldRequired: 'Please fill in this field.',
  formExpired: 'This page has expired. Please start signing in again.',
  skipToMain: 'Skip to main content',
  secondFactor: {
    title: 'Two-step verification',
    lead: 'Enter the 6-digit code shown in your authenticator app.',
    stepUpLead: (client) => `${client} needs a higher level of assurance. Enter the 6-digit code shown in your authenticator app.`,
    code: 'Verification code',
    codeHint: '6 digits. If you cannot use your authenticator app, enter one of your recovery codes instead.',
    verify: 'Verify',
    invalidCode: 'The code is not correct.',
    replayedCode: 'This code has already been used. Wait for your authenticator app to show a new one.',
    enrolTitle: 'Set up an authenticator app',
    enrolLead: (client) => `${client} requires two-step verification. Scan this QR code with an authenticator app (any app that supports TOTP).`,
    qrAlt: 'QR code that adds your Yihao account to an authenticator app',
    manualKey: 'Cannot scan it? Enter this key in the app instead:',
    enrolCode: '6-digit code from the app',
    confirm: 'Confirm',
    recoveryTitle: 'Save your recovery codes',
    recoveryLead: 'If you cannot use your authenticator app, each of these codes signs you in once in place of a code from the app. They are shown only now: write them down or print them, and keep them safe.',
    continue: 'Continue',
  },
};

export type Messages = typeof zh;
export const messages = (locale: Locale): Messages => (locale === 'en' ? en : zh);
