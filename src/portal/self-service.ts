import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import { maskPhone, type Account } from '../accounts/index.js';
import type { AuditAction, AuditLog } from '../audit/index.js';
import { birthDateOf, genderOf, maskCitizenId } from '../identity/index.js';
import { citizenIdReleaseOf } from '../oidc/client-metadata.js';
import type { SessionAuthentications } from '../oidc/index.js';
import { recordedOf, type SignOut, type SignOutResult } from '../oidc/sign-out.js';
import type { AccountIndex } from '../storage/account-index.js';
import type { KeyLinkModel } from '../oidc/token-facts.js';
import { keysStillHeld } from '../storage/key-held.js';
import type { CredentialStore, CredentialSummary } from './credential-store.js';
import type { Passkeys } from '../passkeys/index.js';
import { PORTAL_CLIENT_ID } from './portal-client.js';
import { revokeEvenWithoutRecord, revokeWithRecord } from '../storage/revocation-hold.js';

/** Who acts, and from where: every change the portal makes is audited with it. */
export interface Actor {
  sub: string;
  ip?: string | undefined;
  requestId?: string | undefined;
}

export interface ProfileView {
  name: string;
  /** Masked: the full number never leaves the vault for the portal. */
  citizenId: string;
  phone: string | undefined;
  birthDate: string;
  gender: 'male' | 'female';
  assurance: string;
  assuranceAt: number | undefined;
  createdAt: number;
}

export interface AppRef {
  clientId: string;
  name: string;
}

export interface SessionView {
  uid: string;
  channel: string | undefined;
  amr: string[];
  acr: string | undefined;
  /** Epoch ms. */
  signedInAt: number | undefined;
  apps: AppRef[];
}

export interface AppView extends AppRef {
  scopes: string[];
  resources: { indicator: string; scopes: string[] }[];
  citizenIdRelease: string;
  /** Epoch ms of the first consent still in force. */
  grantedAt: number;
}

export interface HistoryEntry {
  at: number;
  action: string;
  app: AppRef | undefined;
  channel: string | undefined;
  amr: string[];
  ip: string | undefined;
}

/**
 * What a citizen can see and change about their own account. Every method is scoped to the
 * signed-in citizen: ids that come from a form are looked up among that citizen's own records,
 * never trusted on their own.
 */
/** A mobile-app device key as the portal shows it (see src/channels/mobile). */
export interface DeviceView {
  id: string;
  name: string;
  amr: string;
  createdAt: number;
  lastUsedAt: number | undefined;
}

/** A sign-in method as a key: what its logins are filed under (storage/account-index.ts). */
export interface KeyRef {
  model: KeyLinkModel;
  id: string;
}

/** A sign-in method the citizen still holds that was added from a sign-in with another one. */
export interface BoundKeyView extends KeyRef {
  type: 'passkey' | 'totp' | 'device';
  /** A device key's name; the others have none. */
  name: string | undefined;
  createdAt: number;
}

/** What a removal names: a device key, or a credential (a passkey, an authenticator app) by id. */
type RemovalTarget = { device: string } | { credential: string };

/** The mobile channel's device keys, as far as the portal needs them. */
export interface PortalDevices {
  listForAccount(accountId: string): Promise<DeviceView[]>;
  revoke(accountId: string, id: string, record?: (trx: Knex.Transaction) => Promise<void>): Promise<boolean>;
}

export function selfService({ provider, accountIndex, keyHeld, authentications, signOut, audit, credentials, passkeys, devices }: {
  provider: () => Provider;
  accountIndex: AccountIndex;
  /** Whether a key is still there (storage/key-held.ts). */
  keyHeld: (key: KeyRef) => Promise<boolean>;
  authentications: SessionAuthentications;
  signOut: SignOut;
  audit: AuditLog;
  credentials: CredentialStore;
  passkeys: Passkeys;
  devices?: PortalDevices | undefined;
}) {
  /** Client names, looked up once per page. */
  function clientNames() {
    const cache = new Map<string, Promise<AppRef>>();
    return (clientId: string): Promise<AppRef> => {
      let found = cache.get(clientId);
      if (!found) {
        found = provider()
          .Client.find(clientId)
          .then((c) => ({ clientId, name: c?.clientName ?? clientId }));
        cache.set(clientId, found);
      }
      return found;
    };
  }

  async function ownGrants(sub: string) {
    const p = provider();
    const ids = (await accountIndex.list(sub)).filter((e) => e.model === 'Grant').map((e) => e.id);
    const grants = await Promise.all(ids.map((id) => p.Grant.find(id)));
    return grants.filter((g) => g !== undefined && g.accountId === sub && g.clientId !== undefined).map((g) => g!);
  }

  const record = (actor: Actor, action: AuditAction, extra: { clientId?: string; details?: Record<string, unknown> }, trx?: Knex.Transaction) =>
    audit.append({ action, actorType: 'citizen', actorId: actor.sub, accountId: actor.sub, channel: 'web', ip: actor.ip, requestId: actor.requestId, ...extra }, { trx });

  /** The sign-in methods the account holds now, as keys. */
  async function heldKeys(account: Account): Promise<BoundKeyView[]> {
    const held: BoundKeyView[] = [];
    for (const c of await credentials.list(account.id)) {
      if (c.type === 'passkey' || c.type === 'totp') held.push({ model: c.type === 'passkey' ? 'PasskeyGrant' : 'TotpGrant', id: c.id, type: c.type, name: undefined, createdAt: c.createdAt });
    }
    for (const d of (await devices?.listForAccount(account.id)) ?? []) held.push({ model: 'DeviceKeyGrant', id: d.id, type: 'device', name: d.name, createdAt: d.createdAt });
    return held;
  }

  /**
   * The sign-in methods still held that were added from a sign-in with `key`, and from sign-ins
   * with those in turn: whoever signed in with a copy of `key` may have bound their own, and then
   * more from those. The walk goes through keys removed since: removing one in the middle of a
   * chain (and keeping what it bound) does not cut what lies beyond it loose from `key`.
   */
  async function boundFrom(account: Account, key: KeyRef): Promise<BoundKeyView[]> {
    const held = new Map((await heldKeys(account)).map((k) => [`${k.model}:${k.id}`, k]));
    const found: BoundKeyView[] = [];
    const seen = new Set([`${key.model}:${key.id}`]);
    for (const queue = [key]; queue.length > 0; ) {
      for (const bound of await accountIndex.keysBoundFrom(account.sub, queue.shift()!)) {
        const name = `${bound.model}:${bound.id}`;
        if (seen.has(name)) continue;
        seen.add(name);
        queue.push(bound);
        const view = held.get(name);
        if (view) found.push(view);
      }
    }
    return found;
  }

  /** Removes one sign-in method (a device key, or a credential by id) and ends what it let in; false if the account holds no such one. */
  async function removeOne(actor: Actor, account: Account, target: RemovalTarget, keep: string | undefined, reason?: string): Promise<boolean> {
    const because = reason ? { reason } : {};
    if ('device' in target) {
      const id = target.device;
      if (!devices || !(await devices.revoke(account.id, id, (trx) => record(actor, 'credential.removed', { details: { type: 'device', deviceKeyId: id, ...because } }, trx)))) return false;
      // What it let in goes, with its record or, if that fails, without (storage/revocation-hold.ts).
      await revokeEvenWithoutRecord(
        () => signOut.endDeviceKeyLogins(account.sub, id),
        (ended, trx) => record(actor, 'session.ended', { details: { reason: 'device_key_revoked', deviceKeyId: id, ...recordedOf(ended) } }, trx),
      );
      return true;
    }
    const id = target.credential;
    // The credential goes with its record, or stays for the retry.
    const type = await credentials.remove(account.id, id, (removed, trx) => record(actor, 'credential.removed', { details: { type: removed, ...because } }, trx));
    if (!type) return false;
    if (type === 'passkey' || type === 'totp') {
      await revokeEvenWithoutRecord(
        () => (type === 'passkey' ? signOut.endPasskeyLogins(account.sub, id, keep) : signOut.endTotpLogins(account.sub, id, keep)),
        (ended, trx) => record(actor, 'session.ended', { details: { reason: `${type}_removed`, ...recordedOf(ended) } }, trx),
      );
    }
    return true;
  }

  const targetOf = (key: KeyRef): RemovalTarget => (key.model === 'DeviceKeyGrant' ? { device: key.id } : { credential: key.id });

  /** Removes `key`, then `alsoRemove`: what the citizen was shown as bound from its sign-ins (`boundFrom`) and chose to remove. */
  async function removeWithBound(actor: Actor, account: Account, target: RemovalTarget, keep: string | undefined, alsoRemove: readonly KeyRef[]): Promise<boolean> {
    if (!(await removeOne(actor, account, target, keep))) return false;
    for (const k of alsoRemove) await removeOne(actor, account, targetOf(k), keep, 'bound_from_removed');
    return true;
  }

  return {
    profile(account: Account): ProfileView {
      const citizenId = account.citizenId();
      return {
        name: account.name,
        citizenId: maskCitizenId(citizenId),
        phone: account.phone && maskPhone(account.phone),
        birthDate: birthDateOf(citizenId),
        gender: genderOf(citizenId),
        assurance: account.assurance,
        assuranceAt: account.assuranceAt,
        createdAt: account.createdAt,
      };
    },

    async credentials(account: Account): Promise<CredentialSummary[]> {
      return credentials.list(account.id);
    },

    /** The phones (government app device keys) that can sign this account in. */
    async devices(account: Account): Promise<DeviceView[]> {
      const keys = (await devices?.listForAccount(account.id)) ?? [];
      return keys.map(({ id, name, amr, createdAt, lastUsedAt }) => ({ id, name, amr, createdAt, lastUsedAt }));
    },

    /**
     * Revokes one of the account's device keys, and ends what it let in: its logins and the browser
     * sessions it approved. False if the account has no such active key. `alsoRemove`: sign-in
     * methods bound from its logins (`boundFrom`) that go too.
     */
    async removeDevice(actor: Actor, account: Account, deviceId: string, alsoRemove: readonly KeyRef[] = []): Promise<boolean> {
      return removeWithBound(actor, account, { device: deviceId }, undefined, alsoRemove);
    },

    /** The account's live sessions on every channel, newest sign-in first. */
    async sessions(sub: string): Promise<SessionView[]> {
      const p = provider();
      const nameOf = clientNames();
      const uids = (await accountIndex.list(sub)).filter((e) => e.model === 'Session').map((e) => e.id);
      const views = await Promise.all(
        uids.map(async (uid): Promise<SessionView | undefined> => {
          const session = await p.Session.findByUid(uid);
          if (!session || session.accountId !== sub) return undefined;
          const auth = await authentications.find(uid);
          const apps = await Promise.all(Object.keys(session.authorizations ?? {}).map(nameOf));
          const at = auth?.at ?? session.loginTs;
          return { uid, channel: auth?.channel, amr: auth?.amr ?? session.amr ?? [], acr: auth?.acr ?? session.acr, signedInAt: at === undefined ? undefined : at * 1000, apps };
        }),
      );
      // Kiosk, counter and mobile-app logins have no browser session: their grant is the session.
      const channelViews = await Promise.all(
        (await signOut.channelLogins(sub)).map(async ({ session }): Promise<SessionView> => {
          const auth = await authentications.find(session.sessionUid);
          return {
            uid: session.sessionUid,
            channel: session.channel,
            amr: auth?.amr ?? [],
            acr: auth?.acr,
            signedInAt: auth?.at === undefined ? undefined : auth.at * 1000,
            apps: [await nameOf(session.clientId)],
          };
        }),
      );
      return [...views.filter((v) => v !== undefined), ...channelViews].sort((a, b) => (b.signedInAt ?? 0) - (a.signedInAt ?? 0));
    },

    /** Apps holding the citizen's consent, one row per app however many grants it holds. */
    async apps(sub: string): Promise<AppView[]> {
      const p = provider();
      const byClient = new Map<string, AppView>();
      for (const grant of await ownGrants(sub)) {
        const clientId = grant.clientId!;
        if (clientId === PORTAL_CLIENT_ID) continue;
        let view = byClient.get(clientId);
        if (!view) {
          const client = await p.Client.find(clientId);
          view = { clientId, name: client?.clientName ?? clientId, scopes: [], resources: [], citizenIdRelease: citizenIdReleaseOf(client), grantedAt: grant.iat * 1000 };
          byClient.set(clientId, view);
        }
        view.grantedAt = Math.min(view.grantedAt, grant.iat * 1000);
        for (const scope of (grant.openid?.scope ?? '').split(' ')) if (scope && !view.scopes.includes(scope)) view.scopes.push(scope);
        for (const [indicator, scope] of Object.entries(grant.resources ?? {})) {
          const existing = view.resources.find((r) => r.indicator === indicator);
          const scopes = String(scope ?? '').split(' ').filter(Boolean);
          if (existing) existing.scopes = [...new Set([...existing.scopes, ...scopes])];
          else view.resources.push({ indicator, scopes });
        }
      }
      return [...byClient.values()].sort((a, b) => b.grantedAt - a.grantedAt);
    },

    async history(sub: string, limit: number): Promise<HistoryEntry[]> {
      const nameOf = clientNames();
      const events = await audit.forAccount(sub, limit);
      return Promise.all(
        events.map(async (e) => ({
          at: Date.parse(e.at),
          action: e.action,
          app: e.clientId ? await nameOf(e.clientId) : undefined,
          channel: e.channel,
          amr: Array.isArray(e.details?.amr) ? (e.details.amr as unknown[]).filter((a): a is string => typeof a === 'string') : [],
          // The address of a citizen's own action, or of a sign-in attempt at their account; never an
          // operator's, a counter's, a kiosk's or a department system's (an internal host), also
          // where a kiosk or counter login is written as the citizen's.
          ip: e.actorType === 'citizen' && e.channel !== 'kiosk' && e.channel !== 'counter' ? e.ip : undefined,
        })),
      );
    },

    /** Ends one of the citizen's sessions; false (and no change) if it is not theirs or gone. */
    async endSession(actor: Actor, uid: string): Promise<boolean> {
      // The session's end, its grants' and the record land together (storage/revocation-hold.ts).
      const result = await revokeWithRecord(
        () => signOut.endSession(uid, actor.sub),
        async (ended, trx) => {
          if (ended.ended) await record(actor, 'session.ended', { details: { via: 'portal', grants: ended.grants, notify: ended.notify } }, trx);
        },
      );
      return result.ended;
    },

    async endAllSessions(actor: Actor): Promise<SignOutResult> {
      // The grants' deletes wait for the record (storage/revocation-hold.ts): a failure leaves them for the retry.
      return revokeWithRecord(
        () => signOut.everywhere(actor.sub),
        (result, trx) => record(actor, 'session.ended', { details: { via: 'portal', all: true, sessions: result.sessions, grants: result.grants, notify: result.notify } }, trx),
      );
    },

    /** Revokes every grant the citizen gave one app, with its tokens; false if there is none. */
    async revokeApp(actor: Actor, clientId: string): Promise<boolean> {
      if (clientId === PORTAL_CLIENT_ID) return false;
      const grants = (await ownGrants(actor.sub)).filter((g) => g.clientId === clientId);
      if (grants.length === 0) return false;
      // The grants' deletes and the record land together, or the portal answers an error and the app keeps its access.
      await revokeWithRecord(
        async () => {
          for (const grant of grants) await signOut.revokeGrant(grant.jti);
        },
        (_done, trx) => record(actor, 'consent.revoked', { clientId, details: { grants: grants.length } }, trx),
      );
      return true;
    },

    /** Verifies a passkey registration made in this portal session and adds it; false if it did not verify. */
    async addPasskey(actor: Actor, account: Account, boundTo: string, response: unknown, signedInWith: readonly KeyRef[] = []): Promise<boolean> {
      // The passkey is stored with its record, or not at all.
      const added = await passkeys.register(account, boundTo, response, (trx) => record(actor, 'credential.added', { details: { type: 'passkey' } }, trx));
      if (!added.ok) {
        await record(actor, 'credential.add_failed', { details: { type: 'passkey', reason: added.reason } });
        return false;
      }
      for (const from of signedInWith) await accountIndex.linkBoundKey(account.sub, from, { model: 'PasskeyGrant', id: added.credentialId });
      // A key this session signed in with is gone (removed before, or while the passkey was being
      // added: its removal may have looked for what it bound before this link was written). Nothing
      // still held would lead to the passkey: it does not stay.
      if ((await keysStillHeld(keyHeld, signedInWith)).length < signedInWith.length) {
        await credentials.remove(account.id, added.credentialId);
        await record(actor, 'credential.add_failed', { details: { type: 'passkey', reason: 'sign_in_key_removed' } });
        return false;
      }
      return true;
    },

    /**
     * Removes one of the account's sign-in methods. A passkey or an authenticator app takes what it
     * signed in with it, as a device key does: it may be one someone else bound while the citizen
     * was away, or a copy of the app's secret. The session the citizen removes it from (`keep`, a
     * fresh sign-in with a second factor) goes on. `alsoRemove`: sign-in methods bound from its
     * logins (`boundFrom`) that go too.
     */
    async removeCredential(actor: Actor, account: Account, credentialId: string, keep?: string, alsoRemove: readonly KeyRef[] = []): Promise<boolean> {
      return removeWithBound(actor, account, { credential: credentialId }, keep, alsoRemove);
    },

    boundFrom,
  };
}
export type SelfService = ReturnType<typeof selfService>;
