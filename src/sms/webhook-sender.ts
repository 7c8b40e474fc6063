import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { maskPhone } from '../accounts/phone.js';
import { SmsDeliveryError, type SmsMessage, type SmsSender } from './sms-sender.js';

export interface WebhookSenderOptions {
  /** The SMS gateway endpoint; it receives `POST {"to","text","purpose"}` as JSON. */
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string | undefined;
  /** Per attempt. */
  timeoutMs: number;
  /** Further attempts after the first, on network errors, timeouts, 429 and 5xx. Default 2. */
  retries?: number;
  /** The first back-off; it doubles per retry, with jitter. Default 200 ms. */
  backoffMs?: number;
  /** The longest pause between attempts; a `Retry-After` beyond it ends the retries (the citizen is waiting). Default 5000 ms. */
  maxBackoffMs?: number;
  /** The guarded outbound fetch (src/outbound): the gateway is reached only through it. */
  fetch: (url: URL, init: RequestInit) => Promise<Response>;
}

type Outcome = { done: true } | { done: false; retryable: boolean; reason: string; status?: number; retryAfterMs?: number };

/** `Retry-After` as seconds (the HTTP-date form is rare from gateways and ignored). */
function retryAfterMs(header: string | null): number | undefined {
  if (!header || !/^\d+$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

function describeFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  // undici puts the socket error (ECONNREFUSED, ENOTFOUND, ...) in `cause`; its code is safe to show.
  const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
  if (cause?.code === 'ERR_OUTBOUND_REFUSED') return 'the gateway address is outside outbound.allowedNetworks';
  return typeof cause?.code === 'string' ? `network error ${cause.code}` : 'network error';
}

/**
 * Hands each message to an HTTP SMS gateway. Retries network errors, timeouts, 429 and 5xx with
 * exponential back-off; every attempt carries the same `Idempotency-Key`, so a gateway that saw
 * an attempt time out on our side can drop the duplicate. Redirects are not followed.
 * Throws `SmsDeliveryError`, whose message names the masked number and never the text.
 */
export function createWebhookSender(options: WebhookSenderOptions): SmsSender {
  const { url, token, timeoutMs, retries = 2, backoffMs = 200, maxBackoffMs = 5000 } = options;
  const doFetch = options.fetch;
  const endpoint = new URL(url);
  if (endpoint.protocol !== 'https:' && endpoint.protocol !== 'http:') throw new TypeError('the SMS webhook URL must be http(s)');

  async function attempt(body: string, idempotencyKey: string): Promise<Outcome> {
    let res: Response;
    try {
      res = await doFetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'idempotency-key': idempotencyKey,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      // A refused address will be refused again: no point in retrying.
      const refused = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code === 'ERR_OUTBOUND_REFUSED';
      return { done: false, retryable: !refused, reason: describeFailure(err, timeoutMs) };
    }
    // The body is not needed; releasing it frees the connection for the next message.
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 200 && res.status < 300) return { done: true };
    const retryable = res.status === 429 || res.status >= 500;
    const after = retryable ? retryAfterMs(res.headers.get('retry-after')) : undefined;
    return { done: false, retryable, reason: `HTTP ${res.status}`, status: res.status, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }

  return {
    async send({ to, text, purpose }: SmsMessage): Promise<void> {
      const body = JSON.stringify({ to, text, purpose });
      const idempotencyKey = randomUUID();
      let last: Exclude<Outcome, { done: true }> | undefined;
      let attempts = 0;
      for (let i = 0; i <= retries; i++) {
        if (i > 0) {
          // A gateway asking for a longer pause than the citizen can wait gets it: stop here.
          if (last?.retryAfterMs !== undefined && last.retryAfterMs > maxBackoffMs) break;
          await sleep(last?.retryAfterMs ?? Math.min(maxBackoffMs, backoffMs * 2 ** (i - 1)) * (0.5 + Math.random() / 2));
        }
        const outcome = await attempt(body, idempotencyKey);
        attempts++;
        if (outcome.done) return;
        last = outcome;
        if (!outcome.retryable) {
          throw new SmsDeliveryError(`the SMS gateway refused the message to ${maskPhone(to)} (${outcome.reason})`, false, outcome.status);
        }
      }
      throw new SmsDeliveryError(
        `the SMS gateway is unavailable: the message to ${maskPhone(to)} failed ${attempts} time(s), last with ${last?.reason ?? 'no answer'}`,
        true,
        last?.status,
      );
    },
  };
}
