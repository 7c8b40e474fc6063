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
 * The zh-CN text of a credential offer's transaction code. It says the staff member must not be
 * told: at a counter, the code is what keeps the offer the citizen's own.
 */
export function offerCodeText(code: string, validMinutes: number): string {
  return `【一号】领取码 ${code}，用于在政务应用中领取您的电子证照，${validMinutes} 分钟内有效。请只在自己的手机上输入，勿告诉他人，包括工作人员。`;
}
