/** Why a code is sent. A code issued for one purpose never verifies for another. */
export const SMS_PURPOSES = ['register', 'login', 'reset_password', 'change_phone', 'bind_factor'] as const;
export type SmsPurpose = (typeof SMS_PURPOSES)[number];

export const isSmsPurpose = (value: unknown): value is SmsPurpose => (SMS_PURPOSES as readonly unknown[]).includes(value);

const USE: Record<SmsPurpose, string> = {
  register: '用于注册一号账号',
  login: '用于登录一号',
  reset_password: '用于重置一号账号密码',
  change_phone: '用于更换一号账号绑定的手机号',
  bind_factor: '用于为一号账号设置两步验证',
};

/** The zh-CN text of a one-time-code SMS, with the 【一号】 signature that carriers require up front. */
export function smsCodeText(purpose: SmsPurpose, code: string, validMinutes: number): string {
  return `【一号】验证码 ${code}，${USE[purpose]}，${validMinutes} 分钟内有效。请勿告诉他人。`;
}

/**
 * Why a message carries a code that Yihao checks elsewhere, not through the SMS code store: a
 * credential offer's transaction code, checked when the wallet redeems the offer.
 */
export const OFFER_CODE_PURPOSE = 'credential_offer';

/**
 * The zh-CN text of a credential offer's transaction code, naming the counter that made the offer
 * (at most 20 characters of its name). It says the staff member must not be told: at a counter,
 * the code is what keeps the offer the citizen's own, and a citizen who is not at that counter
 * learns that someone made one.
 */
export function offerCodeText(code: string, validMinutes: number, counter: string): string {
  const name = [...counter.replace(/[\s【】]+/g, ' ').trim()].slice(0, 20).join('') || '政务服务窗口';
  return `【一号】${name}为您办理电子证照，领取码 ${code}，${validMinutes} 分钟内有效。请只在自己的手机上输入，勿告诉他人，包括工作人员；如非本人在办理，请忽略。`;
}
