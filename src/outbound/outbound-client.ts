import { lookup as dnsLookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { addressPolicy } from './address-policy.js';
import { formatIp, parseIp, type IpAddress } from './ip-address.js';

export interface OutboundSettings {
  /** CIDR networks that may be reached although they are special-use (internal government networks). */
  allowedNetworks: readonly string[];
  /** A PEM file of extra CA certificates trusted for https, besides the public roots. */
  trustedCaFile?: string | undefined;
}

/** Name resolution: every address a host name has. Injected in tests; the system resolver otherwise. */
export type Resolver = (hostname: string) => Promise<readonly { address: string }[]>;

const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/** The guard refused to connect: the host has an address outside what outbound requests may reach. */
export class OutboundRefusedError extends Error {
  readonly code = 'ERR_OUTBOUND_REFUSED';
  constructor(
    readonly host: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(`${host} resolves to ${address} (${range}), outside outbound.allowedNetworks`);
    this.name = 'OutboundRefusedError';
  }
}

/** The answer was larger than the caller will read. */
export class OutboundResponseTooLargeError extends Error {
  readonly code = 'ERR_OUTBOUND_RESPONSE_TOO_LARGE';
  constructor(readonly maxBytes: number) {
    super(`the answer is larger than ${maxBytes} bytes`);
    this.name = 'OutboundResponseTooLargeError';
  }
}

/** The checked addresses of one host, as a `lookup` for `node:http(s)`/`node:net`, so that the connection goes to them and nowhere else. */
export interface PinnedHost {
  addresses: readonly IpAddress[];
  lookup: LookupFunction;
}

export type OutboundFetch = (input: string | URL, init?: RequestInit) => Promise<Response>;

export interface Outbound {
  /** WHATWG `fetch` whose every connection (and every redirect hop) goes through the guard. */
  fetch: OutboundFetch;
  /**
   * Resolves and checks a URL's host once; for callers that use `node:http(s)` with their own agent
   * (client certificates). `signal`: the caller's deadline, which the resolution keeps too.
   */
  pin(url: URL, signal?: AbortSignal): Promise<PinnedHost>;
}

/**
 * `work`, or the signal's reason once it aborts first. A name whose resolution never answers (an
 * attacker's slow DNS server behind a client's jwks_uri) cannot outlast the request's deadline;
 * getaddrinfo itself cannot be cancelled, and ends on the resolver's own timeouts.
 */
function beforeAbort<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const MAX_REDIRECTS = 5;

/** The public roots plus the operator's own CA certificates (checked by the config loader). */
const trustedCas = (file: string | undefined): string[] | undefined => (file ? [...tls.rootCertificates, readFileSync(file, 'utf8')] : undefined);

const fetchFailed = (cause: unknown) => new TypeError('fetch failed', { cause });

/**
 * The one way Yihao reaches another server. Each request resolves the host first, checks EVERY
 * address it has against the special-use ranges (unless the operator allowed that network), and
 * then connects to those checked addresses only: the connection's `lookup` answers with them, so
 * no second DNS answer can point it elsewhere (DNS rebinding). TLS still verifies the certificate
 * against the host name, and Host/SNI carry it. Redirects are followed only through the same
 * check, a few hops at most. Every request has a deadline and every answer a size limit.
 * Only public Node APIs: no private symbol of Node or undici is touched.
 */
export function createOutbound(
  settings: OutboundSettings,
  { logger, resolver = systemResolver, timeoutMs = 10_000, maxResponseBytes = 1024 * 1024 }: { logger: Pick<Logger, 'info' | 'warn'>; resolver?: Resolver; timeoutMs?: number; maxResponseBytes?: number },
): Outbound {
  const verdict = addressPolicy(settings.allowedNetworks);
  const ca = trustedCas(settings.trustedCaFile);
  const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true, ...(ca ? { ca } : {}) }) };

  async function pin(url: URL, signal?: AbortSignal): Promise<PinnedHost> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`outbound requests are http(s) only, not ${url.protocol}`);
    // Logged as host:port, never with the path or query (they may carry tokens).
    const host = url.host;
    const literal = parseIp(url.hostname);
    const resolved = literal ? undefined : await beforeAbort(resolver(url.hostname), signal);
    const addresses = literal ? [literal] : resolved!.map((a) => parseIp(a.address)).filter((a) => a !== undefined);
    if (addresses.length === 0) throw Object.assign(new Error(`${host} has no address`), { code: 'ENOTFOUND' });
    for (const address of addresses) {
      const v = verdict(address);
      if (!v.allowed) {
        const refused = new OutboundRefusedError(host, formatIp(address), v.range);
        logger.warn({ event: 'outbound.refused', host, address: refused.address, range: v.range }, 'outbound request refused');
        throw refused;
      }
      if (v.internal) logger.info({ event: 'outbound.internal', host, address: formatIp(address), range: v.internal }, 'outbound request to an allowed internal network');
    }
    const checked = addresses.map((a) => ({ address: formatIp(a), family: a.family }));
    const lookup = ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      if (options?.all) callback(null, checked);
      else callback(null, checked[0]!.address, checked[0]!.family);
    }) as LookupFunction;
    return { addresses, lookup };
  }

  async function send(url: URL, method: string, headers: Headers, body: Buffer | undefined, signal: AbortSignal): Promise<IncomingMessage> {
    const { lookup } = await pin(url, signal);
    const agent = agents[url.protocol as 'http:' | 'https:'];
    const outgoing: Record<string, string> = Object.fromEntries(headers);
    if (body) outgoing['content-length'] = String(body.length);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? https : http).request(url, { method, headers: outgoing, agent, lookup, signal }, resolve);
      req.on('error', reject);
      req.end(body);
    });
  }

  function toResponse(res: IncomingMessage, url: URL, method: string, redirected: boolean): Response {
    const status = res.statusCode ?? 0;
    const headers = new Headers();
    for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
    if (Number(res.headers['content-length'] ?? 0) > maxResponseBytes) {
      res.destroy();
      throw new OutboundResponseTooLargeError(maxResponseBytes);
    }
    let body: ReadableStream<Uint8Array> | null = null;
    if (NULL_BODY.has(status) || method === 'HEAD') res.resume();
    else {
      let done = false;
      body = new ReadableStream<Uint8Array>({
        start(controller) {
          let size = 0;
          const fail = (err: Error) => {
            if (done) return;
            done = true;
            controller.error(err);
            res.destroy();
          };
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxResponseBytes) fail(new OutboundResponseTooLargeError(maxResponseBytes));
            else if (!done) controller.enqueue(new Uint8Array(chunk));
          });
          res.on('end', () => {
            if (done) return;
            done = true;
            controller.close();
          });
          res.on('error', fail);
          res.on('close', () => {
            if (!res.complete) fail(new Error('the answer was cut short'));
          });
        },
        cancel() {
          done = true;
          res.destroy();
        },
      });
    }
    const response = new Response(body, { status, statusText: res.statusMessage ?? '', headers });
    Object.defineProperties(response, { url: { value: url.href }, redirected: { value: redirected } });
    return response;
  }

  async function guardedFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
    // oidc-provider hands its own (private-symbol) dispatcher; this client replaces it.
    const { dispatcher: _ignored, ...rest } = init as RequestInit & { dispatcher?: unknown };
    const request = new Request(input, { ...rest, redirect: 'manual' });
    const mode = init.redirect ?? 'follow';
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs);
    let url = new URL(request.url);
    let method = request.method;
    const headers = new Headers(request.headers);
    let body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    try {
      for (let hop = 0; ; hop++) {
        const res = await send(url, method, headers, body, signal);
        const location = res.headers.location;
        if (!REDIRECTS.has(res.statusCode ?? 0) || !location || mode === 'manual') return toResponse(res, url, method, hop > 0);
        res.resume();
        if (mode === 'error') throw new Error('redirects are refused for this request');
        if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
        const next = new URL(location, url);
        if ((res.statusCode === 303 && method !== 'HEAD') || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers.delete('content-type');
        }
        // Credentials meant for one origin do not follow a redirect to another.
        if (next.origin !== url.origin) for (const h of ['authorization', 'cookie', 'proxy-authorization']) headers.delete(h);
        url = next;
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw fetchFailed(err);
    }
  }

  return { fetch: guardedFetch, pin };
}
