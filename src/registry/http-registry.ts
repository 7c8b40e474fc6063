import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Outbound } from '../outbound/index.js';
import { z } from 'zod';
import {
  normaliseName,
  RegistryUnavailableError,
  type IdentityRegistry,
  type RegistryQuery,
  type RegistryResult,
  type RegistryUnavailableReason,
} from './identity-registry.js';

export interface HttpRegistryOptions {
  /** The registry's verification URL. The ID number goes in the request body, never here. */
  endpoint: string;
  /** Limit for one attempt: connecting, sending, and reading the whole answer. */
  timeoutMs: number;
  /** Further attempts after a timeout, a network error, a 5xx or a 429. */
  retries: number;
  /** Base delay before the first retry; it doubles for each retry, with jitter. */
  backoffMs: number;
  /** PEM strings: `ca` replaces the default trust store; `cert` + `key` give mutual TLS. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Retries and failures are logged at `warn`, without the ID number or the name. */
  logger?: Pick<Logger, 'warn'>;
  /** Answers larger than this are refused (default 64 KiB). */
  maxAnswerBytes?: number;
  /** The outbound guard: the endpoint's host is resolved and checked before each connection. */
  outbound: Pick<Outbound, 'pin'>;
}

export const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

/** What the registry must answer; other fields are ignored. */
const answerSchema = z.object({
  result: z.enum(['match', 'mismatch', 'unknown']),
  checked_at: z.iso.datetime({ offset: true }).optional(),
  /** Asked about a phone: whether it is registered in the person's name. */
  phone_result: z.enum(['match', 'mismatch']).optional(),
});

/** One failed attempt: why, and whether another attempt could help. */
class AttemptFailure {
  constructor(
    readonly reason: RegistryUnavailableReason,
    readonly retryable: boolean,
    readonly status?: number,
    readonly cause?: unknown,
  ) {}
}

/** Certificate and handshake problems: retrying will not fix them. */
const TLS_ERROR = /^ERR_SSL_|^ERR_TLS_|CERT|_SIGNATURE$/;

function failureOf(err: unknown, signal: AbortSignal): AttemptFailure {
  if (signal.aborted) return new AttemptFailure('timeout', true);
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (TLS_ERROR.test(code)) return new AttemptFailure('tls', false, undefined, err);
  return new AttemptFailure('network', true, undefined, err);
}

interface Answer {
  status: number;
  body: Buffer;
}

/**
 * One POST with `node:http(s)` (global fetch cannot take a TLS agent without undici). Resolves
 * with a 2xx answer's status and body, or with the status alone for anything else; rejects with
 * an `AttemptFailure`. The timeout covers the whole exchange, the answer's body included.
 */
async function post(url: URL, payload: Buffer, agent: http.Agent, timeoutMs: number, maxBytes: number, outbound: HttpRegistryOptions['outbound']): Promise<Answer> {
  const signal = AbortSignal.timeout(timeoutMs);
  // A refused address is not a passing fault: retrying will not change the network's rules.
  const { lookup } = await outbound.pin(url, signal).catch((err: unknown) => {
    // A name still resolving at the deadline is a timeout, which another attempt may pass.
    throw signal.aborted ? failureOf(err, signal) : new AttemptFailure('network', false, undefined, err);
  });
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<Answer>((resolve, reject) => {
    let settled = false;
    const fail = (failure: AttemptFailure) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(failure);
    };
    const req = transport.request(
      url,
      {
        method: 'POST',
        agent,
        lookup,
        signal,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'content-length': payload.length,
          accept: 'application/json',
          'user-agent': 'yihao-registry-client',
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          settled = true;
          res.destroy();
          resolve({ status, body: Buffer.alloc(0) });
          return;
        }
        if (Number(res.headers['content-length'] ?? 0) > maxBytes) return fail(new AttemptFailure('oversized_answer', false));
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) fail(new AttemptFailure('oversized_answer', false));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status, body: Buffer.concat(chunks) });
        });
        res.on('error', (err) => fail(failureOf(err, signal)));
        res.on('close', () => {
          if (!res.complete) fail(failureOf(new Error('answer cut short'), signal));
        });
      },
    );
    req.on('error', (err) => fail(failureOf(err, signal)));
    req.end(payload);
  });
}

/** Turns a 2xx body into a result, or fails without retry: a registry that talks nonsense will again. */
function interpret(answer: Answer, source: string, phoneAsked: boolean): RegistryResult {
  let json: unknown;
  try {
    json = JSON.parse(answer.body.toString('utf8'));
  } catch {
    // No cause: SyntaxError messages quote the body, which might echo the ID number.
    throw new AttemptFailure('malformed_answer', false);
  }
  const parsed = answerSchema.safeParse(json);
  if (!parsed.success) throw new AttemptFailure('malformed_answer', false);
  const { result, checked_at, phone_result } = parsed.data;
  if (result !== 'match') return { outcome: result };
  // A registry that ignores the phone must not pass for one that checked it.
  if (phoneAsked && phone_result === undefined) throw new AttemptFailure('malformed_answer', false);
  if (phoneAsked && phone_result !== 'match') return { outcome: 'phone_mismatch' };
  return { outcome: 'match', checkedAt: checked_at ? new Date(checked_at) : new Date(), source };
}

function statusFailure(status: number): AttemptFailure {
  return new AttemptFailure('status', status === 429 || status >= 500, status);
}

/** Exponential backoff with "equal jitter": half the doubled delay, plus a random part of the other half. */
function backoffDelay(backoffMs: number, retry: number): number {
  const base = backoffMs * 2 ** (retry - 1);
  return Math.round(base / 2 + Math.random() * (base / 2));
}

function agentFor(url: URL, tls: HttpRegistryOptions['tls']): http.Agent {
  if (url.protocol === 'https:') return new https.Agent({ keepAlive: true, ca: tls?.ca, cert: tls?.cert, key: tls?.key });
  if (tls) throw new Error('registry: TLS settings need an https endpoint');
  return new http.Agent({ keepAlive: true });
}

/**
 * A client for a population registry that answers `POST endpoint` with JSON
 * `{ citizen_id, name, phone? }` → `{ result: 'match' | 'mismatch' | 'unknown', checked_at?, phone_result? }`.
 * Asked about a phone, a 'match' must say `phone_result: 'match' | 'mismatch'`; without it the
 * answer is malformed.
 *
 * Timeouts, network errors, 5xx and 429 are retried `retries` times with exponential backoff and
 * jitter (a lookup is read-only, so repeating the POST is safe). Other 4xx, TLS failures, malformed
 * or oversized answers fail at once. Every failure ends in `RegistryUnavailableError`.
 */
export function createHttpRegistry(options: HttpRegistryOptions): IdentityRegistry {
  const url = new URL(options.endpoint);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('registry: the endpoint must be an http or https URL');
  const { timeoutMs, retries, backoffMs, logger } = options;
  const maxBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  const agent = agentFor(url, options.tls);
  const source = url.origin;

  async function attempt(payload: Buffer, phoneAsked: boolean): Promise<RegistryResult> {
    const answer = await post(url, payload, agent, timeoutMs, maxBytes, options.outbound);
    if (answer.status < 200 || answer.status > 299) throw statusFailure(answer.status);
    return interpret(answer, source, phoneAsked);
  }

  return {
    async verify({ citizenId, name, phone }: RegistryQuery): Promise<RegistryResult> {
      const payload = Buffer.from(JSON.stringify({ citizen_id: citizenId, name: normaliseName(name), ...(phone === undefined ? {} : { phone }) }), 'utf8');
      for (let n = 1; ; n++) {
        try {
          return await attempt(payload, phone !== undefined);
        } catch (e) {
          if (!(e instanceof AttemptFailure)) throw e;
          const log = { event: 'registry.unavailable', registry: source, attempt: n, reason: e.reason, status: e.status };
          if (!e.retryable || n > retries) {
            logger?.warn(log, 'population registry could not answer');
            throw new RegistryUnavailableError(e.reason, n, e.status, e.cause === undefined ? undefined : { cause: e.cause });
          }
          const delayMs = backoffDelay(backoffMs, n);
          logger?.warn({ ...log, event: 'registry.retry', delayMs }, 'population registry attempt failed; retrying');
          await sleep(delayMs);
        }
      }
    },
    async close() {
      agent.destroy();
    },
  };
}
