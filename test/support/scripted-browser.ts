/**
 * A minimal cookie-keeping HTTP client that walks Yihao's real pages the way a browser without
 * JavaScript would: follow redirects, read the form, post it back.
 */
interface Cookie {
  name: string;
  value: string;
  path: string;
}

export class ScriptedBrowser {
  private cookies: Cookie[] = [];

  /** `send` is how requests go out: `fetch`, or one that trusts a test CA (a proxy with TLS in front). */
  constructor(private readonly send: (input: URL, init: RequestInit) => Promise<Response> = fetch) {}

  /** As browsers send them (RFC 6265, 5.4): longer paths first, so a path's own cookie wins over a same-named one at `/`. */
  cookieHeader(url: URL): string {
    return this.cookies
      .filter((c) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(url: URL, res: Response): void {
    for (const raw of res.headers.getSetCookie()) {
      const [pair, ...attrs] = raw.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const path = pathAttr ? pathAttr.slice(5) : url.pathname.replace(/\/[^/]*$/, '') || '/';
      const expired = attrs.some((a) => /^expires=thu, 01 jan 1970/i.test(a.trim())) || value === '';
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path));
      if (!expired) this.cookies.push({ name, value, path });
    }
  }

  async request(url: string | URL, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const u = new URL(url);
    const headers: Record<string, string> = { ...init.headers };
    const cookie = this.cookieHeader(u);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await this.send(u, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.store(u, res);
    return res;
  }

  /** Follows redirects on `base`'s origin; stops at the first response that is not a redirect or leaves it. */
  async follow(url: string | URL, init: Parameters<ScriptedBrowser['request']>[1] = {}, origin = new URL(url).origin): Promise<{ res: Response; url: URL }> {
    let current = new URL(url);
    let res = await this.request(current, init);
    for (let hops = 0; hops < 20 && res.status >= 300 && res.status < 400; hops++) {
      const next = new URL(res.headers.get('location')!, current);
      if (next.origin !== origin) return { res, url: next };
      current = next;
      res = await this.request(current);
    }
    return { res, url: current };
  }
}

export const formField = (html: string, name: string): string | undefined =>
  new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1]?.replace(/&amp;/g, '&');

export const formAction = (html: string, contains: string): string | undefined =>
  [...html.matchAll(/<form[^>]*action="([^"]+)"/g)].map((m) => m[1]!).find((a) => a.includes(contains));

/** The first link on the page whose href contains `contains` (entities decoded). */
/** Text taken from an HTML page (an attribute's value, a link) with the entities Yihao's pages escape undone. */
export const unescapeHtml = (s: string): string => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");

export const linkTo = (html: string, contains: string): string | undefined =>
  [...html.matchAll(/<a[^>]*href="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&')).find((href) => href.includes(contains));

/**
 * Signs in through the login page and, when asked, the consent page. Returns the URL the
 * provider finally sends the browser to (the relying party's redirect_uri).
 */
export async function scriptedSignIn(
  browser: ScriptedBrowser,
  authorizationUrl: string | URL,
  creds: { identifier: string; password: string; /** The authenticator app's code, when the sign-in asks for one. */ otp?: () => Promise<string> },
): Promise<URL> {
  const origin = new URL(authorizationUrl).origin;
  let { res, url } = await browser.follow(authorizationUrl, {}, origin);
  for (let step = 0; step < 5; step++) {
    if (url.origin !== origin) return url;
    const page = await res.text();
    if (res.status !== 200) throw new Error(`unexpected ${res.status} at ${url.pathname}: ${page.slice(0, 300)}`);
    const csrf = formField(page, 'csrf');
    if (!csrf) throw new Error(`no form at ${url.pathname}: ${page.slice(0, 300)}`);
    const login = formAction(page, '/login');
    const second = creds.otp && formAction(page, '/second-factor');
    const action = login ?? second ?? formAction(page, '/confirm');
    if (!action) throw new Error(`no login, second-factor or consent form at ${url.pathname}`);
    const form: Record<string, string> = login ? { csrf, identifier: creds.identifier, password: creds.password } : second ? { csrf, code: await creds.otp!() } : { csrf };
    ({ res, url } = await browser.follow(new URL(action, url), { form }, origin));
  }
  throw new Error('sign-in did not finish');
}

/** Where a step of a scripted walk ended: one of Yihao's pages, or back at the relying party. */
export type Step = { kind: 'page'; status: number; url: URL; html: string } | { kind: 'rp'; url: URL };
export type PageStep = Extract<Step, { kind: 'page' }>;

export const page = (step: Step): PageStep => {
  if (step.kind !== 'page') throw new Error(`expected a Yihao page, got the relying party at ${step.url.href}`);
  return step;
};

/** The text of the page's `role="alert"` message. */
export const alertOf = (html: string): string | undefined => /role="alert"[^>]*>([^<]+)</.exec(html)?.[1];

/** Follows redirects within Yihao's `origin` and reports where the walk stopped. */
export async function go(browser: ScriptedBrowser, url: string | URL, origin: string): Promise<Step> {
  const { res, url: at } = await browser.follow(url, {}, origin);
  if (at.origin !== origin) return { kind: 'rp', url: at };
  return { kind: 'page', status: res.status, url: at, html: await res.text() };
}

/** Posts the page's form whose action contains `contains`, with its CSRF token; follows a redirect. */
export async function submit(browser: ScriptedBrowser, from: PageStep, contains: string, fields: Record<string, string>, origin: string): Promise<Step> {
  const action = formAction(from.html, contains);
  if (!action) throw new Error(`no ${contains} form on ${from.url.pathname}: ${from.html.slice(0, 400)}`);
  const res = await browser.request(new URL(action, from.url), { form: { csrf: formField(from.html, 'csrf') ?? '', ...fields } });
  if (res.status >= 300 && res.status < 400) return go(browser, new URL(res.headers.get('location')!, from.url), origin);
  return { kind: 'page', status: res.status, url: from.url, html: await res.text() };
}
