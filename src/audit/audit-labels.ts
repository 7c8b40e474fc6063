import type { AUDIT_ACTIONS } from './audit-actions.js';

type Lang = 'zh-CN' | 'en';
type ListedAction = (typeof AUDIT_ACTIONS)[number];

/** Audit actions in words, for the citizen's access history (portal) and the operators' audit log (console). */
const ACTION_WORDS: Record<Lang, Record<ListedAction, string>> = {
  'zh-CN': {
    'authorization.granted': '登录应用',
    'login.succeeded': '登录成功',
    'login.failed': '登录失败',
    'login.locked': '账号锁定期间尝试登录',
    'account.locked': '账号被暂时锁定',
    'account.disabled': '账号被停用',
    'account.enabled': '账号恢复启用',
    'consent.revoked': '撤销应用授权',
    'consent.granted': '同意应用获取信息',
    'consent.declined': '拒绝应用获取信息',
    'session.ended': '结束登录会话',
    'credential.removed': '移除登录方式',
    'credential.added': '添加登录方式',
    'credential.add_failed': '添加登录方式未成功',
    'grant.revoked': '应用授权被撤销',
    'identity.proofing_recorded': '身份证件核验',
    'identity.proofing_confirmed': '确认身份核验',
    'identity.proofing_raised': '身份核验方式提升',
    'identity.proofing_confirm_refused': '确认身份核验未通过',
    'account.registered': '注册账号',
    'registration.refused': '注册未通过',
    'admin.denied': '管理操作被拒绝',
    'approval.approved': '在手机应用上批准登录',
    'approval.denied': '在手机应用上拒绝登录',
    'ciba.requested': '服务窗口请求登录',
    'counter.assist_refused': '服务窗口协助登录被拒绝',
    'counter.assisted_login': '服务窗口工作人员协助登录',
    'federation.linked': '关联外部身份',
    'federation.unlinked': '解除外部身份关联',
    'federation.refused': '外部身份登录被拒绝',
    'federation.unavailable': '外部身份服务暂不可用',
    'federation.logout': '外部身份服务通知退出',
    'federation.logout_refused': '外部身份服务的退出通知被拒绝',
    'federation.sign_out_sent': '已通知外部身份服务退出',
    'federation.sign_out_skipped': '未通知外部身份服务退出',
    'keys.rotated': '更换签名密钥',
    'vc.issued': '领取电子身份凭证',
    'vc.issuer_key_rotated': '更换电子凭证签名密钥',
    'vc.verifier_key_rotated': '更换核验请求签名密钥',
    'vc.revoked': '电子凭证已撤销',
    'vc.revoked_with_account': '账号停用，其电子凭证随之撤销',
    'vc.offer_created': '生成电子凭证领取二维码',
    'vc.offer_redeemed': '扫码领取电子凭证',
    'vc.offer_refused': '电子凭证领取验证码错误',
    'vc.certificate_pushed': '部门签发电子证照',
    'vc.certificate_issued': '领取电子证照',
    'login.step_up': '提升登录级别',
    'password.reset': '重设密码',
    'password.reset_failed': '重设密码未成功',
    'password.reset_requested': '申请重设密码',
    'ratelimit.refused': '请求过于频繁被拒绝',
  },
  en: {
    'authorization.granted': 'Signed in to an app',
    'login.succeeded': 'Signed in',
    'login.failed': 'Sign-in failed',
    'login.locked': 'Sign-in attempt while locked',
    'account.locked': 'Account locked for a while',
    'account.disabled': 'Account disabled',
    'account.enabled': 'Account enabled again',
    'consent.revoked': 'App access revoked',
    'consent.granted': 'App access allowed',
    'consent.declined': 'App access declined',
    'session.ended': 'Session ended',
    'credential.removed': 'Sign-in method removed',
    'credential.added': 'Sign-in method added',
    'credential.add_failed': 'Adding a sign-in method failed',
    'grant.revoked': 'App access revoked',
    'identity.proofing_recorded': 'ID document checked',
    'identity.proofing_confirmed': 'Identity check confirmed',
    'identity.proofing_raised': 'Identity proofing raised',
    'identity.proofing_confirm_refused': 'Identity check confirmation refused',
    'account.registered': 'Account registered',
    'registration.refused': 'Registration refused',
    'admin.denied': 'Administrative action refused',
    'approval.approved': 'Sign-in approved in the mobile app',
    'approval.denied': 'Sign-in declined in the mobile app',
    'ciba.requested': 'Sign-in requested at a service counter',
    'counter.assist_refused': 'Assisted sign-in at a counter refused',
    'counter.assisted_login': 'Signed in with help at a service counter',
    'federation.linked': 'External identity linked',
    'federation.unlinked': 'External identity unlinked',
    'federation.refused': 'Sign-in through an external identity refused',
    'federation.unavailable': 'External identity service unavailable',
    'federation.logout': 'Signed out by an external identity service',
    'federation.logout_refused': 'Sign-out notice from an external identity service refused',
    'federation.sign_out_sent': 'External identity service told of sign-out',
    'federation.sign_out_skipped': 'External identity service not told of sign-out',
    'keys.rotated': 'Signing keys rotated',
    'vc.issued': 'Identity credential issued to a wallet',
    'vc.issuer_key_rotated': 'Credential signing key rotated',
    'vc.verifier_key_rotated': 'Verifier request signing key rotated',
    'vc.revoked': 'Credential revoked',
    'vc.revoked_with_account': 'Credentials revoked with the disabled account',
    'vc.offer_created': 'Credential offer (QR code) created',
    'vc.offer_redeemed': 'Credential offer redeemed by a wallet',
    'vc.offer_refused': 'Credential offer refused: wrong code',
    'vc.certificate_pushed': 'Certificate issued by a department',
    'vc.certificate_issued': 'Certificate added to a wallet',
    'login.step_up': 'Sign-in level raised',
    'password.reset': 'Password reset',
    'password.reset_failed': 'Password reset failed',
    'password.reset_requested': 'Password reset requested',
    'ratelimit.refused': 'Refused: too many requests',
  },
};

/**
 * Operators' own actions (`admin.*`, named by the admin services). The audit log names each one;
 * the citizen's history names only the family ('管理员操作' / 'Action by an administrator').
 */
const OPERATOR_ACTION_WORDS: Record<Lang, Record<string, string>> = {
  'zh-CN': {
    'admin.department.created': '创建部门',
    'admin.client.created': '注册应用',
    'admin.client.suspended': '暂停应用',
    'admin.client.resumed': '恢复应用',
    'admin.client.secret_rotated': '更换应用密钥',
    'admin.client_change.drafted': '起草应用变更',
    'admin.client_change.edited': '修改应用变更',
    'admin.client_change.submitted': '提交应用变更审核',
    'admin.client_change.approved': '批准应用变更',
    'admin.client_change.rejected': '驳回应用变更',
    'admin.role.assigned': '授予操作员角色',
    'admin.role.revoked': '撤销操作员角色',
    'admin.keys.rotated': '更换签名密钥',
    'admin.certificate_type.created': '定义证照类型',
    'admin.certificate_type.updated': '修改证照类型（新版本）',
    'admin.certificate_type.retired': '停用证照类型',
    'admin.certificate.revoked': '撤销电子证照',
    'admin.certificate.suspended': '暂停电子证照',
    'admin.certificate.resumed': '恢复电子证照',
    'admin.account.looked_up': '查询公民账号',
    'admin.account.enable_requested': '申请恢复启用账号',
    'admin.account.enable_rejected': '驳回恢复启用账号申请',
  },
  en: {
    'admin.department.created': 'Department created',
    'admin.client.created': 'App registered',
    'admin.client.suspended': 'App suspended',
    'admin.client.resumed': 'App resumed',
    'admin.client.secret_rotated': 'App secret rotated',
    'admin.client_change.drafted': 'App change drafted',
    'admin.client_change.edited': 'App change edited',
    'admin.client_change.submitted': 'App change submitted for review',
    'admin.client_change.approved': 'App change approved',
    'admin.client_change.rejected': 'App change rejected',
    'admin.role.assigned': 'Operator role assigned',
    'admin.role.revoked': 'Operator role revoked',
    'admin.keys.rotated': 'Signing keys rotated',
    'admin.certificate_type.created': 'Certificate type defined',
    'admin.certificate_type.updated': 'Certificate type changed (new version)',
    'admin.certificate_type.retired': 'Certificate type retired',
    'admin.certificate.revoked': 'Certificate revoked',
    'admin.certificate.suspended': 'Certificate suspended',
    'admin.certificate.resumed': 'Certificate resumed',
    'admin.account.looked_up': 'Citizen account looked up',
    'admin.account.enable_requested': 'Enabling an account requested',
    'admin.account.enable_rejected': 'Request to enable an account rejected',
  },
};

const OPERATOR_FAMILY: Record<Lang, string> = { 'zh-CN': '管理员操作', en: 'Action by an administrator' };

/**
 * The words for an audit action. For the citizen (`audience: 'citizen'`) an operator's action is
 * named by its family, never by the code; for operators each is named, and an action without words
 * yet keeps its code, so that nothing is hidden from the audit log.
 */
export function auditActionLabel(locale: Lang, action: string, audience: 'citizen' | 'operator' = 'citizen'): string {
  const listed = (ACTION_WORDS[locale] as Record<string, string>)[action];
  if (listed) return listed;
  if (!action.startsWith('admin.')) return action;
  if (audience === 'operator') return OPERATOR_ACTION_WORDS[locale][action] ?? action;
  return OPERATOR_FAMILY[locale];
}

/** The operator actions that have words (for the labels test). */
export const NAMED_OPERATOR_ACTIONS: readonly string[] = Object.keys(OPERATOR_ACTION_WORDS.en);
