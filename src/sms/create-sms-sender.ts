import { createOutboxSender } from './outbox-sender.js';
import type { SmsSenderConfig } from './sms-config.js';
import type { SmsSender } from './sms-sender.js';
import { createWebhookSender, type WebhookSenderOptions } from './webhook-sender.js';

/** The configured sender. The outbox lives in `dataDir`. */
export function createSmsSender(config: SmsSenderConfig, { dataDir, fetch }: { dataDir: string; fetch: WebhookSenderOptions['fetch'] }): SmsSender {
  switch (config.kind) {
    case 'outbox':
      return createOutboxSender({ dataDir });
    case 'webhook':
      return createWebhookSender({ ...config, fetch });
  }
}
