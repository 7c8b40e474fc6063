import { messages as interactionMessages, pickLocale, type Locale } from '../interactions/i18n.js';

export { pickLocale, type Locale };

/** Notices shown once after an action (carried as a code in the redirect, never as text). */
export const NOTICES = ['consent_revoked', 'session_ended', 'credential_removed', 'signed_in_again'] as const;
export type Notice = (typeof NOTICES)[number];

const zh = {
  portalName: '个人中心',
  nav: { profile: '个人资料', credentials: '登录方式', sessions: '登录会话', apps: '授权应用', history: '访问记录' },
  navLabel: '个人中心导航',
  signOut: '退出登录',
  otherLanguage: { label: 'English', href: 'en' },
  signedInAs: (name: string) => `已登录：${name}`,

  profileTitle: '个人资料',
  name: '姓名',
  citizenId: '身份证号',
  phone: '手机号码',
  noPhone: '未绑定',
  birthDate: '出生日期',
  gender: '性别',
  genders: { male: '男', female: '女' } as Record<string, string>,
  assurance: '实名核验',
  assuranceAt: '核验时间',
  assurances: {
    self_asserted: '未核验（本人填写）',
    registry: '已通过人口信息库核验',
    id_chip: '已通过身份证芯片核验',
    in_person: '已在服务窗口当面核验',
    federated: '由地方或部门统一身份认证平台提供',
  } as Record<string, string>,
  memberSince: '注册时间',

  credentialsTitle: '登录方式',
  credentialsLead: '您可以用以下方式登录一号。移除不再使用的方式可以保护账号安全。',
  credentialTypes: {
    password: '密码',
    totp: '身份验证器动态口令',
    passkey: '通行密钥',
    device: '手机应用设备密钥',
    phone: '手机短信验证码',
  } as Record<string, string>,
  created: '添加时间',
  lastUsed: '最近使用',
  never: '从未使用',
  remove: '移除',
  removeLabel: (type: string) => `移除${type}`,
  passwordKept: '密码是账号的基本登录方式，不能移除。',

  sessionsTitle: '登录会话',
  sessionsLead: '以下是您在各渠道保持登录的会话。结束会话后，该设备或浏览器需要重新登录。',
  channel: '渠道',
  method: '登录方式',
  level: '认证等级',
  signedInAt: '登录时间',
  appsInSession: '在此会话中使用的应用',
  thisBrowser: '当前浏览器',
  sessionHeading: (channel: string, when: string) => `${channel} · ${when}`,
  endSession: '结束此会话',
  endAll: '结束全部会话',
  endAllHint: '将在所有渠道退出登录，撤销全部应用授权，并退出本页面。',
  noSessions: '没有活动的会话。',
  channels: { web: '网页', mobile: '手机应用', kiosk: '自助终端', counter: '服务窗口' } as Record<string, string>,
  methods: {
    pwd: '密码',
    otp: '动态口令',
    sms: '短信验证码',
    hwk: '硬件密钥',
    swk: '软件密钥',
    face: '人脸识别',
    mfa: '多因素认证',
    fed: '联合登录',
    pin: 'PIN 码',
    user: '本人确认',
  } as Record<string, string>,
  levels: {
    'urn:yihao:loa:1': '一级（单因素）',
    'urn:yihao:loa:2': '二级（双因素）',
    'urn:yihao:loa:3': '三级（证件核验）',
  } as Record<string, string>,

  appsTitle: '授权应用',
  appsLead: '以下应用经您同意，可以获取您的信息。撤销授权后，该应用的令牌立即失效，下次使用时需要重新授权。',
  sharedData: '可获取的信息',
  grantedAt: '授权时间',
  revoke: '撤销授权',
  revokeLabel: (app: string) => `撤销授权：${app}`,
  noApps: '您尚未授权任何应用。',

  historyTitle: '访问记录',
  historyLead: (n: number) => `最近 ${n} 条与您账号有关的记录。`,
  when: '时间',
  event: '事件',
  app: '应用',
  ip: 'IP 地址',
  noHistory: '暂无记录。',
  actions: {
    'authorization.granted': '登录应用',
    'login.succeeded': '登录成功',
    'login.failed': '登录失败',
    'login.locked': '账号锁定期间尝试登录',
    'account.locked': '账号被暂时锁定',
    'account.disabled': '账号被停用',
    'consent.revoked': '撤销应用授权',
    'session.ended': '结束登录会话',
    'credential.removed': '移除登录方式',
    'grant.revoked': '应用授权被撤销',
  } as Record<string, string>,

  notices: {
    consent_revoked: '已撤销该应用的授权，它持有的令牌已失效。',
    session_ended: '会话已结束，该设备或浏览器需要重新登录。',
    credential_removed: '已移除该登录方式。',
    signed_in_again: '为保护您的账号，移除登录方式前需要重新登录。您已重新登录，请再次点击“移除”。',
  } satisfies Record<Notice, string>,

  signedOutTitle: '已退出',
  signedOut: '您已退出个人中心和一号统一身份认证。',
  signInAgain: '重新登录',
  errorTitle: '出错了',
  notFound: '找不到该项目，或它不属于您的账号。',
  formExpired: '页面已过期，请返回个人中心后重试。',
  signInFailed: '登录没有完成，请重试。',
  backToPortal: '返回个人中心',
};

const en: typeof zh = {
  portalName: 'My account',
  nav: { profile: 'Profile', credentials: 'Sign-in methods', sessions: 'Sessions', apps: 'Connected apps', history: 'Access history' },
  navLabel: 'Account sections',
  signOut: 'Sign out',
  otherLanguage: { label: '中文', href: 'zh-CN' },
  signedInAs: (name) => `Signed in as ${name}`,

  profileTitle: 'Profile',
  name: 'Name',
  citizenId: 'ID number',
  phone: 'Mobile number',
  noPhone: 'None',
  birthDate: 'Birth date',
  gender: 'Gender',
  genders: { male: 'Male', female: 'Female' },
  assurance: 'Identity check',
  assuranceAt: 'Checked on',
  assurances: {
    self_asserted: 'Not checked (entered by you)',
    registry: 'Checked against the population registry',
    id_chip: 'Checked with the ID card chip',
    in_person: 'Checked in person at a service counter',
    federated: 'Asserted by a regional or departmental sign-in service',
  },
  memberSince: 'Account created',

  credentialsTitle: 'Sign-in methods',
  credentialsLead: 'You can sign in to Yihao with these methods. Remove the ones you no longer use to keep your account safe.',
  credentialTypes: {
    password: 'Password',
    totp: 'Authenticator app codes',
    passkey: 'Passkey',
    device: 'Mobile app device key',
    phone: 'SMS codes',
  },
  created: 'Added',
  lastUsed: 'Last used',
  never: 'Never',
  remove: 'Remove',
  removeLabel: (type) => `Remove ${type}`,
  passwordKept: 'The password is your account’s basic sign-in method and cannot be removed.',

  sessionsTitle: 'Sessions',
  sessionsLead: 'These are the places where you are signed in, on every channel. After you end a session, that device or browser must sign in again.',
  channel: 'Channel',
  method: 'Method',
  level: 'Assurance level',
  signedInAt: 'Signed in',
  appsInSession: 'Apps used in this session',
  thisBrowser: 'This browser',
  sessionHeading: (channel, when) => `${channel} · ${when}`,
  endSession: 'End this session',
  endAll: 'End all sessions',
  endAllHint: 'Signs you out on every channel, revokes every app’s access, and signs you out of this page.',
  noSessions: 'There are no active sessions.',
  channels: { web: 'Web', mobile: 'Mobile app', kiosk: 'Self-service kiosk', counter: 'Service counter' },
  methods: {
    pwd: 'Password',
    otp: 'One-time code',
    sms: 'SMS code',
    hwk: 'Hardware key',
    swk: 'Software key',
    face: 'Face match',
    mfa: 'Multi-factor',
    fed: 'Federated sign-in',
    pin: 'PIN',
    user: 'User presence',
  },
  levels: {
    'urn:yihao:loa:1': 'Level 1 (one factor)',
    'urn:yihao:loa:2': 'Level 2 (two factors)',
    'urn:yihao:loa:3': 'Level 3 (ID document checked)',
  },

  appsTitle: 'Connected apps',
  appsLead: 'You allowed these apps to receive your information. When you revoke access, the app’s tokens stop working at once and it must ask you again.',
  sharedData: 'Information shared',
  grantedAt: 'Allowed on',
  revoke: 'Revoke access',
  revokeLabel: (app) => `Revoke access for ${app}`,
  noApps: 'You have not allowed any apps.',

  historyTitle: 'Access history',
  historyLead: (n) => `The latest ${n} events about your account.`,
  when: 'When',
  event: 'Event',
  app: 'App',
  ip: 'IP address',
  noHistory: 'Nothing yet.',
  actions: {
    'authorization.granted': 'Signed in to an app',
    'login.succeeded': 'Signed in',
    'login.failed': 'Sign-in failed',
    'login.locked': 'Sign-in attempt while locked',
    'account.locked': 'Account locked for a while',
    'account.disabled': 'Account disabled',
    'consent.revoked': 'App access revoked',
    'session.ended': 'Session ended',
    'credential.removed': 'Sign-in method removed',
    'grant.revoked': 'App access revoked',
  },

  notices: {
    consent_revoked: 'Access revoked. The app’s tokens no longer work.',
    session_ended: 'Session ended. That device or browser must sign in again.',
    credential_removed: 'Sign-in method removed.',
    signed_in_again: 'To protect your account, removing a sign-in method needs a fresh sign-in. You have signed in again: select “Remove” once more.',
  },

  signedOutTitle: 'Signed out',
  signedOut: 'You have signed out of your account and of Yihao.',
  signInAgain: 'Sign in again',
  errorTitle: 'Something went wrong',
  notFound: 'That item was not found, or it does not belong to your account.',
  formExpired: 'This page has expired. Go back to your account and try again.',
  signInFailed: 'Signing in did not finish. Please try again.',
  backToPortal: 'Back to my account',
};

export type PortalMessages = typeof zh & {
  /** The interaction pages' wording, shared: site name, scope descriptions, skip link. */
  shared: ReturnType<typeof interactionMessages>;
};

export const portalMessages = (locale: Locale): PortalMessages => ({ ...(locale === 'en' ? en : zh), shared: interactionMessages(locale) });

/** A date and time for people, in the service's time zone. */
export function formatTime(locale: Locale, epochMs: number, timeZone: string): string {
  return new Intl.DateTimeFormat(locale === 'en' ? 'en-GB' : 'zh-CN', { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(epochMs);
}

export function formatDate(locale: Locale, epochMs: number, timeZone: string): string {
  return new Intl.DateTimeFormat(locale === 'en' ? 'en-GB' : 'zh-CN', { timeZone, dateStyle: 'long' }).format(epochMs);
}
