/** What every login produces, whatever the channel. */
export type Channel = 'web' | 'mobile' | 'kiosk' | 'counter';

export const ACR = {
  oneFactor: 'urn:yihao:loa:1',
  twoFactor: 'urn:yihao:loa:2',
  document: 'urn:yihao:loa:3',
} as const;
export type Acr = (typeof ACR)[keyof typeof ACR];
export const ACR_VALUES: readonly Acr[] = [ACR.oneFactor, ACR.twoFactor, ACR.document];

export interface Authentication {
  accountId: string;
  channel: Channel;
  /** RFC 8176 values. */
  amr: string[];
  acr: Acr;
  /** Epoch seconds. */
  at: number;
}
