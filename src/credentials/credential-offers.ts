import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Authentication } from '../accounts/index.js';
import type { Keyed } from '../identity/index.js';
import type { AccountIndex, KeyLinkModel } from '../storage/account-index.js';
import { keyOfLogin } from '../oidc/token-facts.js';
import { ReplayDetectedError, type AdapterConstructor, type AdapterPayload } from '../storage/oidc-adapter.js';
import { PRE_AUTHORIZED_CODE_GRANT } from '../clients/client-kinds.js';
import { CREDENTIAL_PATHS } from './issuer-metadata.js';

export { PRE_AUTHORIZED_CODE_GRANT } from '../clients/client-kinds.js';

/** The transaction code's length (numeric): sent out of band, typed into the wallet. */
export const TX_CODE_LENGTH = 6;
/** Wrong transaction codes an offer takes before it is dead: 5 guesses of 10^6 is a 1 in 200,000 chance. */
export const TX_CODE_ATTEMPTS = 5;

const OFFER_ID = /^[A-Za-z0-9_-]{32}$/;
const PRE_AUTHORIZED_CODE = /^([A-Za-z0-9_-]{32})\.([A-Za-z0-9_-]{43})$/;

/** Who made the offer: the citizen in the portal, or a member of counter staff for the citizen in front of them. */
export type OfferCreator = { type: 'citizen'; sub: string } | { type: 'staff'; sub: string; clientId: string };

interface StoredOffer {
  /** The account (its `sub`) the credential is for. */
  sub: string;
  /** The same `sub`, under the name the account index reads (storage/account-index.ts): an account's offers can be found, and die with it. */
  accountId: string;
  configurationIds: string[];
  /** The one certificate a certificate's offer is for: the wallet gets that one, not the newest of its type. */
  certificateId?: string | undefined;
  /** The login that made the offer: the credential's token states exactly this level. */
  authentication: Authentication;
  creator: OfferCreator;
  /** The pre-authorized code's secret half, which the offer document hands to the wallet. */
  secret: string;
  txCodeHash: string;
  /** Where the citizen finds the transaction code: by SMS (a counter's offer), else on the screen that made the offer. */
  txCodeBy?: 'sms';
  expiresAt: number;
}

/** What the wallet shows beside the code's input (OID4VCI `tx_code.description`, at most 300 characters). */
const TX_CODE_HINT = {
  sms: '请输入短信收到的 6 位领取码 / Enter the 6-digit code sent to your phone by SMS',
  counter: '请输入柜台屏幕上显示的 6 位数字 / Enter the 6 digits shown on the counter screen',
  web: '请输入网页上显示的 6 位数字 / Enter the 6 digits shown on the web page',
};

export interface CreatedOffer {
  offerId: string;
  /** `openid-credential-offer://?credential_offer_uri=…`: what the QR code holds. */
  offerUri: string;
  /** Shown to the citizen apart from the QR code, never put in a URL. */
  txCode: string;
  expiresAt: number;
}

export type RedeemRefusal = 'unknown' | 'expired' | 'used' | 'wrong_tx_code' | 'attempts_exhausted';

export type RedeemResult = { ok: true; sub: string; configurationIds: string[]; certificateId: string | undefined; authentication: Authentication; creator: OfferCreator } | { ok: false; reason: RedeemRefusal };

/**
 * Credential offers for the pre-authorized code flow (OID4VCI 1.0 §4.1). An offer is served by
 * reference at a Yihao URL until it expires; its pre-authorized code is `<offer id>.<secret>`, good
 * once, with a numeric transaction code kept only as a keyed hash. Every redemption attempt takes
 * one of `TX_CODE_ATTEMPTS` slots in the shared replay store (Redis `SET NX` or an SQL insert), and
 * the redemption itself one more, so a code guessed at on several instances at once still dies
 * after the same few tries, and is redeemed at most once.
 */
export function credentialOffers(deps: { issuer: string; keyed: Keyed; Adapter: AdapterConstructor; lifetimeSeconds: number; accountIndex: Pick<AccountIndex, 'idsOf'> }) {
  const lifetime = deps.lifetimeSeconds;
  const offers = new deps.Adapter('CredentialOffer');
  const slots = new deps.Adapter('ReplayDetection');
  const txHash = (offerId: string, txCode: string) => deps.keyed('tx_code', `${offerId}:${txCode}`);
  const secretsMatch = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

  async function load(offerId: string, now: number): Promise<StoredOffer | undefined> {
    const stored = (await offers.find(offerId)) as StoredOffer | undefined;
    return stored && stored.expiresAt > now ? stored : undefined;
  }

  /** Takes a slot in the replay store; false if another attempt (on any instance) took it first. */
  async function take(slot: string, ttlSeconds: number): Promise<boolean> {
    try {
      await slots.upsert(createHash('sha256').update(`credential_offer:${slot}`).digest('base64url'), { iat: Math.floor(Date.now() / 1000) }, ttlSeconds);
      return true;
    } catch (e) {
      if (e instanceof ReplayDetectedError) return false;
      throw e;
    }
  }

  return {
    lifetimeSeconds: lifetime,

    async create(
      o: { authentication: Authentication; sub: string; configurationIds: string[]; certificateId?: string | undefined; creator: OfferCreator; txCodeBy?: 'sms' | undefined },
      now = Date.now(),
    ): Promise<CreatedOffer> {
      const offerId = randomBytes(24).toString('base64url');
      const txCode = String(randomInt(0, 10 ** TX_CODE_LENGTH)).padStart(TX_CODE_LENGTH, '0');
      const expiresAt = now + lifetime * 1000;
      const stored: StoredOffer = {
        sub: o.sub,
        accountId: o.sub,
        configurationIds: o.configurationIds,
        ...(o.certificateId ? { certificateId: o.certificateId } : {}),
        authentication: o.authentication,
        creator: o.creator,
        secret: randomBytes(32).toString('base64url'),
        txCodeHash: txHash(offerId, txCode),
        ...(o.txCodeBy ? { txCodeBy: o.txCodeBy } : {}),
        expiresAt,
      };
      await offers.upsert(offerId, stored as unknown as AdapterPayload, lifetime);
      const reference = `${deps.issuer}${CREDENTIAL_PATHS.offers}/${offerId}`;
      return { offerId, offerUri: `openid-credential-offer://?credential_offer_uri=${encodeURIComponent(reference)}`, txCode, expiresAt };
    },

    /**
     * Destroys every pending offer made for an account (by its `sub`), on its account being disabled;
     * how many there were. Their documents are gone and their codes redeem nothing from then on.
     */
    async dropFor(sub: string): Promise<number> {
      const ids = await deps.accountIndex.idsOf(sub, 'CredentialOffer');
      const found = await Promise.all(ids.map(async (id) => ((await offers.find(id)) as StoredOffer | undefined)?.sub === sub));
      await Promise.all(ids.map((id) => offers.destroy(id)));
      return found.filter(Boolean).length;
    },

    /**
     * Destroys an account's pending offers made from a login that a key (a device key, a passkey, an
     * authenticator app) made or approved, once the key is removed (src/oidc/sign-out.ts
     * endKeyLogins): whoever holds one redeems nothing afterwards. How many there were.
     */
    async dropMadeWith(sub: string, key: { model: KeyLinkModel; id: string }): Promise<number> {
      const madeWith = (login: Authentication) => keyOfLogin(login, key.model) === key.id;
      const ids = await deps.accountIndex.idsOf(sub, 'CredentialOffer');
      const found = await Promise.all(ids.map(async (id) => ({ id, offer: (await offers.find(id)) as StoredOffer | undefined })));
      const dropped = found.filter((f) => f.offer?.sub === sub && madeWith(f.offer.authentication));
      await Promise.all(dropped.map((f) => offers.destroy(f.id)));
      return dropped.length;
    },

    /** The credential offer document (OID4VCI §4.1.1) the offer URI points at, while the offer lives. */
    async document(offerId: string, now = Date.now()): Promise<Record<string, unknown> | undefined> {
      if (!OFFER_ID.test(offerId)) return undefined;
      const offer = await load(offerId, now);
      if (!offer) return undefined;
      return {
        credential_issuer: deps.issuer,
        credential_configuration_ids: offer.configurationIds,
        grants: {
          [PRE_AUTHORIZED_CODE_GRANT]: {
            'pre-authorized_code': `${offerId}.${offer.secret}`,
            tx_code: { input_mode: 'numeric', length: TX_CODE_LENGTH, description: TX_CODE_HINT[offer.txCodeBy ?? (offer.creator.type === 'staff' ? 'counter' : 'web')] },
          },
        },
      };
    },

    /**
     * Redeems a pre-authorized code with its transaction code, once. `admit` sees the offer's login
     * before any attempt is counted, and may throw: an app that could not take the tokens anyway
     * (say, one that accepts no sign-ins from that channel) must not spend the citizen's offer.
     */
    async redeem(code: unknown, txCode: unknown, admit: (authentication: Authentication) => void = () => undefined, now = Date.now()): Promise<RedeemResult> {
      const m = typeof code === 'string' ? PRE_AUTHORIZED_CODE.exec(code) : null;
      if (!m) return { ok: false, reason: 'unknown' };
      const [, offerId, secret] = m as unknown as [string, string, string];
      const offer = await load(offerId, now);
      if (!offer || !secretsMatch(offer.secret, secret)) return { ok: false, reason: 'unknown' };
      admit(offer.authentication);
      const left = Math.max(1, Math.ceil((offer.expiresAt - now) / 1000) + 60);
      let slot = 0;
      while (slot < TX_CODE_ATTEMPTS && !(await take(`${offerId}:try:${slot}`, left))) slot++;
      if (slot === TX_CODE_ATTEMPTS) return { ok: false, reason: 'attempts_exhausted' };
      if (typeof txCode !== 'string' || !secretsMatch(offer.txCodeHash, txHash(offerId, txCode))) return { ok: false, reason: 'wrong_tx_code' };
      if (!(await take(`${offerId}:redeemed`, left))) return { ok: false, reason: 'used' };
      await offers.destroy(offerId);
      return { ok: true, sub: offer.sub, configurationIds: offer.configurationIds, certificateId: offer.certificateId, authentication: offer.authentication, creator: offer.creator };
    },
  };
}
export type CredentialOffers = ReturnType<typeof credentialOffers>;
