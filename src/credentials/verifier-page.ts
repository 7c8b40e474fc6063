import { html } from '../http/html.js';
import { layout } from '../http/layout.js';
import type { Locale } from '../http/locale.js';
import { pollThenSubmit } from '../http/poll-script.js';
import { SERVICE_TIME_ZONE, zonedTime } from '../http/zoned-time.js';
import type { PresentationOutcome, ResponseRefusal } from './presentation-requests.js';
import { PRESENTATION_PATHS } from './presentation-requests.js';

/** Names of the identity credential's claims; a certificate type's come from its definition. */
const IDENTITY_LABELS: Record<Locale, Record<string, string>> = {
  'zh-CN': { name: '姓名', birthdate: '出生日期', gender: '性别', citizen_id: '公民身份号码', citizen_id_masked: '公民身份号码（部分隐藏）', verification: '身份核验', acr: '登录等级', issuing_department: '签发部门' },
  en: { name: 'Name', birthdate: 'Date of birth', gender: 'Gender', citizen_id: 'Citizen ID number', citizen_id_masked: 'Citizen ID number (masked)', verification: 'Identity verification', acr: 'Sign-in level', issuing_department: 'Issuing department' },
};

const REASONS: Record<Locale, Record<ResponseRefusal, string>> = {
  'zh-CN': {
    malformed: '出示的内容不是有效的电子凭证。',
    wrong_issuer: '该凭证不是本平台签发的。',
    unknown_type: '该凭证不是本次要求的类型。',
    unknown_key: '该凭证的签名密钥不是本平台公布的密钥。',
    bad_signature: '该凭证的签发签名无效。',
    expired: '该凭证已过期。',
    not_yet_valid: '该凭证尚未生效。',
    no_holder_key: '该凭证没有绑定持有人的密钥。',
    holder_key_mismatch: '出示凭证的设备不是该凭证的持有设备。',
    wrong_nonce: '出示的凭证不是针对本次请求的。',
    wrong_audience: '出示的凭证是给其他核验方的。',
    stale_key_binding: '出示的凭证不是刚刚生成的。',
    tampered: '出示的信息与签发的凭证不一致，可能被篡改。',
    no_status: '该凭证没有状态信息，无法确认是否有效。',
    status_unknown: '暂时无法确认该凭证的状态。',
    status_list_invalid: '该凭证的状态信息无效或已过期。',
    revoked: '该凭证已被撤销。',
    suspended: '该凭证已被暂停使用。',
    schema: '出示的信息不符合该凭证类型的格式。',
    missing_claim: '没有出示本次要求的全部信息。',
    declined: '持有人拒绝出示凭证。',
    bad_response: '钱包没有出示本次要求的凭证。',
  },
  en: {
    malformed: 'What was presented is not a valid credential.',
    wrong_issuer: 'The credential was not issued here.',
    unknown_type: 'The credential is not of the type asked for.',
    unknown_key: 'The credential is signed with a key the issuer does not publish.',
    bad_signature: "The issuer's signature on the credential is not valid.",
    expired: 'The credential has expired.',
    not_yet_valid: 'The credential is not valid yet.',
    no_holder_key: 'The credential is not bound to its holder’s device.',
    holder_key_mismatch: 'The device that presented the credential is not the one it was issued to.',
    wrong_nonce: 'The presentation was not made for this request.',
    wrong_audience: 'The presentation was made for another verifier.',
    stale_key_binding: 'The presentation was not made just now.',
    tampered: 'The information presented does not match the credential as issued: it may have been altered.',
    no_status: 'The credential has no status entry, so its validity cannot be confirmed.',
    status_unknown: "The credential's status cannot be checked right now.",
    status_list_invalid: "The credential's status information is not valid or out of date.",
    revoked: 'The credential has been revoked.',
    suspended: 'The credential is suspended.',
    schema: "The information presented does not fit the credential type's format.",
    missing_claim: 'Not everything this request asks for was presented.',
    declined: 'The holder declined to present the credential.',
    bad_response: 'The wallet did not present the credential asked for.',
  },
};

const TEXT = {
  'zh-CN': {
    title: '出示电子凭证',
    lead: '请用一号 App 扫描二维码，并在 App 中确认要出示的信息。',
    qrAlt: '用一号 App 扫描的凭证出示二维码',
    sameDevice: '在本设备的钱包中打开',
    validUntil: (t: string) => `二维码在 ${t} 前有效，只能使用一次。`,
    waiting: '正在等待出示……收到后本页会自动显示结果。',
    check: '查看结果',
    verifiedTitle: '凭证有效',
    verifiedLead: '以下是持有人选择出示的信息，其他信息未出示：',
    refusedTitle: '凭证未通过核验',
    expiredTitle: '请求已过期',
    expired: '这个出示请求已过期或不存在，请重新发起。',
    statusAsOf: (t: string) => `状态核验时间：${t}`,
  },
  en: {
    title: 'Present a credential',
    lead: 'Scan the QR code with the Yihao app, and confirm in the app what to present.',
    qrAlt: 'QR code to scan with the Yihao app to present a credential',
    sameDevice: 'Open in the wallet on this device',
    validUntil: (t: string) => `The code is valid until ${t} and works once.`,
    waiting: 'Waiting for the presentation… This page shows the result by itself once it arrives.',
    check: 'Show the result',
    verifiedTitle: 'The credential is valid',
    verifiedLead: 'The holder chose to present the following; nothing else was disclosed:',
    refusedTitle: 'The credential was not accepted',
    expiredTitle: 'The request has expired',
    expired: 'This presentation request has expired or does not exist. Start a new one.',
    statusAsOf: (t: string) => `Status checked as of ${t}`,
  },
};

/** Times as every page shows them, with the zone written out. */
const time = (ms: number) => zonedTime(ms, SERVICE_TIME_ZONE);

const value = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export interface VerifierPageInput {
  locale: Locale;
  nonce: string;
  requestId: string;
  resultToken: string;
  /** Names of the type's claims (a certificate type's own); the identity credential's are built in. */
  labels?: Record<string, string>;
  state: { kind: 'pending'; qrDataUrl: string; link: string; expiresAt: number } | { kind: 'done'; outcome: Exclude<PresentationOutcome, { status: 'pending' }> } | { kind: 'gone' };
}

/**
 * The counter's and kiosk's screen: the QR code (and a same-device link) while the request waits,
 * then only the claims the holder disclosed, or the refusal in plain words. It polls the result
 * with its result token and, once there is one, posts itself again to show it (which also works
 * without script, through the button).
 */
export function verifierPage(p: VerifierPageInput): string {
  const t = TEXT[p.locale];
  const again = html`<form id="vp-result" method="post" action="${PRESENTATION_PATHS.page}">
<input type="hidden" name="request_id" value="${p.requestId}">
<input type="hidden" name="result_token" value="${p.resultToken}">
<input type="hidden" name="ui_locales" value="${p.locale}">
<button type="submit">${t.check}</button>
</form>`;
  if (p.state.kind === 'gone') {
    return layout({ locale: p.locale, nonce: p.nonce, title: t.expiredTitle, body: html`<h1>${t.expiredTitle}</h1><p class="error" role="alert">${t.expired}</p>` });
  }
  if (p.state.kind === 'done') {
    const outcome = p.state.outcome;
    if (outcome.status === 'refused') {
      return layout({ locale: p.locale, nonce: p.nonce, title: t.refusedTitle, body: html`<h1>${t.refusedTitle}</h1><p class="error" role="alert" data-reason="${outcome.reason}">${REASONS[p.locale][outcome.reason]}</p>` });
    }
    const labels = { ...IDENTITY_LABELS[p.locale], ...p.labels };
    const rows = Object.entries(outcome.claims).map(([name, v]) => html`<dt>${labels[name] ?? name}</dt><dd data-claim="${name}">${value(v)}</dd>`);
    return layout({
      locale: p.locale,
      nonce: p.nonce,
      title: t.verifiedTitle,
      body: html`<h1>${t.verifiedTitle}</h1>
<p role="status">${t.verifiedLead}</p>
<dl id="claims">${rows}</dl>
<p class="hint">${t.statusAsOf(time(outcome.statusAsOf * 1000))}</p>`,
    });
  }
  const statusUrl = PRESENTATION_PATHS.result(p.requestId);
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.title,
    body: html`<h1>${t.title}</h1>
<p>${t.lead}</p>
<p><img src="${p.state.qrDataUrl}" alt="${t.qrAlt}" width="232" height="232"></p>
<p><a href="${p.state.link}" data-same-device>${t.sameDevice}</a></p>
<p>${t.validUntil(time(p.state.expiresAt))}</p>
<p id="vp-status" role="status" aria-live="polite">${t.waiting}</p>
${again}
${pollThenSubmit({ nonce: p.nonce, statusUrl, formId: 'vp-result', bearerField: 'result_token' })}`,
  });
}
