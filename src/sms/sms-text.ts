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
