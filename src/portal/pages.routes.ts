import type Router from '@koa/router';
import type { Context } from 'koa';
import { htmlPage } from '../http/html-page.js';
import type { PortalDeps } from './deps.js';
import { maskPhone } from '../accounts/index.js';
import { recoveryHoldUntil } from '../accounts/recovery-hold.js';
import { passkeyGate, walletGate } from './lasting-credential-gate.js';
import { noticeOf, pageContext, signedIn, startSignIn, type SignedIn } from './portal-context.js';
import { sectionPath, type Section, type SignedInChrome } from './views/layout.js';
import { appsPage, certificatesPage, credentialsPage, historyPage, profilePage, sessionsPage, walletPage, type PageContext } from './views/pages.js';

/** Loads a page's data, then gives the view that renders it (once the CSP nonce is known). */
type Page = (s: SignedIn) => Promise<(c: PageContext & { chrome: SignedInChrome }) => string>;

const maskedPhoneOf = (s: SignedIn) => (s.account.phone ? maskPhone(s.account.phone) : '');

/** The portal's pages; without a portal session each one sends the browser to sign in first. */
export function pageRoutes(router: Router, deps: PortalDeps): void {
  const holdUntilOf = (s: SignedIn) => recoveryHoldUntil(s.account, deps.recoveryHoldSeconds);
  const pages: Record<Section, Page> = {
    profile: async (s) => {
      const profile = deps.self.profile(s.account);
      const pending = deps.proofing ? await deps.proofing.pending(s.account.id) : [];
      return (c) => profilePage(c, profile, pending);
    },
    credentials: async (s) => {
      const credentials = await deps.self.credentials(s.account);
      const devices = await deps.self.devices(s.account);
      const passkey = { gate: await passkeyGate(deps, s), maskedPhone: maskedPhoneOf(s), holdUntil: holdUntilOf(s) };
      return (c) => credentialsPage(c, credentials, devices, passkey);
    },
    sessions: async (s) => {
      const sessions = await deps.self.sessions(s.session.sub);
      return (c) => sessionsPage(c, sessions, s.session.sessionUid);
    },
    apps: async (s) => {
      const apps = await deps.self.apps(s.session.sub);
      return (c) => appsPage(c, apps);
    },
    history: async (s) => {
      const entries = await deps.self.history(s.session.sub, deps.historyLimit);
      return (c) => historyPage(c, entries, deps.historyLimit);
    },
    wallet: async (s) => {
      const issued = deps.walletCredentials ? await deps.walletCredentials.list(s.account.id) : [];
      const appNames = new Map(
        await Promise.all([...new Set(issued.map((c) => c.clientId))].map(async (id) => [id, (await deps.provider().Client.find(id))?.clientName ?? id] as const)),
      );
      const wallet = { gate: walletGate(deps, s), maskedPhone: maskedPhoneOf(s), holdUntil: holdUntilOf(s), issued: issued.map((c) => ({ ...c, appName: appNames.get(c.clientId) ?? c.clientId })) };
      return (c) => walletPage(c, wallet);
    },
    certificates: async (s) => {
      const list = deps.certificates ? await deps.certificates.list(s.account.id) : [];
      const wallet = { canOffer: Boolean(deps.certificates?.walletOffer), gate: walletGate(deps, s), maskedPhone: maskedPhoneOf(s), holdUntil: holdUntilOf(s) };
      return (c) => certificatesPage(c, list, wallet);
    },
  };

  for (const [section, load] of Object.entries(pages) as [Section, Page][]) {
    router.get(sectionPath(section), async (ctx: Context) => {
      const s = await signedIn(ctx, deps);
      if (!s) return startSignIn(ctx, deps, sectionPath(section));
      const view = await load(s);
      const chrome: SignedInChrome = { section, name: s.account.name, csrf: s.csrf, notice: noticeOf(ctx) };
      const base = pageContext(ctx, deps);
      htmlPage(ctx, (nonce) => view({ ...base, nonce, chrome }), { script: section === 'credentials' });
    });
  }
}
