/**
 * A lean scripted browser for the benchmark (test/support is not compiled into dist/): keeps
 * cookies, follows redirects on the provider's origin, reads the login and consent forms and posts
 * them back, then redeems the code at the token endpoint like a confidential client would.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { checkCharacter } from '../src/identity/citizen-id.js';

/** Plain node:http with keep-alive: about half the CPU of fetch per sign-in, and the load generator shares the cores with the server. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export function http(url: URL, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent }, (res) => {
      res.setEncoding('utf8');
      let text = '';
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

interface Cookie {
  name: string;
  value: string;
  path: string;
}

export class ScriptedBrowser {
  private cookies: Cookie[] = [];

  private header(url: URL): string {
    return this.cookies
      .filter((c) => c.path === '/' || url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, res: HttpResponse): void {
    const setCookie = res.headers['set-cookie'];
    for (const raw of Array.isArray(setCookie) ? setCookie : []) {
      const [pair = '', ...attrs] = raw.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const path = pathAttr ? pathAttr.slice(5) : url.pathname.replace(/\/[^/]*$/, '') || '/';
      const expired = value === '' || attrs.some((a) => /^expires=thu, 01 jan 1970/i.test(a.trim()));
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired) this.cookies.push({ name, value, path });
    }
  }

  async request(url: URL, form?: Record<string, string>): Promise<HttpResponse> {
    const headers: Record<string, string> = {};
    const cookie = this.header(url);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await http(url, { method: body ? 'POST' : 'GET', headers, ...(body ? { body } : {}) });
    this.store(url, res);
    return res;
  }

  /** Follows redirects within `origin`; stops at the first non-redirect or at a redirect that leaves it. */
  async follow(url: URL, form: Record<string, string> | undefined, origin: string): Promise<{ res: HttpResponse; url: URL }> {
    let current = url;
    let res = await this.request(current, form);
    for (let hops = 0; hops < 20 && res.status >= 300 && res.status < 400; hops++) {
      const next = new URL(String(res.headers.location), current);
      if (next.origin !== origin) return { res, url: next };
      current = next;
      res = await this.request(current);
    }
    return { res, url: current };
  }
}

const formField = (html: string, name: string): string | undefined =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&');

const formAction = (html: string, contains: string): string | undefined =>
  [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!).find((a) => a.includes(contains));

/** Walks the login page and, when shown, the consent page; returns where the provider finally sends the browser. */
export async function scriptedSignIn(browser: ScriptedBrowser, authorizationUrl: URL, creds: { identifier: string; password: string }): Promise<URL> {
  const origin = authorizationUrl.origin;
  let { res, url } = await browser.follow(authorizationUrl, undefined, origin);
  for (let step = 0; step < 5; step++) {
    if (url.origin !== origin) return url;
    const page = res.text;
    if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url.pathname}: ${page.slice(0, 200)}`);
    const csrf = formField(page, 'csrf');
    const login = formAction(page, '/login');
    const action = login ?? formAction(page, '/confirm');
    if (!csrf || !action) throw new Error(`no login or consent form at ${url.pathname}: ${page.slice(0, 200)}`);
    const form: Record<string, string> = login ? { csrf, identifier: creds.identifier, password: creds.password } : { csrf };
    ({ res, url } = await browser.follow(new URL(action, url), form, origin));
  }
  throw new Error('sign-in did not finish');
}

export interface RelyingParty {
  issuer: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scope: string;
}

export interface TokenSet {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
}

export const basicAuth = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/**
 * One complete sign-in: authorize → login → (consent, when asked) → code → token, with PKCE, state
 * and nonce. `extra` adds authorization parameters (`prompt=consent` for the consent page every time);
 * `browser` is a fresh cookie jar unless given (bench:steps measures each of its requests).
 */
export async function signIn(
  rp: RelyingParty,
  creds: { identifier: string; password: string },
  extra: Record<string, string> = {},
  browser: ScriptedBrowser = new ScriptedBrowser(),
): Promise<TokenSet> {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(16).toString('base64url');
  const auth = new URL(rp.authorizationEndpoint);
  auth.search = new URLSearchParams({
    client_id: rp.clientId,
    response_type: 'code',
    redirect_uri: rp.redirectUri,
    scope: rp.scope,
    state,
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  const callback = await scriptedSignIn(browser, auth, creds);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) {
    throw new Error(`sign-in ended without a code: ${callback.searchParams.get('error') ?? callback.href}`);
  }
  const res = await http(new URL(rp.tokenEndpoint), {
    method: 'POST',
    headers: { authorization: basicAuth(rp.clientId, rp.clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: rp.redirectUri, code_verifier: verifier }).toString(),
  });
  const body = JSON.parse(res.text) as TokenSet & { error?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`code exchange failed: ${res.status} ${body.error ?? ''}`);
  return body;
}

const REGIONS = ['110105', '310104', '440305', '510107', '330106', '650102', '420106', '320102', '210102', '530102'];

/** A synthetic citizen ID with a valid check character (random district, birth 1950-2005, sequence). */
export function syntheticCitizenId(): string {
  const from = Date.UTC(1950, 0, 1);
  const days = Math.floor((Date.UTC(2005, 11, 31) - from) / 86_400_000);
  const birth = new Date(from + randomInt(days + 1) * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  const first17 = `${REGIONS[randomInt(REGIONS.length)]!}${birth}${String(randomInt(1000)).padStart(3, '0')}`;
  return first17 + checkCharacter(first17);
}
