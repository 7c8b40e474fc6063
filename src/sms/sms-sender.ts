/** One text message. `to` is E.164 (`+8613800138000`); `purpose` names why it is sent (`register`, `login`, ...). */
export interface SmsMessage {
  readonly to: string;
  readonly text: string;
  readonly purpose: string;
}

/** Delivers text messages. Implementations throw `SmsDeliveryError` when a message could not be handed over. */
export interface SmsSender {
  send(message: SmsMessage): Promise<void>;
  /**
   * Delivery ends on this machine within a millisecond or so (the development outbox file), so
   * waiting for it tells a caller nothing a decoy would not: even a code that goes out after the
   * answer (`OtpService.issue`'s `background`) is written before it, as tests and a local operator
   * expect to read it.
   */
  readonly local?: boolean;
}

/**
 * A message could not be delivered. The text is safe to log: it never carries the message text
 * (which holds the code) or the full number, only a masked one (`+86138****8000`).
 */
export class SmsDeliveryError extends Error {
  readonly code = 'sms_delivery_failed';

  constructor(
    message: string,
    /** Whether trying again later may help (gateway down or busy), as opposed to a refused message. */
    readonly retryable: boolean,
    /** The gateway's HTTP status, when it answered. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'SmsDeliveryError';
  }
}

