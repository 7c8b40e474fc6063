import { request as httpRequest } from 'node:http';

/** An answer as it came: the status and the body as text. */
export interface RawAnswer {
  status: number;
  body: string;
}

/**
 * One HTTP request sent exactly as given (node:http, not fetch): headers as written, repeated ones
 * included, and the body's bytes untouched, so a test can send what a browser or fetch would clean
 * up. Content-Length is set from the body.
 */
export function rawRequest(base: string, path: string, init: { method?: string | undefined; headers?: Record<string, string | string[]> | undefined; body?: Buffer | string | undefined }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const body = init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body);
    const headers = { ...init.headers, ...(body ? { 'content-length': String(body.length) } : {}) };
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method: init.method ?? 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
