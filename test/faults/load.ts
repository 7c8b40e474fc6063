/**
 * Bounded load against two instances, as a load balancer would spread it: each request goes to the
 * next instance; a connection that is refused (the instance stopped listening) is sent to the other
 * one, as every load balancer does. Every answer is tallied by kind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';

export interface Tally {
  sent: number;
  ok: number;
  redirects: number;
  unavailable: number;
  /** 4xx, and failures with no answer that a load balancer would not retry: must be 0. */
  otherNon2xx: number;
  /** 5xx other than 503: must be 0. */
  other5xx: number;
  /** Refused connections the balancer sent to the other instance. */
  rerouted: number;
  /** Sign-in flows that a 503 interrupted (the citizen tries again). */
  flowsInterrupted: number;
  flowsDone: number;
  /** Kinds of unexpected answers, for the report. */
  samples: string[];
}

export const newTally = (): Tally => ({ sent: 0, ok: 0, redirects: 0, unavailable: 0, otherNon2xx: 0, other5xx: 0, rerouted: 0, flowsInterrupted: 0, flowsDone: 0, samples: [] });

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 32 });

function once(url: URL, init: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent, timeout: 30_000 }, (res) => {
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Thrown to end a flow on a 503: the citizen (or RP) would try again later. */
class Unavailable extends Error {}

export class Balancer {
  #next = 0;
  /** Targets whose last /readyz said 503 (or did not answer): no new requests, as a balancer's health check does. */
  readonly #out = new Set<string>();
  #checks: NodeJS.Timeout | undefined;
  constructor(
    readonly targets: () => string[],
    readonly tally: Tally,
    /** The public host (the issuer's); by default the first target's. */
    readonly publicHost?: string,
  ) {}

  /** Health checks every 250 ms, out after one failure (a production balancer: every 2 s, out after 2). */
  healthChecks(): this {
    this.#checks = setInterval(() => {
      for (const t of this.targets()) {
        once(new URL('/readyz', t), {}).then(
          (r) => (r.status === 200 || !r.text.includes('stopping') ? this.#out.delete(t) : this.#out.add(t)),
          () => this.#out.add(t),
        );
      }
    }, 250);
    return this;
  }

  stop(): void {
    clearInterval(this.#checks);
  }

  /** One request to the next instance (`path` on the issuer is rewritten to that instance). */
  async send(pathAndQuery: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}, pin?: number): Promise<Answer> {
    const all = this.targets();
    const live = all.filter((t) => !this.#out.has(t));
    const targets = pin === undefined && live.length ? live : all;
    let index = pin ?? this.#next++ % targets.length;
    this.tally.sent++;
    const idempotent = (init.method ?? 'GET') === 'GET';
    for (let attempt = 0; ; attempt++) {
      try {
        // A reverse proxy keeps the public Host: the instances build their redirects from it.
        const res = await once(new URL(pathAndQuery, targets[index % targets.length]), { ...init, headers: { ...init.headers, host: this.publicHost ?? new URL(all[0]!).host } });
        this.count(res, pathAndQuery);
        return res;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Nothing reached the instance: the balancer tries the other one, as nginx or HAProxy do.
        // So is a GET whose connection was closed under it (nginx's proxy_next_upstream default).
        if ((code === 'ECONNREFUSED' || (idempotent && (code === 'ECONNRESET' || code === 'EPIPE'))) && attempt < targets.length) {
          this.tally.rerouted++;
          index++;
          continue;
        }
        this.tally.otherNon2xx++;
        this.sample(`${code ?? (err as Error).message} on ${pathAndQuery.split('?')[0]}`);
        throw new Unavailable();
      }
    }
  }

  private count(res: Answer, path: string): void {
    if (res.status >= 200 && res.status < 300) this.tally.ok++;
    else if (res.status >= 300 && res.status < 400) this.tally.redirects++;
    else if (res.status === 503) {
      this.tally.unavailable++;
      if (!res.headers['retry-after']) this.sample(`503 without Retry-After on ${path.split('?')[0]}`);
    } else {
      if (res.status >= 500) this.tally.other5xx++;
      else this.tally.otherNon2xx++;
      const text = res.text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
      this.sample(`${res.status} on ${path.split('?')[0]}: ${text.slice(text.indexOf('出错了') >= 0 ? text.lastIndexOf('统一身份认证') : 0).slice(0, 200)}`);
    }
  }

  sample(s: string): void {
    if (this.tally.samples.length < 8) this.tally.samples.push(s);
  }
}

export interface Rp {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

/** HTTP Basic client authentication (RFC 6749 2.3.1: each part form-encoded). */
export const basic = (rp: Pick<Rp, 'clientId' | 'clientSecret'>) => `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret)}`).toString('base64')}`;
const formBody = (f: Record<string, string>) => new URLSearchParams(f).toString();
const FORM = 'application/x-www-form-urlencoded';

function expectOk(res: Answer): Answer {
  if (res.status === 503) throw new Unavailable();
  if (res.status >= 400) throw new Unavailable();
  return res;
}

export async function clientCredentials(lb: Balancer, rp: Rp): Promise<void> {
  expectOk(await lb.send('/token', { method: 'POST', headers: { authorization: basic(rp), 'content-type': FORM }, body: 'grant_type=client_credentials' }));
}

export const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&');
export const action = (html: string, contains: string) => [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&')).find((a) => a.includes(contains));

/** One request as a browser sends it: the jar's cookies go with it, and what it sets is kept. */
export async function browserSend(lb: Balancer, cookies: Map<string, string>, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  const headers = { ...init.headers, ...(cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}) };
  const res = await lb.send(path, { ...init, headers });
  const set = res.headers['set-cookie'];
  for (const raw of Array.isArray(set) ? set : []) {
    const [pair = ''] = raw.split(';');
    const eq = pair.indexOf('=');
    const value = pair.slice(eq + 1).trim();
    // Path-scoped cookies are sent everywhere here: harmless for these walks.
    if (value === '' || /expires=thu, 01 jan 1970/i.test(raw)) cookies.delete(pair.slice(0, eq).trim());
    else cookies.set(pair.slice(0, eq).trim(), value);
  }
  return res;
}

/**
 * authorize → login → consent → code → token → userinfo → refresh, each request to whichever
 * instance the balancer picks: the instances must act as one provider.
 */
export async function signInFlow(
  lb: Balancer,
  rp: Rp,
  issuer: string,
  creds: { identifier: string; password: string },
  /** Where the token set is used (userinfo, refresh): by default, wherever `lb` sends them. */
  after: Balancer = lb,
  /** The browser's cookies, kept by the caller to go on with the same session. */
  cookies = new Map<string, string>(),
): Promise<{ accessToken: string; refreshToken: string; idToken: string } | undefined> {
  let via = lb;
  const send = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => expectOk(await browserSend(via, cookies, path, init));
  const local = (location: string) => {
    const u = new URL(location, issuer);
    return u.origin === new URL(issuer).origin ? `${u.pathname}${u.search}` : undefined;
  };
  try {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(12).toString('base64url');
    const q = new URLSearchParams({
      client_id: rp.clientId,
      response_type: 'code',
      redirect_uri: rp.redirectUri,
      scope: 'openid profile',
      state,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    let res = await send(`/auth?${q}`);
    let callback: URL | undefined;
    for (let hops = 0; hops < 20 && !callback; hops++) {
      if (res.status >= 300 && res.status < 400) {
        const loc = String(res.headers.location);
        const path = local(loc);
        if (!path) callback = new URL(loc);
        else res = await send(path);
        continue;
      }
      const csrf = field(res.text, 'csrf');
      const login = action(res.text, '/login');
      const next = login ?? action(res.text, '/confirm');
      if (!csrf || !next) {
        lb.sample(`no form on a ${res.status} page: ${res.text.replace(/\s+/g, ' ').slice(0, 120)}`);
        lb.tally.otherNon2xx++;
        return undefined;
      }
      const body: Record<string, string> = login ? { csrf, identifier: creds.identifier, password: creds.password } : { csrf };
      res = await send(local(next) ?? next, { method: 'POST', headers: { 'content-type': FORM }, body: formBody(body) });
    }
    const code = callback?.searchParams.get('code');
    if (!code) {
      lb.sample(`sign-in ended without a code: ${callback?.href ?? "no redirect"}`);
      lb.tally.otherNon2xx++;
      return undefined;
    }
    const tokens = JSON.parse(
      (await send('/token', { method: 'POST', headers: { authorization: basic(rp), 'content-type': FORM }, body: formBody({ grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri, code_verifier: verifier }) })).text,
    ) as { access_token: string; refresh_token: string; id_token: string };
    via = after;
    await send('/me', { headers: { authorization: `Bearer ${tokens.access_token}` } });
    const refreshed = JSON.parse(
      (await send('/token', { method: 'POST', headers: { authorization: basic(rp), 'content-type': FORM }, body: formBody({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }) })).text,
    ) as { access_token: string; refresh_token: string };
    lb.tally.flowsDone++;
    return { accessToken: refreshed.access_token, refreshToken: refreshed.refresh_token, idToken: tokens.id_token };
  } catch (e) {
    if (e instanceof Unavailable) {
      lb.tally.flowsInterrupted++;
      return undefined;
    }
    throw e;
  }
}

/** `workers` loops until `untilMs`: mostly client_credentials tokens, one in `flowEvery` a whole sign-in. */
export async function drive(lb: Balancer, rp: Rp, issuer: string, citizens: { identifier: string; password: string }[], opts: { workers: number; untilMs: number; flowEvery: number }): Promise<void> {
  let n = 0;
  const worker = async (w: number) => {
    while (Date.now() < opts.untilMs) {
      const i = n++;
      try {
        if (i % opts.flowEvery === w % opts.flowEvery) await signInFlow(lb, rp, issuer, citizens[i % citizens.length]!);
        else await clientCredentials(lb, rp);
      } catch {
        // counted by the balancer; a refused store answer ends this step only
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, (_, w) => worker(w)));
}

/** One password attempt through the login page, on whichever instance `lb` picks: the page it answers with. */
export async function loginAttempt(lb: Balancer, rp: Rp, creds: { identifier: string; password: string }): Promise<string> {
  const cookies = new Map<string, string>();
  const send = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const res = await lb.send(path, { ...init, headers: { ...init.headers, ...(cookies.size ? { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {}) } });
    const set = res.headers['set-cookie'];
    for (const raw of Array.isArray(set) ? set : []) {
      const [pair = ''] = raw.split(';');
      const eq = pair.indexOf('=');
      cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return res;
  };
  const q = new URLSearchParams({ client_id: rp.clientId, response_type: 'code', redirect_uri: rp.redirectUri, scope: 'openid', ui_locales: 'en', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
  let res = await send(`/auth?${q}`);
  for (let hops = 0; hops < 5 && res.status >= 300 && res.status < 400; hops++) {
    const next = new URL(String(res.headers.location), 'http://x');
    res = await send(`${next.pathname}${next.search}`);
  }
  const csrf = field(res.text, 'csrf');
  const login = action(res.text, '/login');
  if (!csrf || !login) return `no login form (${res.status})`;
  res = await send(new URL(login, 'http://x').pathname, { method: 'POST', headers: { 'content-type': FORM }, body: formBody({ csrf, identifier: creds.identifier, password: creds.password }) });
  return res.text;
}
