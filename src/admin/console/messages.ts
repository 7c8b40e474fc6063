import type { Locale } from './i18n.js';

/**
 * The services' messages are English. The console shows the common ones in Chinese too; any other
 * stays in English rather than be guessed at.
 */
const zh: [RegExp, (m: RegExpExecArray) => string][] = [
  [/^is required$/, () => '必须填写'],
  [/^must be an absolute URL$/, () => '必须是完整的网址（如 https://app.example.gov.cn/callback）'],
  [/^is longer than (\d+) characters$/, (m) => `不能超过 ${m[1]} 个字符`],
  [/^has more than (\d+) entries$/, (m) => `不能超过 ${m[1]} 项`],
  [/^needs at least one grant type$/, () => '至少选择一种授权方式'],
  [/^an authorization_code client needs at least one redirect URI$/, () => '使用授权码的应用至少需要一个回调地址'],
  [/^a public client cannot use client_credentials$/, () => '公开客户端不能使用客户端凭证'],
  [/^must be space-separated scope tokens$/, () => '必须是以空格分隔的 scope'],
  [/^needs at least one channel$/, () => '至少选择一个渠道'],
  [/^must be one of /, () => '不是可选的值'],
  [/^must be a JWK Set/, () => '必须是 JWK Set（{"keys": [...]}）'],
  [/^needs at least one key$/, () => '至少需要一个公钥'],
  [/^give either jwks or jwks_uri, not both$/, () => '公钥和公钥地址只能填写一项'],
  [/^a public client has no keys to authenticate with$/, () => '公开客户端不使用公钥认证'],
  [/^a kiosk authenticates with its own keys/, () => '自助终端须用自己的公钥认证：请填写公钥或公钥地址'],
  [/^a CIBA client must authenticate/, () => 'CIBA 应用须认证身份，不能是公开客户端'],
  [/^ping mode needs /, () => 'ping 模式须填写通知地址，填写通知地址即为 ping 模式'],
  [/^backchannel_token_delivery_mode needs the CIBA grant/, () => '只有 CIBA 应用才有通知模式'],
  [/^scope identity_assurance needs verified_claims_allowed$/, () => '申请 identity_assurance 须允许接收实名核验信息'],
  [/^a client cannot change how it authenticates/, () => '应用的认证方式（公开、密钥或公钥）登记后不能更改'],
  [/^security_profile is set at creation only/, () => '应用的安全规范（如 FAPI 2.0）只能在登记时设定，变更不能去掉或加上'],
  [/^no account matches$/, () => '找不到对应的账号'],
  [/^only a national super-admin or reviewer may name an account by ID number/, () => '只有国家级部门的超级管理员或审核员可以用身份证号或手机号查找账号；请填写对方的 sub'],
  [/^is not an account sub$/, () => '不是账号的 sub'],
  [/^the account already holds this role in this department$/, () => '该账号在此部门已有此角色'],
  [/^operators cannot change their own roles$/, () => '操作员不能修改自己的角色'],
  [/^your roles do not allow this$/, () => '您的角色不允许此操作'],
  [/^a change must be reviewed by someone other than its author$/, () => '变更须由提交人以外的审核员审核'],
  [/^revision is required: /, () => '缺少所审核的变更版本，请刷新页面后重新审核'],
  [/^this client already has a change in progress$/, () => '此应用已有一个未完成的变更'],
  [/^only a (\w+) (?:change|client|draft) can be (\w+)$/, () => '当前状态不允许此操作'],
  [/^operators cannot disable or enable their own account$/, () => '操作员不能停用或恢复自己的账号'],
  [/^the account is already disabled$/, () => '该账号已被停用'],
  [/^only a disabled account can be enabled$/, () => '只有已停用的账号才能恢复启用'],
  [/^the account is not disabled$/, () => '该账号未被停用'],
  [/^a request to enable this account is already waiting for review$/, () => '已有一个恢复启用此账号的申请等待审核'],
  [/^the request was (?:\w+|reviewed) already$/, () => '该申请已处理'],
  [/^a change or request must be decided by someone who did not draft, edit, submit or ask for it$/, () => '须由未参与提出的另一位操作员审核'],
  [/^must be one line of text without control characters$/, () => '必须是一行文字，不能含控制字符'],
  [/^must not contain an ID number$/, () => '不能包含身份证号码'],
  [/^is required when the reason is other$/, () => '原因为“其他”时必须填写'],
  [/^is not a valid citizen ID number$/, () => '不是有效的身份证号码'],
  [/^the form did not come from this console session/, () => '表单不是来自当前的控制台会话，请刷新页面后重试'],
];

export function localised(locale: Locale, message: string): string {
  if (locale === 'en') return message;
  for (const [pattern, say] of zh) {
    const m = pattern.exec(message);
    if (m) return say(m);
  }
  return message;
}
