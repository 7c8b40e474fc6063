import { createOutboxSender } from './outbox-sender.js';
import type { SmsSenderConfig } from './sms-config.js';
import type { SmsMessage, SmsSender } from './sms-sender.js';
import { createWebhookSender, type WebhookSenderOptions } from './webhook-sender.js';

/**
 * The configured sender. The outbox lives in `dataDir`. `observe` hears how each message went (the
 * metrics): a code sent after the answer fails where no caller sees it, so the count is how an
 * operator sees a gateway outage.
 */
export function createSmsSender(
  config: SmsSenderConfig,
  { dataDir, fetch, observe }: { dataDir: string; fetch: WebhookSenderOptions['fetch']; observe?: (message: SmsMessage, sent: boolean) => void },
): SmsSender {
  const sender = config.kind === 'outbox' ? createOutboxSender({ dataDir }) : createWebhookSender({ ...config, fetch });
  if (!observe) return sender;
  return {
    local: sender.local,
    async send(message) {
      try {
        await sender.send(message);
      } catch (e) {
        observe(message, false);
        throw e;
      }
      observe(message, true);
    },
  };
}
