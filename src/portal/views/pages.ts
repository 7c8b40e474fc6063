import { html, trusted, type SafeHtml } from '../../http/html.js';
import { passkeyScript } from '../../passkeys/index.js';
import type { PasskeyGate, WalletGate } from '../lasting-credential-gate.js';
import { auditActionLabel } from '../../audit/index.js';
import { formatDate, formatTime, type Locale, type PortalMessages } from '../i18n.js';
import { isRemovable, type CredentialSummary } from '../credential-store.js';
import type { AppView, BoundKeyView, DeviceView, HistoryEntry, ProfileView, SessionView } from '../self-service.js';
import type { CertificateSummary, WalletCredentialSummary } from '../../credentials/index.js';
import { portalLayout, type SignedInChrome } from './layout.js';

export interface PageContext {
  locale: Locale;
  t: PortalMessages;
  nonce: string;
  path: string;
  timeZone: string;
}

type SignedInPage = PageContext & { chrome: SignedInChrome };

const page = (c: SignedInPage, title: string, body: SafeHtml) =>
  portalLayout({ locale: c.locale, t: c.t, nonce: c.nonce, path: c.path, title, body, signedIn: c.chrome });

const time = (c: PageContext, epochMs: number | undefined) =>
  epochMs === undefined ? '' : html`<time datetime="${new Date(epochMs).toISOString()}">${formatTime(c.locale, epochMs, c.timeZone)}</time>`;

const channelLabel = (t: PortalMessages, channel: string | undefined) => (channel ? (t.channels[channel] ?? channel) : '');
const methodLabel = (t: PortalMessages, amr: string[]) => amr.map((m) => t.methods[m] ?? m).join(' + ');

/** A hidden CSRF field and one action's own fields. */
function actionForm(c: SignedInPage, action: string, fields: Record<string, string>, button: SafeHtml, opts: { label?: string; describedBy?: string; danger?: boolean } = {}) {
  return html`<form method="post" action="${action}">
<input type="hidden" name="csrf" value="${c.chrome.csrf}">${Object.entries(fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<button type="submit"${opts.danger ? html` class="danger"` : ''}${opts.label ? html` aria-label="${opts.label}"` : ''}${opts.describedBy ? html` aria-describedby="${opts.describedBy}"` : ''}>${button}</button>
</form>`;
}

/** An in-person check made about the citizen, waiting for them to say it was them. */
function pendingProofing(c: SignedInPage, pending: readonly { id: string; channel: string; createdAt: number }[]): SafeHtml | string {
  const { t } = c;
  if (pending.length === 0) return '';
  return html`<h2>${t.proofingPendingTitle}</h2>${pending.map(
    (e) => html`<section class="card" data-proofing="${e.id}"><p>${t.proofingPendingLead(channelLabel(t, e.channel))} ${time(c, e.createdAt)}</p>
${actionForm(c, '/account/proofing/confirm', { evidence: e.id }, html`${t.proofingConfirm}`)}</section>`,
  )}`;
}

export function profilePage(c: SignedInPage, p: ProfileView, pending: readonly { id: string; channel: string; createdAt: number }[] = []): string {
  const { t } = c;
  return page(
    c,
    t.profileTitle,
    html`<dl>
<dt>${t.name}</dt><dd>${p.name}</dd>
<dt>${t.citizenId}</dt><dd data-field="citizen-id">${p.citizenId}</dd>
<dt>${t.phone}</dt><dd>${p.phone ?? t.noPhone}</dd>
<dt>${t.birthDate}</dt><dd>${p.birthDate}</dd>
<dt>${t.gender}</dt><dd>${t.genders[p.gender] ?? ''}</dd>
<dt>${t.assurance}</dt><dd data-field="assurance" data-value="${p.assurance}">${t.assurances[p.assurance] ?? p.assurance}</dd>
${p.assuranceAt !== undefined ? html`<dt>${t.assuranceAt}</dt><dd>${formatDate(c.locale, p.assuranceAt, c.timeZone)}</dd>` : ''}
<dt>${t.memberSince}</dt><dd>${formatDate(c.locale, p.createdAt, c.timeZone)}</dd>
</dl>${pendingProofing(c, pending)}`,
  );
}

/** A phone that holds a device key of the government app: named as the app named it, removable. */
function deviceCard(c: SignedInPage, d: DeviceView): SafeHtml {
  const { t } = c;
  const label = `${t.credentialTypes.device ?? 'device'} · ${d.name}`;
  return html`<section class="card" data-device="${d.id}" aria-labelledby="device-${d.id}">
<h2 id="device-${d.id}">${label}</h2>
<dl><dt>${t.method}</dt><dd>${t.methods[d.amr] ?? d.amr}</dd>
<dt>${t.created}</dt><dd>${time(c, d.createdAt)}</dd>
<dt>${t.lastUsed}</dt><dd>${d.lastUsedAt === undefined ? t.never : time(c, d.lastUsedAt)}</dd></dl>
${actionForm(c, '/account/devices/remove', { device: d.id }, html`${t.remove}`, { label: t.removeLabel(label), danger: true })}
</section>`;
}

/**
 * The SMS proof of the account's number a gate asks for: send a code, then type it in. `prefix` is
 * where its two forms post (`/send-code`, `/prove-phone`), `name` keeps its ids apart on the page.
 */
function phoneProofStep(c: SignedInPage, prefix: string, name: string, hint: string): SafeHtml {
  const { t } = c;
  return html`<p class="hint" id="${name}-phone-hint">${hint}</p>
${actionForm(c, `${prefix}/send-code`, {}, html`${t.sendCode}`, { describedBy: `${name}-phone-hint` })}
<form method="post" action="${prefix}/prove-phone" novalidate>
<input type="hidden" name="csrf" value="${c.chrome.csrf}">
<label for="${name}-code">${t.smsCode}</label>
<input type="text" id="${name}-code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" required aria-describedby="${name}-phone-hint">
<button type="submit">${t.confirmCode}</button>
</form>`;
}

/** What the add-a-passkey card offers: the step the gate asks for first, or the button itself. */
/** Why nothing lasting can be added yet: the recovery hold after a password reset by SMS, and until when. */
const recoveryHoldHint = (c: SignedInPage, until: number | undefined): SafeHtml =>
  html`<p class="hint" data-recovery-hold>${c.t.recoveryHold(until === undefined ? '—' : formatTime(c.locale, until, c.timeZone))}</p>`;

function passkeyStep(c: SignedInPage, gate: PasskeyGate, maskedPhone: string, holdUntil: number | undefined): SafeHtml {
  const { t } = c;
  if (gate === 'no_host_name') return html`<p class="hint">${t.passkeyNeedsHostName}</p>`;
  if (gate === 'recovery_hold') return recoveryHoldHint(c, holdUntil);
  if (gate === 'sign_in_again' || gate === 'sign_in_at_loa2' || gate === 'sign_in_with_password') {
    const hint = { sign_in_again: t.addPasskeyNeedsSignIn, sign_in_at_loa2: t.addPasskeyNeedsSecondFactor, sign_in_with_password: t.addPasskeyNeedsPassword }[gate];
    return html`<p class="hint" id="passkey-sign-in-hint">${hint}</p>${actionForm(c, '/account/passkeys/sign-in', {}, html`${t.signInToAddPasskey}`, { describedBy: 'passkey-sign-in-hint' })}`;
  }
  if (gate === 'prove_phone') return phoneProofStep(c, '/account/passkeys', 'passkey', t.addPasskeyNeedsPhone(maskedPhone));
  return html`<form id="passkey-form" method="post" action="/account/passkeys">
<input type="hidden" name="csrf" value="${c.chrome.csrf}"><input type="hidden" name="credential" value="">
</form>
<button type="button" hidden data-passkey="register" data-options="/account/passkeys/options" data-form="passkey-form" data-status="passkey-status">${t.addPasskey}</button>
<p class="error" role="alert" id="passkey-status" hidden>${t.notices.passkey_failed}</p>
<noscript><p class="hint">${t.passkeyUnsupported}</p></noscript>
<script nonce="${c.nonce}">${trusted(passkeyScript)}</script>`;
}

export function credentialsPage(c: SignedInPage, credentials: CredentialSummary[], devices: DeviceView[], passkey: { gate: PasskeyGate; maskedPhone: string; holdUntil?: number | undefined }): string {
  const { t } = c;
  const cards = credentials.map((cred) => {
    const label = t.credentialTypes[cred.type] ?? cred.type;
    return html`<section class="card" data-credential-type="${cred.type}" aria-labelledby="cred-${cred.id}">
<h2 id="cred-${cred.id}">${label}</h2>
<dl><dt>${t.created}</dt><dd>${time(c, cred.createdAt)}</dd>
<dt>${t.lastUsed}</dt><dd>${cred.lastUsedAt === undefined ? t.never : time(c, cred.lastUsedAt)}</dd></dl>
${isRemovable(cred.type)
  ? actionForm(c, '/account/credentials/remove', { credential: cred.id }, html`${t.remove}`, { label: t.removeLabel(label), danger: true })
  : html`<p class="hint">${t.passwordKept}</p>`}
</section>`;
  });
  return page(c, t.credentialsTitle, html`<p class="lead">${t.credentialsLead}</p>${cards}${devices.map((d) => deviceCard(c, d))}<section class="card" aria-labelledby="add-passkey"><h2 id="add-passkey">${t.addPasskeyTitle}</h2><p>${t.addPasskeyLead}</p>${passkeyStep(c, passkey.gate, passkey.maskedPhone, passkey.holdUntil)}</section>`);
}

/**
 * Asked before a sign-in method is removed when others were added from its sign-ins: the citizen
 * chooses whether they go too. `action` and `fields` repeat the removal's own form.
 */
export function removeBoundPage(c: SignedInPage, what: string, bound: readonly BoundKeyView[], action: string, fields: Record<string, string>): string {
  const { t } = c;
  const rows = bound.map((k) => {
    const label = k.type === 'device' ? `${t.credentialTypes.device ?? 'device'} · ${k.name ?? ''}` : (t.credentialTypes[k.type] ?? k.type);
    return html`<li data-bound="${k.id}">${label} · ${t.created} ${time(c, k.createdAt)}</li>`;
  });
  return page(
    c,
    t.removeBoundTitle(what),
    html`<p class="lead" id="bound-lead">${t.removeBoundLead(what)}</p><ul>${rows}</ul>
${actionForm(c, action, { ...fields, bound: 'remove' }, html`${t.removeBoundAll}`, { describedBy: 'bound-lead', danger: true })}
${actionForm(c, action, { ...fields, bound: 'keep' }, html`${t.removeBoundOnly(what)}`)}
<p><a href="/account/credentials">${t.removeBoundCancel}</a></p>`,
  );
}

export function sessionsPage(c: SignedInPage, sessions: SessionView[], currentUid: string): string {
  const { t } = c;
  const cards = sessions.map((s, i) => {
    const current = s.uid === currentUid;
    return html`<section class="card" data-session="${s.uid}" aria-labelledby="session-${i}">
<h2 id="session-${i}">${t.sessionHeading(channelLabel(t, s.channel) || '—', s.signedInAt === undefined ? '—' : formatTime(c.locale, s.signedInAt, c.timeZone))}${current ? html` <span class="tag">${t.thisBrowser}</span>` : ''}</h2>
<dl>
<dt>${t.channel}</dt><dd data-channel="${s.channel ?? ''}">${channelLabel(t, s.channel)}</dd>
<dt>${t.method}</dt><dd data-amr="${s.amr.join(' ')}">${methodLabel(t, s.amr)}</dd>
<dt>${t.level}</dt><dd>${s.acr ? (t.levels[s.acr] ?? s.acr) : ''}</dd>
<dt>${t.signedInAt}</dt><dd>${time(c, s.signedInAt)}</dd>
<dt>${t.appsInSession}</dt><dd><ul class="plain">${s.apps.map((a) => html`<li>${a.name}</li>`)}</ul></dd>
</dl>
${actionForm(c, '/account/sessions/end', { session: s.uid }, html`${t.endSession}`, { describedBy: `session-${i}`, danger: true })}
</section>`;
  });
  const endAll = sessions.length
    ? html`<section class="card"><p class="hint" id="end-all-hint">${t.endAllHint}</p>${actionForm(c, '/account/sessions/end-all', {}, html`${t.endAll}`, { describedBy: 'end-all-hint', danger: true })}</section>`
    : '';
  return page(c, t.sessionsTitle, html`<p class="lead">${t.sessionsLead}</p>${sessions.length ? cards : html`<p>${t.noSessions}</p>`}${endAll}`);
}

export function appsPage(c: SignedInPage, apps: AppView[]): string {
  const { t } = c;
  const describe = (app: AppView, scope: string) =>
    scope === 'citizen_id' ? t.shared.citizenIdText[app.citizenIdRelease] : (t.shared.scopeText[scope] ?? scope);
  const cards = apps.map((app, i) => {
    const shared = [
      ...app.scopes.map((s) => describe(app, s)).filter((d): d is string => d !== undefined),
      ...app.resources.map((r) => t.shared.resourceText(r.indicator, r.scopes.join(', '))),
    ];
    return html`<section class="card" data-client="${app.clientId}" aria-labelledby="app-${i}">
<h2 id="app-${i}">${app.name}</h2>
<dl>
<dt>${t.sharedData}</dt><dd><ul class="plain">${shared.map((d) => html`<li>${d}</li>`)}</ul></dd>
<dt>${t.grantedAt}</dt><dd>${time(c, app.grantedAt)}</dd>
</dl>
${actionForm(c, '/account/apps/revoke', { client_id: app.clientId }, html`${t.revoke}`, { label: t.revokeLabel(app.name), danger: true })}
</section>`;
  });
  return page(c, t.appsTitle, html`<p class="lead">${t.appsLead}</p>${apps.length ? cards : html`<p>${t.noApps}</p>`}`);
}

export function historyPage(c: SignedInPage, entries: HistoryEntry[], limit: number): string {
  const { t } = c;
  if (!entries.length) return page(c, t.historyTitle, html`<p>${t.noHistory}</p>`);
  const rows = entries.map(
    (e) => html`<tr data-action="${e.action}">
<td>${time(c, e.at)}</td>
<td>${auditActionLabel(c.locale, e.action)}</td>
<td${e.app ? html` data-client="${e.app.clientId}"` : ''}>${e.app?.name ?? ''}</td>
<td data-channel="${e.channel ?? ''}">${channelLabel(t, e.channel)}</td>
<td data-amr="${e.amr.join(' ')}">${methodLabel(t, e.amr)}</td>
<td>${e.ip ?? ''}</td>
</tr>`,
  );
  return page(
    c,
    t.historyTitle,
    html`<table>
<caption>${t.historyLead(limit)}</caption>
<thead><tr><th scope="col">${t.when}</th><th scope="col">${t.event}</th><th scope="col">${t.app}</th><th scope="col">${t.channel}</th><th scope="col">${t.method}</th><th scope="col">${t.ip}</th></tr></thead>
<tbody>${rows}</tbody>
</table>`,
  );
}

export function certificatesPage(c: SignedInPage, certificates: CertificateSummary[], wallet: { canOffer: boolean; gate: WalletGate; maskedPhone: string; holdUntil?: number | undefined }): string {
  const { t } = c;
  const day = (ms: number) => html`<time datetime="${new Date(ms).toISOString()}">${formatDate(c.locale, ms, c.timeZone)}</time>`;
  const cards = certificates.map((cert, i) => {
    const name = cert.names[c.locale === 'en' ? 'en' : 'zh-CN'];
    // Only a valid certificate can go to the wallet: a suspended, revoked or expired one offers nothing.
    const offer = wallet.canOffer && cert.status === 'valid' ? actionForm(c, '/account/certificates/offer', { certificate: cert.id }, html`${t.addToWallet}`, { label: t.addToWalletLabel(name) }) : '';
    return html`<section class="card" data-certificate="${cert.id}" data-configuration="${cert.configurationId}" aria-labelledby="cert-${i}">
<h2 id="cert-${i}">${name}</h2>
<dl>
<dt>${t.certificateIssuer}</dt><dd>${cert.department}</dd>
<dt>${t.certificateValidity}</dt><dd>${trusted(t.validityRange(String(day(cert.validFrom)), String(day(cert.validUntil))))}</dd>
<dt>${t.certificateStatus}</dt><dd data-status="${cert.status}">${t.certificateStatuses[cert.status] ?? cert.status}</dd>
</dl>
${offer}
</section>`;
  });
  const asks = wallet.canOffer && wallet.gate !== 'ready' && certificates.some((x) => x.status === 'valid');
  const hint = !asks
    ? ''
    : wallet.gate === 'recovery_hold'
      ? recoveryHoldHint(c, wallet.holdUntil)
      : wallet.gate === 'prove_phone'
        ? phoneProofStep(c, '/account/certificates', 'certificates', t.walletNeedsPhone(wallet.maskedPhone))
        : html`<p class="hint">${wallet.gate === 'sign_in_again' ? t.certificateNeedsFreshSignIn : t.certificateNeedsLoa2}</p>`;
  return page(c, t.certificatesTitle, html`<p class="lead">${t.certificatesLead}</p>${hint}${certificates.length ? cards : html`<p>${t.noCertificates}</p>`}`);
}

/** The offer of one certificate, made just now: its QR code and transaction code. */
export function certificateOfferPage(c: SignedInPage, name: string, offer: WalletOfferView): string {
  const { t } = c;
  return page(c, t.certificateOfferTitle(name), html`<p class="lead">${t.certificateOfferLead}</p>${offerCard(c, offer)}<p><a href="/account/certificates">${t.backToCertificates}</a></p>`);
}

export function signedOutPage(c: PageContext): string {
  const { t } = c;
  return portalLayout({ ...c, title: t.signedOutTitle, body: html`<p role="status">${t.signedOut}</p><p><a href="/account">${t.signInAgain}</a></p>` });
}

export function portalErrorPage(c: PageContext, message: string, code: string): string {
  const { t } = c;
  return portalLayout({
    ...c,
    title: t.errorTitle,
    body: html`<p class="error" role="alert"><code>${code}</code>: ${message}</p><p><a href="/account">${t.backToPortal}</a></p>`,
  });
}

/** A credential offer made just now: its QR code, and the transaction code shown apart from it. */
export interface WalletOfferView {
  offerUri: string;
  qrDataUrl: string;
  txCode: string;
  expiresAt: number;
}

/** A credential offer's QR code, and the transaction code apart from it. */
function offerCard(c: SignedInPage, offer: WalletOfferView) {
  const { t } = c;
  return html`<section class="card" data-offer aria-labelledby="offer-title">
<h2 id="offer-title">${t.walletScan}</h2>
<p><img src="${offer.qrDataUrl}" alt="${t.walletQrLabel}" width="232" height="232" data-offer-uri="${offer.offerUri}"></p>
<h2>${t.walletTxCode}</h2>
<p class="tx-code" data-tx-code>${offer.txCode}</p>
<p class="hint">${t.walletTxCodeHint}</p>
<p class="hint">${t.walletExpires} ${time(c, offer.expiresAt)}. ${t.walletOnce}</p>
</section>`;
}

/** A credential issued to one of the citizen's wallets, with the name of the app that received it. */
export type IssuedWalletCredential = WalletCredentialSummary & { appName: string };

/** The credentials issued to the citizen's wallets: what, when, to which app and key, whether still good; a valid one can be revoked. */
function issuedCredentials(c: SignedInPage, issued: readonly IssuedWalletCredential[]): SafeHtml {
  const { t } = c;
  const cards = issued.map((cred) => {
    const name = cred.kind === 'identity' ? t.identityCredential : (cred.names?.[c.locale === 'en' ? 'en' : 'zh-CN'] ?? '');
    // The key as a wallet app can show it: the start of its JWK thumbprint.
    const key = cred.holderJkt.slice(0, 8);
    const revocable = cred.status === 'valid' || cred.status === 'suspended';
    return html`<section class="card" data-issued-credential="${cred.id}" aria-labelledby="issued-${cred.id}">
<h3 id="issued-${cred.id}">${name}</h3>
<dl>
<dt>${t.walletIssuedAt}</dt><dd>${time(c, cred.issuedAt)}</dd>
<dt>${t.walletApp}</dt><dd data-client="${cred.clientId}">${cred.appName}</dd>
<dt>${t.walletKey}</dt><dd><code title="${cred.holderJkt}">${key}</code></dd>
<dt>${t.walletValidUntil}</dt><dd>${time(c, cred.expiresAt)}</dd>
<dt>${t.walletCredentialStatus}</dt><dd data-status="${cred.status}">${t.certificateStatuses[cred.status] ?? cred.status}</dd>
</dl>
${revocable ? actionForm(c, '/account/wallet/revoke', { credential: cred.id }, html`${t.revokeCredential}`, { label: t.revokeCredentialLabel(name, key), danger: true }) : ''}
</section>`;
  });
  return html`<h2>${t.walletIssuedTitle}</h2><p class="hint">${t.walletIssuedLead}</p>${issued.length ? cards : html`<p>${t.noWalletCredentials}</p>`}`;
}

/**
 * "Add to your wallet": what the wallet gate asks for first (a fresh loa:2 sign-in, an SMS code),
 * then an offer of the identity credential; below, the credentials already issued to the wallets.
 */
export function walletPage(
  c: SignedInPage,
  w: { gate: WalletGate; maskedPhone: string; holdUntil?: number | undefined; offer?: WalletOfferView | undefined; issued?: readonly IssuedWalletCredential[] | undefined },
): string {
  const { t } = c;
  const action =
    w.gate === 'ready'
      ? actionForm(c, '/account/wallet/offer', {}, html`${t.walletOffer}`)
      : w.gate === 'recovery_hold'
        ? recoveryHoldHint(c, w.holdUntil)
        : w.gate === 'prove_phone'
        ? phoneProofStep(c, '/account/wallet', 'wallet', t.walletNeedsPhone(w.maskedPhone))
        : html`<p>${w.gate === 'sign_in_again' ? t.walletNeedsFreshSignIn : t.walletNeedsLoa2}</p>${actionForm(c, '/account/wallet/sign-in', {}, html`${t.walletSignIn}`)}`;
  const offer = w.offer ? offerCard(c, w.offer) : action;
  return page(c, t.walletTitle, html`<p class="lead">${t.walletLead}</p>${offer}${w.issued ? issuedCredentials(c, w.issued) : ''}`);
}
