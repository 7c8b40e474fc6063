import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SmsDeliveryError, createWebhookSender } from '../../src/sms/index.js';
import { loopbackOutbound } from '../support/outbound.js';

const outbound = loopbackOutbound();

interface Received {
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A real gateway on 127.0.0.1 whose answers each test scripts, one per request. */
let server: Server;
let url: string;
let received: Received[] = [];
let answers: ((res: ServerResponse) => void)[] = [];

const status = (code: number, headers: Record<string, string> = {}) => (res: ServerResponse) => res.writeHead(code, headers).end('{"detail":"scripted"}');
const silence = () => () => undefined; // never answers

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      (answers.shift() ?? status(200))(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  answers = [];
});

const message = { to: '+8613800138000', text: '【一号】验证码 246810，用于登录一号，5 分钟内有效。请勿告诉他人。', purpose: 'login' };

async function deliveryError(promise: Promise<unknown>): Promise<SmsDeliveryError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof SmsDeliveryError) return err;
    throw err;
  }
  throw new Error('expected an SmsDeliveryError');
}

function expectSafe(err: SmsDeliveryError) {
  expect(err.message).toContain('138 **** 8000');
  expect(err.message).not.toContain('13800138000');
  expect(err.message).not.toContain('246810');
  expect(err.message).not.toContain('secret-token');
}

describe('webhook SMS sender', () => {
  it('posts the message as JSON with the bearer token', async () => {
    await createWebhookSender({ url, token: 'secret-token-123', timeoutMs: 1000, fetch: outbound.fetch }).send(message);
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toEqual(message);
    expect(received[0]!.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer secret-token-123' });
    expect(received[0]!.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('sends no authorization header without a token', async () => {
    await createWebhookSender({ url, timeoutMs: 1000, fetch: outbound.fetch }).send(message);
    expect(received[0]!.headers.authorization).toBeUndefined();
  });

  it('retries a 503 and a 429 with the same idempotency key, then succeeds', async () => {
    answers = [status(503), status(429, { 'retry-after': '0' })];
    await createWebhookSender({ url, timeoutMs: 1000, retries: 2, backoffMs: 5, fetch: outbound.fetch }).send(message);
    expect(received).toHaveLength(3);
    expect(new Set(received.map((r) => r.headers['idempotency-key'])).size).toBe(1);
  });

  it('gives up after the retries with a retryable error that names only the masked number', async () => {
    answers = [status(503), status(502), status(500)];
    const err = await deliveryError(createWebhookSender({ url, timeoutMs: 1000, retries: 2, backoffMs: 5, fetch: outbound.fetch }).send(message));
    expect(received).toHaveLength(3);
    expect(err).toMatchObject({ retryable: true, status: 500, code: 'sms_delivery_failed' });
    expectSafe(err);
  });

  it('stops retrying when the gateway asks for a longer pause than the citizen can wait', async () => {
    answers = [status(429, { 'retry-after': '120' })];
    const err = await deliveryError(createWebhookSender({ url, timeoutMs: 1000, retries: 3, backoffMs: 5, fetch: outbound.fetch }).send(message));
    expect(received).toHaveLength(1);
    expect(err).toMatchObject({ retryable: true, status: 429 });
    expect(err.message).toContain('failed 1 time(s)');
  });

  it('does not retry a 400: the gateway refused the message', async () => {
    answers = [status(400)];
    const err = await deliveryError(createWebhookSender({ url, token: 'secret-token-123', timeoutMs: 1000, retries: 3, backoffMs: 5, fetch: outbound.fetch }).send(message));
    expect(received).toHaveLength(1);
    expect(err).toMatchObject({ retryable: false, status: 400 });
    expectSafe(err);
  });

  it('does not follow redirects', async () => {
    answers = [status(307, { location: 'http://127.0.0.1:1/elsewhere' })];
    const err = await deliveryError(createWebhookSender({ url, timeoutMs: 1000, retries: 2, backoffMs: 5, fetch: outbound.fetch }).send(message));
    expect(received).toHaveLength(1);
    expect(err).toMatchObject({ retryable: false, status: 307 });
  });

  it('times out a gateway that does not answer, retrying within the bound', async () => {
    answers = [silence(), silence()];
    const started = Date.now();
    const err = await deliveryError(createWebhookSender({ url, timeoutMs: 150, retries: 1, backoffMs: 5, fetch: outbound.fetch }).send(message));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(received).toHaveLength(2);
    expect(err.retryable).toBe(true);
    expect(err.message).toContain('no answer within 150 ms');
    expectSafe(err);
  });

  it('reports a refused connection as a retryable network error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const err = await deliveryError(createWebhookSender({ url: `http://127.0.0.1:${port}/sms`, timeoutMs: 500, retries: 1, backoffMs: 5, fetch: outbound.fetch }).send(message));
    expect(err).toMatchObject({ retryable: true });
    expect(err.message).toContain('ECONNREFUSED');
    expectSafe(err);
  });
});
