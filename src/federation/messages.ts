import type { Locale } from '../interactions/index.js';
import type { Refusal } from './federated-sign-in.js';
import { quoteName } from '../http/quote-name.js';

/** What the login page says when a sign-in through an upstream does not work out. */
const q = quoteName['zh-CN'];

const zh = {
  unavailable: (name: string) => `暂时无法连接${q(name)}，请稍后重试，或使用密码等其他方式登录。`,
  refusals: {
    browser_mismatch: () => '登录请求与当前浏览器不符，请重新开始登录。',
    upstream_disabled: (name: string) => `${q(name)}登录已停用，请使用其他方式登录。`,
    upstream_error: (name: string) => `未能通过${q(name)}完成登录（已取消或被拒绝），请重试或使用其他方式登录。`,
    upstream_unavailable: (name: string) => `暂时无法连接${q(name)}，请稍后重试，或使用密码等其他方式登录。`,
    token_invalid: (name: string) => `${q(name)}返回的登录凭证无效，已拒绝登录。请重试或使用其他方式登录。`,
    citizen_id_missing: (name: string) => `${q(name)}没有提供您的身份证号，无法关联账号。`,
    citizen_id_malformed: (name: string) => `${q(name)}提供的身份证号无效，无法关联账号。`,
    citizen_id_conflict: (name: string) => `${q(name)}此次提供的身份证号与该账号此前关联的不一致，已拒绝登录。请联系该平台核实。`,
    account_already_linked: (name: string) => `您的账号已关联另一个${q(name)}账户，已拒绝登录。`,
    account_inactive: () => '该账号已被锁定或停用，无法登录。',
    name_missing: (name: string) => `${q(name)}没有提供您的姓名，无法创建账号。`,
    name_mismatch: (name: string) => `${q(name)}提供的姓名与人口信息库不一致，已拒绝登录。`,
    registry_unavailable: () => '人口信息库暂时无法核验，请稍后重试，或使用密码登录。',
    claims_unusable: (name: string) => `${q(name)}提供的姓名或账户标识无法使用（过长或含控制字符），已拒绝登录。请使用其他方式登录。`,
    upstream_login_predates_sign_out: (name: string) => `您已退出所有登录，请在${q(name)}重新登录。`,
    upstream_login_stale: (name: string) => `您已退出所有登录，但${q(name)}未要求您重新登录。请先在${q(name)}退出，或使用其他方式登录。`,
    upstream_login_time_unknown: (name: string) => `${q(name)}未说明您的登录时间，请在${q(name)}重新登录。`,
    upstream_login_time_unstated: (name: string) => `${q(name)}未说明您的登录时间，无法确认您刚刚登录过，已拒绝登录。请使用其他方式登录。`,
    upstream_login_too_old: (name: string) => `您在${q(name)}的登录早于此应用允许的时间，且${q(name)}未要求您重新登录。请先在${q(name)}退出，或使用其他方式登录。`,
  } satisfies Record<Refusal, (name: string) => string>,
  expired: '登录请求已失效或已使用，请返回应用重新登录。',
  signOutExpired: '您已退出一号。此返回链接已失效或已使用，请直接打开您要使用的应用。',
};

const en: typeof zh = {
  unavailable: (name) => `${name} cannot be reached right now. Try again later, or sign in another way, such as with your password.`,
  refusals: {
    browser_mismatch: () => 'This sign-in was started in another browser. Please start again.',
    upstream_disabled: (name) => `Signing in with ${name} is switched off. Please sign in another way.`,
    upstream_error: (name) => `Signing in with ${name} did not finish (cancelled or refused). Try again, or sign in another way.`,
    upstream_unavailable: (name) => `${name} cannot be reached right now. Try again later, or sign in another way, such as with your password.`,
    token_invalid: (name) => `${name} sent an invalid sign-in token, so the sign-in was refused. Try again, or sign in another way.`,
    citizen_id_missing: (name) => `${name} did not send your ID number, so no account can be linked.`,
    citizen_id_malformed: (name) => `${name} sent an ID number that is not valid, so no account can be linked.`,
    citizen_id_conflict: (name) => `${name} sent a different ID number than before for this account, so the sign-in was refused. Please ask ${name} to check it.`,
    account_already_linked: (name) => `Your account is already linked to another ${name} account, so the sign-in was refused.`,
    account_inactive: () => 'This account is locked or disabled.',
    name_missing: (name) => `${name} did not send your name, so no account can be created.`,
    name_mismatch: (name) => `The name sent by ${name} does not match the population registry, so the sign-in was refused.`,
    registry_unavailable: () => 'The population registry cannot be checked right now. Try again later, or sign in with your password.',
    claims_unusable: (name) => `${name} sent a name or account identifier that cannot be used (too long, or with control characters), so the sign-in was refused. Please sign in another way.`,
    upstream_login_predates_sign_out: (name) => `You signed out everywhere: please sign in at ${name} again.`,
    upstream_login_stale: (name) => `You signed out everywhere, but ${name} did not ask you to sign in again. Sign out at ${name} first, or sign in another way.`,
    upstream_login_time_unknown: (name) => `${name} did not say when you signed in: please sign in at ${name} again.`,
    upstream_login_time_unstated: (name) => `${name} did not say when you signed in, so Yihao cannot tell whether you signed in just now. Please sign in another way.`,
    upstream_login_too_old: (name) => `Your sign-in at ${name} is older than this app allows, and ${name} did not ask you to sign in again. Sign out at ${name} first, or sign in another way.`,
  },
  expired: 'This sign-in has expired or was already used. Please go back to the app and sign in again.',
  signOutExpired: 'You are signed out of Yihao. This way back has expired or was already used; please open the app you want directly.',
};

export const federationMessages = (locale: Locale) => (locale === 'en' ? en : zh);

export const refusalText = (locale: Locale, reason: Refusal, upstreamLabel: string): string => {
  return federationMessages(locale).refusals[reason](upstreamLabel);
};
