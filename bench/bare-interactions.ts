/**
 * The bare provider's sign-in: the smallest login an app on oidc-provider can have, to measure the
 * library's own floor for a complete sign-in (the same five requests as Yihao's: authorization,
 * login page, login post, resume, code exchange) with no storage round trip and no password hash.
 *
 * What it keeps of a real login: the interaction is read from its signed cookie on both the page
 * and the post, the post must carry the page's CSRF value (the interaction's uid) and a right
 * password (compared in constant time, not hashed: the hash is the part Yihao's budget leaves out),
 * and a returning citizen's grant is made without a consent page, as Yihao's remembered consent
 * does. What it drops is everything Yihao adds: channels, levels, lockout, rate limits, audit,
 * templates and languages.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC, Grant } from 'oidc-provider';

export const BARE_CITIZEN = { identifier: 'bench-citizen', password: 'bench-password-Aa1' };

const INTERACTION = /^\/interaction\/([\w-]+)(\/login)?$/;

export const interactionUrl = (_ctx: KoaContextWithOIDC, interaction: { uid: string }): string => `/interaction/${interaction.uid}`;

/** Each sign-in's grant, made without a consent page from the scopes asked for (Yihao: remembered consent). */
export async function loadOrMakeGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const { oidc } = ctx;
  const grantId = (oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId || oidc.session!.grantIdFor(oidc.client!.clientId);
  if (grantId) return oidc.provider.Grant.find(grantId);
  const accountId = oidc.session?.accountId;
  if (!accountId) return undefined;
  const grant = new oidc.provider.Grant({ clientId: oidc.client!.clientId, accountId });
  grant.addOIDCScope([...(oidc.requestParamOIDCScopes as Set<string>)].join(' '));
  await grant.save();
  return grant;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

const same = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

function answer(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** Answers `/interaction/<uid>` (the page) and `/interaction/<uid>/login` (the post); false for any other path. */
export function handleInteraction(provider: Provider, req: IncomingMessage, res: ServerResponse): boolean {
  const match = INTERACTION.exec(req.url ?? '');
  if (!match) return false;
  const [, uid, login] = match;
  void (async () => {
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) return answer(res, 400, 'text/plain', 'interaction mismatch');
    if (!login) {
      return answer(
        res,
        200,
        'text/html; charset=utf-8',
        `<!doctype html><title>Sign in</title><form method="post" action="/interaction/${uid}/login">` +
          `<input type="hidden" name="csrf" value="${uid}"><input name="identifier"><input name="password" type="password"><button>Sign in</button></form>`,
      );
    }
    if (req.method !== 'POST') return answer(res, 405, 'text/plain', 'POST only');
    const form = new URLSearchParams(await readBody(req));
    if (form.get('csrf') !== uid) return answer(res, 403, 'text/plain', 'bad csrf');
    const right = form.get('identifier') === BARE_CITIZEN.identifier && same(form.get('password') ?? '', BARE_CITIZEN.password);
    if (!right) return answer(res, 401, 'text/plain', 'wrong identifier or password');
    await provider.interactionFinished(req, res, { login: { accountId: BARE_CITIZEN.identifier } }, { mergeWithLastSubmission: false });
  })().catch((e: unknown) => {
    if (!res.headersSent) answer(res, 500, 'text/plain', String((e as Error).message));
  });
  return true;
}
