import { html, type SafeHtml } from '../../http/html.js';
import { SERVICE_TIME_ZONE, zonedTime } from '../../http/zoned-time.js';
import { DISABLE_REASONS, ENABLE_REASONS, type AccountView } from '../account-status-service.js';
import type { PendingEnable, StatusChange } from '../account-status-store.js';
import type { Page } from '../paging.js';
import type { Locale } from './i18n.js';
import { consoleLayout, type PageFrame } from './layout.js';

/** The words of the citizen-account pages (kept here, beside the pages, in both languages). */
const words = {
  'zh-CN': {
    title: '公民账号',
    lead: '按身份证号码查找公民账号。号码只用于查找，不会出现在网址或日志中；查找会记入审计日志。',
    citizenId: '身份证号码',
    find: '查找',
    pendingTitle: '等待审核的恢复启用申请',
    noPending: '没有等待审核的申请。',
    account: '账号',
    requestedBy: '申请人',
    requestedAt: '申请时间',
    reason: '原因',
    note: '说明（选填，最多 500 字，不要填写身份证号码）',
    noteShown: '说明',
    sub: '账号标识（sub）',
    maskedId: '身份证号码',
    name: '姓名',
    status: '状态',
    statuses: { active: '正常', locked: '已锁定', disabled: '已停用' } as Record<string, string>,
    assurance: '实名核验方式',
    created: '注册时间',
    disabledTitle: '停用情况',
    disabledBy: '停用人',
    disabledAt: '停用时间',
    cli: '命令行（系统）',
    signInTitle: '登录概况',
    lastSignIn: '最近一次登录',
    never: '从未登录',
    failed: (days: number) => `近 ${days} 天登录失败次数`,
    sessions: '当前浏览器会话',
    methods: '登录方式（最近使用）',
    methodNames: { password: '密码', totp: '身份验证器', passkey: '通行密钥', device: '设备密钥', phone: '手机号' } as Record<string, string>,
    unused: '未使用',
    disableTitle: '停用此账号',
    disableLead: '立即生效：在所有渠道都不能再登录，其会话、令牌和电子凭证全部失效（恢复启用后也不会恢复）。',
    disable: '停用账号',
    requestTitle: '申请恢复启用',
    requestLead: '恢复启用须经另一位操作员（国家级超级管理员或审核员）批准。已失效的会话、令牌和凭证不会恢复。',
    request: '提交申请',
    pendingOne: '恢复启用申请（等待审核）',
    approve: '批准恢复启用',
    reject: '驳回',
    reviewNote: '审核意见（选填）',
    ownRequest: '这是您提出的申请，须由另一位操作员审核。',
    ownAccount: '这是您自己的账号：操作员不能停用或恢复自己的账号。',
    disableReasons: { fraud: '欺诈或冒用', deceased: '公民已死亡', court_order: '司法或行政机关要求', citizen_request: '本人申请', compromised: '账号被盗用', other: '其他（须说明）' } as Record<string, string>,
    enableReasons: { identity_confirmed: '已核实本人身份', disabled_in_error: '停用有误', court_order: '司法或行政机关要求', citizen_request: '本人申请', other: '其他（须说明）' } as Record<string, string>,
    channels: { web: '网页', mobile: '手机应用', kiosk: '自助终端', counter: '服务窗口' } as Record<string, string>,
  },
  en: {
    title: 'Citizen accounts',
    lead: 'Find a citizen account by its ID number. The number is used only to find it: it never appears in an address or a log, and the lookup is recorded in the audit log.',
    citizenId: 'ID number',
    find: 'Find',
    pendingTitle: 'Requests to enable an account, waiting for review',
    noPending: 'No requests are waiting.',
    account: 'Account',
    requestedBy: 'Requested by',
    requestedAt: 'Requested at',
    reason: 'Reason',
    note: 'Note (optional, up to 500 characters, no ID numbers)',
    noteShown: 'Note',
    sub: 'Account id (sub)',
    maskedId: 'ID number',
    name: 'Name',
    status: 'Status',
    statuses: { active: 'Active', locked: 'Locked', disabled: 'Disabled' },
    assurance: 'Identity assurance',
    created: 'Registered',
    disabledTitle: 'Why it is disabled',
    disabledBy: 'Disabled by',
    disabledAt: 'Disabled at',
    cli: 'Command line (system)',
    signInTitle: 'Sign-in summary',
    lastSignIn: 'Last sign-in',
    never: 'Never',
    failed: (days: number) => `Failed sign-ins, last ${days} days`,
    sessions: 'Browser sessions now',
    methods: 'Sign-in methods (last used)',
    methodNames: { password: 'Password', totp: 'Authenticator app', passkey: 'Passkey', device: 'Device key', phone: 'Mobile number' },
    unused: 'not used',
    disableTitle: 'Disable this account',
    disableLead: 'At once: it cannot sign in on any channel, and its sessions, tokens and credentials end (they do not come back when it is enabled).',
    disable: 'Disable account',
    requestTitle: 'Ask to enable it again',
    requestLead: 'Another operator (a national super-admin or reviewer) must approve. Sessions, tokens and credentials that ended stay ended.',
    request: 'File the request',
    pendingOne: 'Request to enable (waiting for review)',
    approve: 'Approve: enable the account',
    reject: 'Reject',
    reviewNote: 'Review note (optional)',
    ownRequest: 'You filed this request: another operator reviews it.',
    ownAccount: 'This is your own account: operators cannot disable or enable their own account.',
    disableReasons: { fraud: 'Fraud or impersonation', deceased: 'The citizen has died', court_order: 'Court or authority order', citizen_request: "The citizen's own request", compromised: 'Account compromised', other: 'Other (say why)' },
    enableReasons: { identity_confirmed: 'Identity confirmed', disabled_in_error: 'Disabled in error', court_order: 'Court or authority order', citizen_request: "The citizen's own request", other: 'Other (say why)' },
    channels: { web: 'Web', mobile: 'Mobile app', kiosk: 'Kiosk', counter: 'Counter' },
  },
} satisfies Record<Locale, unknown>;
type Words = (typeof words)['zh-CN'];
const wordsFor = (locale: Locale): Words => words[locale];

const when = (ms: number | undefined) => {
  if (ms === undefined) return '—';
  const d = new Date(ms);
  return html`<time datetime="${d.toISOString()}">${zonedTime(d, SERVICE_TIME_ZONE)}</time>`;
};
const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

export interface FormState {
  errors: Record<string, string>;
  values: Record<string, string>;
}
const fieldError = (prefix: string, s: FormState, name: string) => (s.errors[name] ? html`<p class="field-error" id="${prefix}-${name}-error">${s.errors[name]}</p>` : '');
const invalid = (prefix: string, s: FormState, name: string) => (s.errors[name] ? html` aria-invalid="true" aria-describedby="${prefix}-${name}-error"` : '');

function reasonForm(w: Words, csrf: string, o: { prefix: string; action: string; reasons: readonly string[]; names: Record<string, string>; submit: string; danger: boolean; state: FormState }): SafeHtml {
  const { prefix, state } = o;
  return html`<form method="post" action="${o.action}">${csrfField(csrf)}
${state.errors._ ? html`<p class="error" role="alert">${state.errors._}</p>` : ''}
<label for="${prefix}-reason">${w.reason}</label><select id="${prefix}-reason" name="reason"${invalid(prefix, state, 'reason')}>${o.reasons.map((r) => html`<option value="${r}"${state.values.reason === r ? html` selected` : ''}>${o.names[r] ?? r}</option>`)}</select>${fieldError(prefix, state, 'reason')}
<label for="${prefix}-note">${w.note}</label><textarea id="${prefix}-note" name="note" maxlength="500"${invalid(prefix, state, 'note')}>${state.values.note ?? ''}</textarea>${fieldError(prefix, state, 'note')}
<button type="submit"${o.danger ? html` class="danger"` : ''}>${o.submit}</button></form>`;
}

/** The lookup form and the requests waiting for review. */
export function accountsPage(f: PageFrame, pending: Page<PendingEnable> | undefined, lookup: FormState): string {
  const w = wordsFor(f.locale);
  const csrf = f.chrome!.csrf;
  const rows = (pending?.items ?? []).map(
    (r) => html`<tr data-request="${r.id}"><td><a href="/admin/accounts/${r.accountSub}">${r.accountName}</a><br><code class="id">${r.accountSub}</code></td><td>${w.enableReasons[r.reason] ?? r.reason}</td><td><code class="id">${r.actorId}</code></td><td>${when(r.createdAt)}</td></tr>`,
  );
  return consoleLayout(
    f,
    w.title,
    html`<p class="lead">${w.lead}</p>
${lookup.errors._ ? html`<p class="error" role="alert">${lookup.errors._}</p>` : ''}
<form method="post" action="/admin/accounts/lookup" role="search" class="inline">${csrfField(csrf)}
<div><label for="l-citizen_id">${w.citizenId}</label><input type="text" id="l-citizen_id" name="citizen_id" autocomplete="off" spellcheck="false" maxlength="18" value=""${invalid('l', lookup, 'citizen_id')}>${fieldError('l', lookup, 'citizen_id')}</div>
<button type="submit">${w.find}</button></form>
${pending
  ? html`<h2>${w.pendingTitle}</h2>${rows.length ? html`<table><thead><tr><th scope="col">${w.account}</th><th scope="col">${w.reason}</th><th scope="col">${w.requestedBy}</th><th scope="col">${w.requestedAt}</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>${w.noPending}</p>`}`
  : ''}`,
  );
}

export interface AccountPageOptions {
  self: { sub: string; isAccount: boolean };
  may: { disable: boolean; request: boolean; review: boolean };
  disableForm: FormState;
  requestForm: FormState;
}

const by = (w: Words, c: StatusChange) => (c.actorType === 'system' ? w.cli : html`<code class="id">${c.actorId}</code>`);

/** One account: who it is (masked), its status and why, its sign-ins, and what the operator may do. */
export function accountPage(f: PageFrame, a: AccountView, o: AccountPageOptions): string {
  const w = wordsFor(f.locale);
  const csrf = f.chrome!.csrf;
  const last = a.signIn.last;
  const pending = a.pendingEnable;
  const review = pending && o.may.review
    ? pending.actorId === o.self.sub
      ? html`<p class="hint">${w.ownRequest}</p>`
      : html`<form method="post" action="/admin/account-requests/${pending.id}/review">${csrfField(csrf)}
<label for="r-note">${w.reviewNote}</label><textarea id="r-note" name="note" maxlength="500"></textarea>
<div class="actions"><button type="submit" name="decision" value="approve">${w.approve}</button><button type="submit" name="decision" value="reject" class="danger">${w.reject}</button></div></form>`
    : '';
  return consoleLayout(
    f,
    f.locale === 'en' ? `${w.account}: ${a.name}` : `${w.account}：${a.name}`,
    html`<dl data-account="${a.sub}">
<dt>${w.name}</dt><dd>${a.name}</dd>
<dt>${w.maskedId}</dt><dd data-masked-id>${a.citizenIdMasked}</dd>
<dt>${w.sub}</dt><dd><code class="id">${a.sub}</code></dd>
<dt>${w.status}</dt><dd><span class="tag${a.status === 'disabled' ? ' danger' : ''}" data-status="${a.status}">${w.statuses[a.status] ?? a.status}</span></dd>
<dt>${w.created}</dt><dd>${when(a.createdAt)}</dd></dl>
${a.disabled
  ? html`<h2>${w.disabledTitle}</h2><dl data-disabled><dt>${w.reason}</dt><dd>${w.disableReasons[a.disabled.reason] ?? a.disabled.reason}</dd>
${a.disabled.note ? html`<dt>${w.noteShown}</dt><dd>${a.disabled.note}</dd>` : ''}<dt>${w.disabledBy}</dt><dd>${by(w, a.disabled)}</dd><dt>${w.disabledAt}</dt><dd>${when(a.disabled.createdAt)}</dd></dl>`
  : ''}
${pending
  ? html`<h2>${w.pendingOne}</h2><dl data-pending="${pending.id}"><dt>${w.reason}</dt><dd>${w.enableReasons[pending.reason] ?? pending.reason}</dd>
${pending.note ? html`<dt>${w.noteShown}</dt><dd>${pending.note}</dd>` : ''}<dt>${w.requestedBy}</dt><dd>${by(w, pending)}</dd><dt>${w.requestedAt}</dt><dd>${when(pending.createdAt)}</dd></dl>${review}`
  : ''}
<h2>${w.signInTitle}</h2>
<dl data-sign-in>
<dt>${w.lastSignIn}</dt><dd>${last ? html`${when(last.at)}${last.channel ? ` · ${w.channels[last.channel] ?? last.channel}` : ''}` : w.never}</dd>
<dt>${w.failed(a.signIn.failedWindowDays)}</dt><dd>${a.signIn.failedSince}</dd>
<dt>${w.sessions}</dt><dd>${a.signIn.sessions}</dd>
<dt>${w.methods}</dt><dd>${a.signIn.methods.length ? a.signIn.methods.map((m, i) => html`${i ? '、' : ''}${w.methodNames[m.type] ?? m.type} (${m.lastUsedAt === undefined ? w.unused : when(m.lastUsedAt)})`) : '—'}</dd></dl>
${o.self.isAccount ? html`<p class="hint">${w.ownAccount}</p>` : ''}
${!o.self.isAccount && o.may.disable && a.status !== 'disabled'
  ? html`<h2>${w.disableTitle}</h2><p class="warning" role="note">${w.disableLead}</p>${reasonForm(w, csrf, { prefix: 'd', action: `/admin/accounts/${a.sub}/disable`, reasons: DISABLE_REASONS, names: w.disableReasons, submit: w.disable, danger: true, state: o.disableForm })}`
  : ''}
${!o.self.isAccount && o.may.request && a.status === 'disabled' && !pending
  ? html`<h2>${w.requestTitle}</h2><p class="hint">${w.requestLead}</p>${reasonForm(w, csrf, { prefix: 'e', action: `/admin/accounts/${a.sub}/enable-request`, reasons: ENABLE_REASONS, names: w.enableReasons, submit: w.request, danger: false, state: o.requestForm })}`
  : ''}
<p><a href="/admin/accounts">${w.title}</a></p>`,
  );
}
