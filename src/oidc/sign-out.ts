import type { Logger } from 'pino';
import type { Session } from 'oidc-provider';
import type { AuditLog } from '../audit/index.js';
import type { Knex } from 'knex';
import type { Account, Accounts } from '../accounts/index.js';
import type { AccountIndex, KeyLinkModel } from '../storage/account-index.js';
import type { ProviderHolder } from './provider-holder.js';
import type { ChannelSession, ChannelSessions } from './grant-tokens.js';
import type { SessionAuthentications } from './session-authentications.js';
import { keyOfLogin } from './token-facts.js';
import type { Database } from '../storage/database.js';
import { revocationSender } from '../storage/sql-adapter.js';
import { afterHeldRevocation, afterRevocationCommit, holdSignOut, inRevocationTransaction, revokeWithRecord } from '../storage/revocation-hold.js';

/**
 * oidc-provider's Client sends back-channel logout itself; its type declarations omit the method.
 * It takes the account's public `sub`: the logout token is built like an ID token, so a pairwise
 * client gets its own `sub` from the provider's `pairwiseIdentifier` (one computed here too would be
 * hashed twice, and the app could not match it).
 */
interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

interface SessionAuthorization {
  sid?: string;
  grantId?: string;
  /** Set by oidc-provider when the client got tokens that outlive the session (offline_access). */
  persistsLogout?: boolean;
}

/** Who disables an account. */
export interface DisabledBy {
  actorType: 'operator' | 'system';
  actorId?: string;
  /** Where the operator acted from, for the audit events. */
  ip?: string | undefined;
  requestId?: string | undefined;
}

/** What an operator's disable adds (src/admin/account-status-service.ts): the event's details, and its own row in the same transaction. */
export interface DisableRecord {
  details?: Record<string, unknown>;
  inTransaction?: (trx: Knex.Transaction) => Promise<void>;
}

/**
 * The apps a sign-out tells through back-channel logout. They are told once it committed, so that
 * none hears of a sign-out whose record then failed: its record names `notify`, and `notified`
 * fills with those that acknowledged as they answer.
 */
interface Told {
  /** Clients registered for back-channel logout that the sign-out tells. */
  notify: string[];
  /** Of those, the ones that acknowledged (filled after the commit). */
  notified: string[];
}

export interface SignOutResult extends Told {
  sessions: number;
  grants: number;
  /** Verifiable credentials revoked with a removed key: those issued on logins it made or approved. */
  credentials?: number;
}

/** What a sign-out's record says of it: everything but the acknowledgements, which come after its commit. */
export const recordedOf = <R extends Told>({ notified: _acknowledged, ...recorded }: R): Omit<R, 'notified'> => recorded;

export interface EndSessionResult extends Told {
  /** False when no such session exists for this account (nothing was changed). */
  ended: boolean;
  /** Grants revoked with the session: those whose tokens were bound to it. */
  grants: number;
}

/**
 * Ends every session of an account on every channel, revokes every grant with its tokens, and
 * tells each affected client through back-channel logout:
 * - web (and QR hand-off) sessions: each client of the browser session, with that session's `sid`;
 * - logins through an extension grant (kiosk card, counter, device key), which have no browser
 *   session: the client of each such grant, with the `sid` its ID token carried;
 * - grants that outlived their browser session (a mobile app's refresh tokens from its browser
 *   sign-in): the client, with the `sid` its refresh tokens repeat (by `sub` alone when it has none).
 */
export function createSignOut({
  db,
  holder,
  accountIndex,
  accounts,
  authentications,
  audit,
  logger,
  channelSessions,
  onAccountDisabled,
  onKeyRemoved,
  grantSessionId,
}: {
  /** Where a held sign-out's transaction runs (storage/revocation-hold.ts). */
  db: Database;
  holder: ProviderHolder;
  accountIndex: AccountIndex;
  accounts: Accounts;
  /** The logins' records: which device key made or approved each (endDeviceKeyLogins). */
  authentications: SessionAuthentications;
  audit: AuditLog;
  logger: Logger;
  /** Extension-grant logins (grant → sid); without it those clients are not notified. */
  channelSessions?: ChannelSessions | undefined;
  /**
   * What else ends with a disabled account (its verifiable credentials: src/credentials/account-disabled.ts).
   * Called before the change; the step it returns runs inside the transaction that disables the account.
   */
  onAccountDisabled?: ((account: Account, by: DisabledBy) => Promise<(trx: Knex.Transaction) => Promise<void>>) | undefined;
  /**
   * What else ends with a removed key (a device key, a passkey): the verifiable credentials issued
   * on logins it made or approved (src/credentials/revocation.ts); how many it revoked.
   */
  onKeyRemoved?: ((accountSub: string, key: { model: KeyLinkModel; id: string }) => Promise<number>) | undefined;
  /** The `sid` a grant's ID tokens named, once its browser session is gone (src/oidc/grant-session-ids.ts). */
  grantSessionId?: ((grantId: string) => Promise<string | undefined>) | undefined;
}) {
  const sendRevocations = revocationSender(db);

  /**
   * Runs `work` once a held sign-out (storage/revocation-hold.ts `revokeWithRecord`) committed, or
   * now when none is held: what must not happen for a sign-out whose record failed (an app told,
   * an index row gone, so that the retry would not find the session).
   */
  async function afterCommit(work: () => Promise<void>): Promise<void> {
    if (!afterRevocationCommit(work)) await work();
  }
  /** Revokes one grant with every token and pending request issued under it. */
  async function revokeGrant(grantId: string): Promise<void> {
    const p = holder.current;
    await Promise.all([
      p.AccessToken.revokeByGrantId(grantId),
      p.RefreshToken.revokeByGrantId(grantId),
      p.AuthorizationCode.revokeByGrantId(grantId),
      p.DeviceCode.revokeByGrantId(grantId),
      p.BackchannelAuthenticationRequest.revokeByGrantId(grantId),
      p.Grant.adapter.destroy(grantId),
    ]);
    // Held with the grant's deletes (storage/revocation-hold.ts): gone from the index first, a grant
    // whose revocation then failed would be out of the citizen's sight, and of the retry's.
    const unindex = () => accountIndex.remove('Grant', grantId);
    if (!afterHeldRevocation(grantId, unindex)) await unindex();
  }

  /** The back-channel logouts of one sign-out of `accountSub`: chosen as it runs, sent by `send`. */
  function logoutNotices(accountSub: string) {
    const planned = new Map<string, { clientId: string; sid: string | undefined }>();
    const told: Told = { notify: [], notified: [] };
    /** One back-channel logout; a client that fails to answer is logged, not retried. */
    const tell = async ({ clientId, sid }: { clientId: string; sid: string | undefined }) => {
      const client = (await holder.current.Client.find(clientId)) as unknown as BackchannelClient | undefined;
      await client?.backchannelLogout(accountSub, sid!).then(
        () => void (told.notified.includes(clientId) || told.notified.push(clientId)),
        (err: Error) => logger.warn({ event: 'backchannel.error', clientId, error: err.message }, 'back-channel logout failed'),
      );
    };
    return {
      told,
      /** Whether `clientId` is told already. */
      has: (clientId: string) => told.notify.includes(clientId),
      async add(clientId: string, sid: string | undefined): Promise<void> {
        const client = (await holder.current.Client.find(clientId)) as unknown as BackchannelClient | undefined;
        if (!client?.backchannelLogoutUri || planned.has(`${clientId} ${sid ?? ''}`)) return;
        planned.set(`${clientId} ${sid ?? ''}`, { clientId, sid });
        if (!told.notify.includes(clientId)) told.notify.push(clientId);
      },
      /**
       * Sends them once the sign-out committed (now, when none is held), a few at a time: an account
       * may hold many offline logins, and each app answers in its own time.
       */
      send: () =>
        afterCommit(async () => {
          const queue = [...planned.values()];
          const worker = async () => {
            for (let next = queue.shift(); next; next = queue.shift()) await tell(next);
          };
          await Promise.all(Array.from({ length: Math.min(8, queue.length) }, worker));
        }),
    };
  }
  type LogoutNotices = ReturnType<typeof logoutNotices>;

  /**
   * Destroys a browser session; its clients are told through back-channel logout (with the `sid`
   * each was given). Returns the session's authorizations, so the caller decides which grants go
   * with it.
   */
  async function closeSession(session: Session, notices: LogoutNotices): Promise<SessionAuthorization[]> {
    const authorizations = (session.authorizations ?? {}) as Record<string, SessionAuthorization>;
    for (const [clientId, authorization] of Object.entries(authorizations)) await notices.add(clientId, authorization.sid ?? '');
    await session.destroy();
    return Object.values(authorizations);
  }

  /**
   * Who to tell about the grants that no browser session of this sign-out covered: kiosk and counter
   * logins (with the `sid` of their ID token), grants whose browser session is gone (with the `sid`
   * their refresh tokens repeat), and what is left (by `sub` alone: a grant with no refresh token),
   * one per client not told otherwise. Read before the grants are revoked (their refresh tokens go
   * with them); sent after, so that a slow app delays no revocation.
   */
  async function sessionlessNotices(accountSub: string, grantIds: string[], notices: LogoutNotices): Promise<void> {
    const named = new Set<string>();
    const bySub = new Set<string>();
    for (const grantId of grantIds) {
      const channel = await channelSessions?.find(grantId);
      if (channel && channel.accountId === accountSub) {
        await notices.add(channel.clientId, channel.sid);
        named.add(channel.clientId);
        await channelSessions!.destroy(grantId);
        continue;
      }
      const grant = await holder.current.Grant.find(grantId);
      if (!grant?.clientId || grant.accountId !== accountSub) continue;
      const sid = await grantSessionId?.(grantId);
      if (sid) {
        await notices.add(grant.clientId, sid);
        named.add(grant.clientId);
      } else bySub.add(grant.clientId);
    }
    for (const clientId of bySub) if (!notices.has(clientId) && !named.has(clientId)) await notices.add(clientId, undefined);
  }

  /**
   * Runs a sign-out's steps past a failure, keeping the first to throw at the end: it ends what it
   * can. Held, a failure still drops everything held (storage/revocation-hold.ts); run again without
   * its record (a removed key's, a password reset's), a grant whose delete failed must not keep
   * the next grant alive, nor its apps from being told.
   */
  function attempts() {
    let failed: { err: unknown } | undefined;
    return {
      async run(step: () => Promise<unknown>): Promise<void> {
        try {
          await step();
        } catch (err) {
          failed ??= { err };
        }
      },
      done(): void {
        if (failed) throw failed.err;
      },
    };
  }

  async function everywhere(accountSub: string): Promise<SignOutResult> {
    const p = holder.current;
    // A request in flight with one of these sessions may still save it back, or issue a code from
    // it, after it is destroyed below. Its login predates this, and is refused from now on wherever
    // a login is honoured (claims.ts findAccount, access-token-verifier.ts). Held, it is set in the
    // transaction of the sign-out's record (the moment the sign-out takes effect); else first.
    const account = await accounts.findBySub(accountSub);
    if (account) {
      const notBefore = (trx?: Knex.Transaction) => accounts.notBeforeNow(account.id, trx);
      if (!inRevocationTransaction(notBefore, sendRevocations)) await notBefore();
    }
    const entries = await accountIndex.list(accountSub);
    const grants = new Set(entries.filter((e) => e.model === 'Grant').map((e) => e.id));
    const inSessions = new Set<string>();
    const notices = logoutNotices(accountSub);
    const each = attempts();
    let sessions = 0;
    for (const { id: uid } of entries.filter((e) => e.model === 'Session')) {
      await each.run(async () => {
        const session = await p.Session.findByUid(uid);
        if (session && session.accountId === accountSub) {
          for (const authorization of await closeSession(session, notices)) {
            if (!authorization.grantId) continue;
            grants.add(authorization.grantId);
            inSessions.add(authorization.grantId);
          }
          sessions++;
        }
        await afterCommit(() => accountIndex.remove('Session', uid));
      });
    }
    await each.run(() => sessionlessNotices(accountSub, [...grants].filter((g) => !inSessions.has(g)), notices));
    for (const grantId of grants) await each.run(() => revokeGrant(grantId));
    await notices.send();
    each.done();
    return { sessions, grants: grants.size, ...notices.told };
  }

  /**
   * The account's logins through an extension grant (kiosk, counter, mobile device key): each grant
   * of the account that has a channel-session record is one. Not on a hot path: the portal's page.
   */
  async function channelLogins(accountSub: string): Promise<{ grantId: string; session: ChannelSession }[]> {
    if (!channelSessions) return [];
    const grantIds = (await accountIndex.list(accountSub)).filter((e) => e.model === 'Grant').map((e) => e.id);
    const found = await Promise.all(grantIds.map(async (grantId) => ({ grantId, session: await channelSessions.find(grantId) })));
    return found.filter((f): f is { grantId: string; session: ChannelSession } => f.session !== undefined && f.session.accountId === accountSub);
  }

  /** Tells the client of a login without a browser session, drops its record and revokes its grant. */
  async function closeChannelLogin(login: { grantId: string; session: ChannelSession }, notices: LogoutNotices): Promise<void> {
    await notices.add(login.session.clientId, login.session.sid);
    await channelSessions!.destroy(login.grantId);
    await revokeGrant(login.grantId);
  }

  /** Ends a login without a browser session (by its session uid): its client is told, its grant revoked. */
  async function endChannelLogin(uid: string, accountSub: string): Promise<EndSessionResult> {
    const login = (await channelLogins(accountSub)).find((l) => l.session.sessionUid === uid);
    if (!login) return { ended: false, grants: 0, notify: [], notified: [] };
    const notices = logoutNotices(accountSub);
    await closeChannelLogin(login, notices);
    await notices.send();
    return { ended: true, grants: 1, ...notices.told };
  }

  /**
   * Ends every login a key made or approved (its record names the key): the browser sessions and
   * channel logins it signed in, each with every grant issued in it, offline ones too; and every
   * other grant that artifacts from such a login were issued for (storage/account-index.ts): an
   * offline grant whose session has already ended, a counter's CIBA login. Their clients are told
   * through back-channel logout where a session or a channel login names them. Called once the key
   * is removed, so that what it let in goes out with it.
   */
  async function endKeyLogins(
    accountSub: string,
    key: { model: KeyLinkModel; id: string },
    /** A session to leave alone, with what was issued in it: the one the key is removed from. */
    keep?: string,
  ): Promise<SignOutResult> {
    const madeByKey = async (sessionUid: string) => sessionUid !== keep && keyOfLogin(await authentications.find(sessionUid), key.model) === key.id;
    const notices = logoutNotices(accountSub);
    const each = attempts();
    const grants = new Set<string>();
    let sessions = 0;
    for (const { id: uid } of (await accountIndex.list(accountSub)).filter((e) => e.model === 'Session')) {
      await each.run(async () => {
        if (!(await madeByKey(uid))) return;
        const session = await holder.current.Session.findByUid(uid);
        if (!session || session.accountId !== accountSub) return;
        for (const authorization of await closeSession(session, notices)) if (authorization.grantId) grants.add(authorization.grantId);
        await afterCommit(() => accountIndex.remove('Session', uid));
        sessions++;
      });
    }
    let logins = 0;
    const closed = new Set<string>();
    for (const login of await channelLogins(accountSub)) {
      await each.run(async () => {
        if (!(await madeByKey(login.session.sessionUid))) return;
        await closeChannelLogin(login, notices);
        closed.add(login.grantId);
        logins++;
      });
    }
    const kept = keep ? await grantsOfSession(keep, accountSub) : new Set<string>();
    const linked = (await accountIndex.grantsOfKey(accountSub, key.model, key.id)).filter((grantId) => !kept.has(grantId));
    for (const grantId of linked) grants.add(grantId);
    for (const grantId of grants) if (!closed.has(grantId)) await each.run(() => revokeGrant(grantId));
    // With the grants, in the record's transaction: gone before it, the retry of a sign-out whose
    // record failed would not find these grants.
    for (const grantId of linked) {
      const unlink = (trx?: Knex.Transaction) => accountIndex.remove(key.model, `${key.id}:${grantId}`, trx);
      if (!inRevocationTransaction(unlink, sendRevocations)) await each.run(() => unlink());
    }
    for (const grantId of closed) grants.add(grantId);
    // Credentials in a wallet outlive the tokens that fetched them: they go too, whatever session is kept.
    let credentials = 0;
    await each.run(async () => (credentials = (await onKeyRemoved?.(accountSub, { model: key.model, id: key.id })) ?? 0));
    await notices.send();
    each.done();
    return { sessions: sessions + logins, grants: grants.size, ...notices.told, ...(credentials ? { credentials } : {}) };
  }

  /** The app's own device-key logins, and what its approvals signed in (QR hand-offs, CIBA). */
  const endDeviceKeyLogins = (accountSub: string, deviceKeyId: string) => endKeyLogins(accountSub, { model: 'DeviceKeyGrant', id: deviceKeyId });
  /** The browser sessions a passkey signed in, and what was issued from them. */
  const endPasskeyLogins = (accountSub: string, passkeyId: string, keep?: string) => endKeyLogins(accountSub, { model: 'PasskeyGrant', id: passkeyId }, keep);
  /** The browser sessions an authenticator app (TOTP) gave the second factor of, and what was issued from them. */
  const endTotpLogins = (accountSub: string, totpId: string, keep?: string) => endKeyLogins(accountSub, { model: 'TotpGrant', id: totpId }, keep);

  /** The grants issued in a browser session (by its uid), as its authorizations name them. */
  async function grantsOfSession(uid: string, accountSub: string): Promise<Set<string>> {
    const session = await holder.current.Session.findByUid(uid);
    if (!session || session.accountId !== accountSub) return new Set();
    return new Set(Object.values((session.authorizations ?? {}) as Record<string, SessionAuthorization>).flatMap((a) => (a.grantId ? [a.grantId] : [])));
  }

  /**
   * Ends one session of an account, the way RP-initiated logout does: back-channel logout to its
   * clients, revocation of the grants whose tokens do not outlive it (no `offline_access`), and the
   * session itself. A session of another account is left alone (`ended: false`).
   */
  async function endSession(uid: string, accountSub: string): Promise<EndSessionResult> {
    const session = await holder.current.Session.findByUid(uid);
    if (!session) return endChannelLogin(uid, accountSub);
    if (session.accountId !== accountSub) return { ended: false, grants: 0, notify: [], notified: [] };
    const notices = logoutNotices(accountSub);
    const authorizations = await closeSession(session, notices);
    const grants = new Set(authorizations.filter((a) => a.grantId && !a.persistsLogout).map((a) => a.grantId!));
    for (const grantId of grants) await revokeGrant(grantId);
    await afterCommit(() => accountIndex.remove('Session', uid));
    await notices.send();
    return { ended: true, grants: grants.size, ...notices.told };
  }

  return {
    /**
     * Holds the current request's session deletes until its `session.ended` record goes with them
     * (oidc/events.ts): an app's logout (oidc-provider's end_session), which destroys the session
     * before it emits the event that record is written from.
     */
    holdAppLogout: () => holdSignOut(sendRevocations),
    everywhere,
    endSession,
    channelLogins,
    endDeviceKeyLogins,
    endPasskeyLogins,
    endTotpLogins,
    revokeGrant,

    /**
     * Disables an account and ends everything it holds. The status change, its record, the
     * credentials' revocation and the sign-out (its grants, `not_before`, its own record) commit in
     * one transaction, or none of it does; from that commit on its tokens fail.
     */
    async disableAccount(accountId: string, by: DisabledBy, record: DisableRecord = {}): Promise<SignOutResult> {
      const account = await accounts.findById(accountId);
      if (!account) throw new Error('no such account');
      const alsoInTransaction = await onAccountDisabled?.(account, by);
      return revokeWithRecord(
        () => everywhere(account.sub),
        (result, trx) =>
          accounts.setStatus(
            accountId,
            'disabled',
            async (t) => {
              await audit.append({ action: 'account.disabled', ...by, accountId: account.sub, ...(record.details ? { details: record.details } : {}) }, { trx: t });
              await record.inTransaction?.(t);
              await alsoInTransaction?.(t);
              await audit.append({ action: 'session.ended', ...by, accountId: account.sub, details: { everywhere: true, reason: 'account_disabled', ...recordedOf(result) } }, { trx: t });
            },
            { from: ['active', 'locked'], ...(trx ? { trx } : {}) },
          ),
      );
    },
  };
}
export type SignOut = ReturnType<typeof createSignOut>;
