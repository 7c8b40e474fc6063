import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import type { AdminAction } from '../audit/index.js';
import { revealsNoMoreThan } from '../identity/index.js';
import {
  authMethodOf,
  clientMetadata,
  clientSettings,
  liveClientSettings,
  settingsDiff,
  settingsFromMetadata,
  type ClientChange,
  type ClientRecord,
  type ClientSecrets,
  type ClientSettings,
  type ClientStore,
  type LiveClients,
  CHANGE_STATUSES,
  CLIENT_STATUSES,
  secretGrace,
} from '../clients/index.js';
import { AdminError } from './admin-error.js';
import type { DepartmentStore } from './departments.js';
import type { Guard, Target } from './guard.js';
import { listQuery, offsetOf, paging, type Page } from './paging.js';
import type { Operator } from './roles.js';
import { isNationalSuperAdmin, needsNationalReview, tookPart, withParticipant } from './review-rules.js';
import { oneLine, parseInput, possibleId } from './validate.js';

export const newClientInput = z.object({ department_id: z.string().min(1, 'is required').max(32), settings: clientSettings }).strict();
// The console hands its own queries over unparsed: the service parses them, whoever calls it.
export const clientListQuery = listQuery.extend({ status: z.enum(CLIENT_STATUSES).optional() });
export const changeListQuery = z.object({ status: z.enum(CHANGE_STATUSES).optional(), client_id: oneLine().max(128).optional(), ...paging }).strict();
export const rotationInput = z.object({ grace_seconds: z.number().int().min(0, 'must be 0 or more').optional() }).strict();
const REVISION_REQUIRED = 'is required: the revision of the change you reviewed';
/**
 * A decision on a change names the revision its reviewer was shown: without it an approval would
 * land on whatever is submitted when it arrives, and the author may have swapped that in since.
 */
export const reviewInput = z
  .object({
    note: z.string().trim().max(500, 'is longer than 500 characters').optional(),
    revision: z
      .number({ error: (issue) => (issue.input === undefined ? REVISION_REQUIRED : 'must be a whole number') })
      .int('must be a whole number')
      .min(1, 'must be 1 or more')
      .describe('The revision of the change you reviewed (GET /client-changes/{change_id}); a change edited since is refused (409).'),
  })
  .strict();
export const suspensionInput = z.object({ reason: z.string().trim().min(1, 'is required').max(500, 'is longer than 500 characters') }).strict();

export interface ClientDetail {
  client: ClientRecord;
  /** The open (draft or submitted) change, with what it would alter. */
  pending: (ClientChange & { diff: ReturnType<typeof settingsDiff> }) | undefined;
}

export interface ClientServiceDeps {
  store: ClientStore;
  departments: DepartmentStore;
  guard: Guard;
  live: LiveClients;
  secrets: ClientSecrets;
  /** Default and longest grace period of a secret rotation, in seconds. */
  secretGrace: { defaultSeconds: number; maxSeconds: number };
}

/** Writes an action's audit event inside its transaction, as an operator or as the system (the CLI). */
type Recorder = (action: AdminAction, target: Target, details: Record<string, unknown>, trx: Knex.Transaction) => Promise<void>;

/** How often a live write is redone because the client's row moved on meanwhile, before giving up. */
const SETTLE_ROUNDS = 5;

const newChangeId = () => `cc_${randomBytes(9).toString('base64url')}`;
const newClientId = () => `yh_${randomBytes(12).toString('base64url')}`;

/**
 * The client lifecycle: a change is drafted and submitted by someone with client.write, approved by
 * someone else with client.review, and only then goes live. Suspension takes a client out of the
 * provider's store; a secret rotation keeps the old secret valid for a grace period.
 */
export function clientService(d: ClientServiceDeps) {
  const { store, departments, guard } = d;

  /** The client, if it exists and `op` holds `permission` over its department; 404 otherwise. */
  async function owned(op: Operator, permission: 'client.read' | 'client.write' | 'client.review', operation: string, clientId: string): Promise<ClientRecord> {
    // An id no client can have is worth neither a query nor a place in the log's client_id.
    const possible = possibleId(clientId);
    const client = possible ? await store.find(clientId) : undefined;
    await guard.require(op, permission, operation, client && (await departments.find(client.departmentId)), possible ? { clientId } : {});
    return client!;
  }

  async function ownedChange(op: Operator, permission: 'client.read' | 'client.write' | 'client.review', operation: string, changeId: string) {
    const change = possibleId(changeId) ? await store.findChange(changeId) : undefined;
    const department = await guard.require(op, permission, operation, change && (await departments.find(change.departmentId)), { clientId: change?.clientId });
    return { change: change!, client: (await store.find(change!.clientId))!, department };
  }

  const settingsOf = (value: unknown): ClientSettings => parseInput(clientSettings, value);

  const needsSecret = (s: ClientSettings) => authMethodOf(s) === 'client_secret_basic';

  /**
   * How a client authenticates (a secret, its own keys, or nothing: public) is decided at
   * registration: a client with a secret got it then, and one without has none to use.
   */
  const keepsAuthMethod = (client: ClientRecord, s: ClientSettings) => {
    if (needsSecret(s) === Boolean(client.secretDigest) && (!client.settings || authMethodOf(client.settings) === authMethodOf(s))) return;
    throw new AdminError('invalid_input', 'a client cannot change how it authenticates (between public, a secret and its own keys)', { public: 'cannot change' });
  };

  async function checkLiveable(clientId: string, s: ClientSettings, digest: string | undefined) {
    const problem = await d.live.problem(clientMetadata(clientId, s, digest ?? (needsSecret(s) ? 'hmac1$placeholder' : undefined), Math.floor(Date.now() / 1000)));
    if (problem) throw new AdminError('invalid_input', problem, { settings: problem });
  }

  /**
   * The metadata that bounds what citizens' consents to the ID number cover (src/oidc/citizen-id-consent.ts):
   * grants count from the first whole second after the change, since a grant is dated in seconds.
   */
  const citizenIdConsent = (c: ClientRecord) => (c.citizenIdConsentSince === undefined ? {} : { citizen_id_consent_since: Math.floor(c.citizenIdConsentSince / 1000) + 1 });
  const publish = (c: ClientRecord) =>
    d.live.publish(c.clientId, { ...clientMetadata(c.clientId, c.settings!, c.secretDigest, Math.floor(c.createdAt / 1000)), ...citizenIdConsent(c) });
  /** Checked before anything is written: a write that could not then be published would leave the two apart. */
  const publishable = (c: ClientRecord) => {
    if (!c.settings) throw conflict('this client has no recorded settings to publish; draft a change with its settings first');
  };

  /**
   * Makes the provider's client store say what the committed row says: an active client with its
   * recorded settings, anything else not at all. Called once an action's transaction committed, it
   * reads the row again rather than publish what the action computed before: another operator's
   * suspension (or the CLI's, or another instance's) may have committed in between, and publishing
   * the action's own copy would put a suspended client back. Two actions may still write the store
   * in either order, so after each write the row is read once more and, if it moved on, written
   * again from it: the last write to the store is always made from the last committed row
   * (test/integration/client-suspend-race.test.ts).
   */
  async function settleLive(clientId: string): Promise<void> {
    let committed = await store.find(clientId);
    for (let round = 0; round < SETTLE_ROUNDS; round++) {
      if (committed?.status !== 'active') await d.live.unpublish(clientId);
      // Settings kept only in the live metadata (registered by the CLI before they were recorded): served as they are.
      else if (committed.settings) await publish(committed);
      const now = await store.find(clientId);
      if (now?.version === committed?.version) return;
      committed = now;
    }
    throw conflict('the client kept changing while it was being put live or taken out; reload it and check its status');
  }

  /**
   * A client that the CLI registered before settings were recorded has them only in its live
   * metadata: take them from there, so that what is written next (and published) keeps them. Read
   * as what is live, not as input: a name that a later input rule refuses must not make them seem
   * absent (citizenIdConsentSince would then end every citizen's consent to the ID number).
   */
  async function withRecordedSettings(c: ClientRecord): Promise<ClientRecord> {
    if (c.settings || c.status === 'draft') return c;
    const live = await d.live.find(c.clientId);
    const parsed = live && liveClientSettings.safeParse(settingsFromMetadata(live));
    return parsed && parsed.success ? { ...c, settings: parsed.data } : c;
  }

  const conflict = (message: string) => new AdminError('conflict', message);

  /**
   * When citizens' consents to this client's ID-number release last stopped covering it: `now`, if
   * the approved settings let it see more of the number than before (another policy, unless it is
   * `none` or the old one was `full`); else as it was. A client never approved has no consents yet.
   */
  async function citizenIdConsentSince(client: ClientRecord, proposed: ClientSettings, now: number): Promise<number | undefined> {
    if (client.status === 'draft') return client.citizenIdConsentSince;
    const before = (await withRecordedSettings(client)).settings?.citizen_id_release;
    return before !== undefined && revealsNoMoreThan(proposed.citizen_id_release, before) ? client.citizenIdConsentSince : now;
  }

  const asOperator = (op: Operator): Recorder => (action, target, details, trx) => guard.record(op, action, target, details, trx);
  const asSystem: Recorder = (action, target, details, trx) => guard.recordSystem(action, target, details, trx);

  async function suspend(found: ClientRecord, reason: string, record: Recorder): Promise<ClientRecord> {
    const client = await withRecordedSettings(found);
    if (client.status !== 'active') throw conflict('only an active client can be suspended');
    const next: ClientRecord = { ...client, status: 'suspended', version: client.version + 1, updatedAt: Date.now() };
    await store.transaction(async (s, trx) => {
      if (!(await s.update(next, client.version))) throw conflict('the client changed meanwhile; try again');
      await record('admin.client.suspended', { departmentId: client.departmentId, clientId: client.clientId }, { reason, status: { before: 'active', after: 'suspended' } }, trx);
    });
    await settleLive(client.clientId);
    return next;
  }

  async function resume(client: ClientRecord, record: Recorder): Promise<ClientRecord> {
    if (client.status !== 'suspended') throw conflict('only a suspended client can be resumed');
    publishable(client);
    const next: ClientRecord = { ...client, status: 'active', version: client.version + 1, updatedAt: Date.now() };
    await store.transaction(async (s, trx) => {
      if (!(await s.update(next, client.version))) throw conflict('the client changed meanwhile; try again');
      await record('admin.client.resumed', { departmentId: client.departmentId, clientId: client.clientId }, { status: { before: 'suspended', after: 'active' } }, trx);
    });
    await settleLive(client.clientId);
    return next;
  }

  async function rotateSecret(found: ClientRecord, graceAsked: number | undefined, record: Recorder): Promise<{ clientSecret: string; previousValidUntil: number | undefined }> {
    const client = await withRecordedSettings(found);
    if (!client.secretDigest) throw new AdminError('invalid_input', 'this client has no secret (it is public, or authenticates with its own keys)');
    if (client.status === 'active') publishable(client);
    const graceSeconds = graceAsked ?? d.secretGrace.defaultSeconds;
    if (graceSeconds > d.secretGrace.maxSeconds) {
      throw new AdminError('invalid_input', `grace_seconds must be at most ${d.secretGrace.maxSeconds}`, { grace_seconds: `must be at most ${d.secretGrace.maxSeconds}` });
    }
    const fresh = d.secrets.generate();
    const now = Date.now();
    const previousValidUntil = graceSeconds > 0 ? now + graceSeconds * 1000 : undefined;
    const next: ClientRecord = { ...client, secretDigest: fresh.stored, version: client.version + 1, updatedAt: now };
    await store.transaction(async (s, trx) => {
      if (!(await s.update(next, client.version))) throw conflict('the client changed meanwhile; try again');
      const grace = secretGrace(trx);
      // Earlier secrets still in an earlier rotation's grace end no later than the one replaced now.
      if (previousValidUntil) {
        await grace.cap(client.clientId, previousValidUntil);
        await grace.add(client.clientId, client.secretDigest!, previousValidUntil);
      } else {
        await grace.clear(client.clientId);
      }
      await record(
        'admin.client.secret_rotated',
        { departmentId: client.departmentId, clientId: client.clientId },
        { grace_seconds: graceSeconds, previous_valid_until: previousValidUntil ? new Date(previousValidUntil).toISOString() : null },
        trx,
      );
    });
    await settleLive(client.clientId);
    return { clientSecret: fresh.secret, previousValidUntil };
  }

  return {
    async list(op: Operator, query: { q?: string | undefined; status?: string | undefined; page: number; per_page: number }): Promise<Page<ClientRecord>> {
      const scopes = await guard.scopes(op, 'client.read', 'client.list');
      const q = parseInput(clientListQuery, query);
      const depts = await departments.within(scopes);
      const { items, total } = await store.list({ departmentIds: depts.items.map((x) => x.id), q: q.q, status: q.status, offset: offsetOf(q), limit: q.per_page });
      return { items, total, page: q.page, per_page: q.per_page };
    },

    async get(op: Operator, clientId: string): Promise<ClientDetail> {
      const client = await owned(op, 'client.read', 'client.read', clientId);
      const open = await store.openChangeFor(clientId);
      return { client, pending: open && { ...open, diff: settingsDiff(client.settings, open.proposed) } };
    },

    /**
     * A new client in a department, as a draft with its first change. The secret is made now and
     * shown only in this answer, to the operator who registers the app; it works once approved.
     */
    async create(op: Operator, input: unknown): Promise<{ client: ClientRecord; change: ClientChange; clientSecret: string | undefined }> {
      const body = parseInput(newClientInput, input);
      const dept = await guard.require(op, 'client.write', 'client.create', await departments.find(body.department_id));
      const settings = body.settings;
      const clientId = newClientId();
      await checkLiveable(clientId, settings, undefined);
      const secret = needsSecret(settings) ? d.secrets.generate() : undefined;
      const now = Date.now();
      const client: ClientRecord = {
        clientId,
        departmentId: dept.id,
        status: 'draft',
        settings: undefined,
        name: settings.client_name,
        secretDigest: secret?.stored,
        version: 1,
        createdBy: op.sub,
        createdAt: now,
        updatedAt: now,
      };
      const change: ClientChange = {
        id: newChangeId(),
        clientId,
        departmentId: dept.id,
        kind: 'create',
        status: 'draft',
        proposed: settings,
        baseVersion: 1,
        authorId: op.sub,
        participants: [op.sub],
        revision: 1,
        submittedAt: undefined,
        reviewerId: undefined,
        reviewedAt: undefined,
        reviewNote: undefined,
        createdAt: now,
      };
      await store.transaction(async (s, trx) => {
        await s.insert(client);
        await s.insertChange(change);
        await guard.record(op, 'admin.client.created', { departmentId: dept.id, clientId }, { change_id: change.id, after: settings }, trx);
      });
      return { client, change, clientSecret: secret?.secret };
    },

    /** A draft change to an existing client's settings; one open change per client at a time. */
    async propose(op: Operator, clientId: string, input: unknown): Promise<ClientChange> {
      const client = await owned(op, 'client.write', 'client.change', clientId);
      const settings = settingsOf(input);
      keepsAuthMethod(client, settings);
      if (await store.openChangeFor(clientId)) throw conflict('this client already has a change in progress');
      await checkLiveable(clientId, settings, client.secretDigest);
      const change: ClientChange = {
        id: newChangeId(),
        clientId,
        departmentId: client.departmentId,
        kind: client.status === 'draft' ? 'create' : 'update',
        status: 'draft',
        proposed: settings,
        baseVersion: client.version,
        authorId: op.sub,
        participants: [op.sub],
        revision: 1,
        submittedAt: undefined,
        reviewerId: undefined,
        reviewedAt: undefined,
        reviewNote: undefined,
        createdAt: Date.now(),
      };
      await store.transaction(async (s, trx) => {
        await s.insertChange(change);
        await guard.record(op, 'admin.client_change.drafted', { departmentId: client.departmentId, clientId }, { change_id: change.id, diff: settingsDiff(client.settings, settings) }, trx);
      });
      return change;
    },

    async getChange(op: Operator, changeId: string): Promise<ClientChange & { diff: ReturnType<typeof settingsDiff>; client: ClientRecord }> {
      const { change, client } = await ownedChange(op, 'client.read', 'client_change.read', changeId);
      return { ...change, client, diff: settingsDiff(change.status === 'approved' ? undefined : client.settings, change.proposed) };
    },

    async listChanges(op: Operator, query: { status?: string | undefined; client_id?: string | undefined; page: number; per_page: number }): Promise<Page<ClientChange>> {
      const scopes = await guard.scopes(op, 'client.read', 'client_change.list');
      const q = parseInput(changeListQuery, query);
      const depts = await departments.within(scopes);
      const { items, total } = await store.listChanges({ departmentIds: depts.items.map((x) => x.id), status: q.status, clientId: q.client_id, offset: offsetOf(q), limit: q.per_page });
      return { items, total, page: q.page, per_page: q.per_page };
    },

    /**
     * Replaces an open change's proposal. The editor takes part in the change (and so cannot review
     * it); a submitted change goes back to draft, so that what is reviewed is what was submitted.
     * It is rebased onto the client as it is now: a change left behind by a secret rotation (which
     * moves the client's version on) comes up to date here, since a client has one open change at a
     * time and a stale one could otherwise only wait for a reviewer to reject it.
     */
    async edit(op: Operator, changeId: string, input: unknown): Promise<ClientChange> {
      const { change, client } = await ownedChange(op, 'client.write', 'client_change.edit', changeId);
      if (change.status !== 'draft' && change.status !== 'submitted') throw conflict('only an open change can be edited');
      const settings = settingsOf(input);
      keepsAuthMethod(client, settings);
      await checkLiveable(client.clientId, settings, client.secretDigest);
      const next: ClientChange = { ...withParticipant(change, op.sub), proposed: settings, baseVersion: client.version, status: 'draft', submittedAt: undefined };
      await store.transaction(async (s, trx) => {
        if (!(await s.updateChange(next, change))) throw conflict('the change moved on meanwhile; reload it');
        await guard.record(
          op,
          'admin.client_change.edited',
          { departmentId: change.departmentId, clientId: change.clientId },
          { change_id: change.id, before: change.proposed, after: settings, status: { before: change.status, after: next.status }, revision: next.revision },
          trx,
        );
      });
      return next;
    },

    async submit(op: Operator, changeId: string): Promise<ClientChange> {
      const { change } = await ownedChange(op, 'client.write', 'client_change.submit', changeId);
      if (change.status !== 'draft') throw conflict('only a draft can be submitted');
      const next: ClientChange = { ...withParticipant(change, op.sub), status: 'submitted', submittedAt: Date.now() };
      await store.transaction(async (s, trx) => {
        if (!(await s.updateChange(next, change))) throw conflict('only a draft can be submitted');
        await guard.record(op, 'admin.client_change.submitted', { departmentId: change.departmentId, clientId: change.clientId }, { change_id: change.id, revision: next.revision, participants: next.participants }, trx);
      });
      return next;
    },

    /**
     * A reviewer who took no part in the change approves it: the settings go live (a new client
     * becomes active). Dangerous settings need a national super-admin.
     */
    async approve(op: Operator, changeId: string, input: unknown): Promise<{ change: ClientChange; client: ClientRecord }> {
      const { note, revision } = parseInput(reviewInput, input);
      const { change, client, department } = await ownedChange(op, 'client.review', 'client_change.approve', changeId);
      const target = { departmentId: change.departmentId, clientId: change.clientId };
      if (tookPart(change, op.sub)) await guard.deny(op, 'client_change.approve', 'self_approval', target);
      if (change.status !== 'submitted') throw conflict('only a submitted change can be approved');
      if (revision !== change.revision) throw conflict('the change was edited since you saw it; review it again');
      if (needsNationalReview(change.proposed) && !isNationalSuperAdmin(op, department.path)) await guard.deny(op, 'client_change.approve', 'national_review', target);
      if (change.baseVersion !== client.version) throw conflict('the client changed since this change was drafted; draft it again');
      await checkLiveable(client.clientId, change.proposed, client.secretDigest);
      const now = Date.now();
      const next: ClientRecord = {
        ...client,
        settings: change.proposed,
        name: change.proposed.client_name,
        status: client.status === 'draft' ? 'active' : client.status,
        version: client.version + 1,
        updatedAt: now,
        citizenIdConsentSince: await citizenIdConsentSince(client, change.proposed, now),
      };
      const reviewed: ClientChange = { ...change, status: 'approved', reviewerId: op.sub, reviewedAt: now, reviewNote: note };
      // Both or neither: a change marked approved whose settings did not land would lie.
      await store.transaction(async (s, trx) => {
        if (!(await s.updateChange(reviewed, change))) throw conflict('the change was edited since you saw it; review it again');
        if (!(await s.update(next, client.version))) throw conflict('the client changed since this change was drafted; draft it again');
        await guard.record(
          op,
          'admin.client_change.approved',
          { departmentId: change.departmentId, clientId: change.clientId },
          { change_id: change.id, author: change.authorId, participants: change.participants, revision: change.revision, before: client.settings ?? null, after: change.proposed, status: { before: client.status, after: next.status } },
          trx,
        );
      });
      await settleLive(client.clientId);
      return { change: reviewed, client: next };
    },

    async reject(op: Operator, changeId: string, input: unknown): Promise<ClientChange> {
      const { note, revision } = parseInput(reviewInput, input);
      const { change } = await ownedChange(op, 'client.review', 'client_change.reject', changeId);
      if (tookPart(change, op.sub)) await guard.deny(op, 'client_change.reject', 'self_approval', { departmentId: change.departmentId, clientId: change.clientId });
      if (change.status !== 'submitted') throw conflict('only a submitted change can be rejected');
      if (revision !== change.revision) throw conflict('the change was edited since you saw it; review it again');
      const reviewed: ClientChange = { ...change, status: 'rejected', reviewerId: op.sub, reviewedAt: Date.now(), reviewNote: note };
      await store.transaction(async (s, trx) => {
        if (!(await s.updateChange(reviewed, change))) throw conflict('the change was edited since you saw it; review it again');
        await guard.record(op, 'admin.client_change.rejected', { departmentId: change.departmentId, clientId: change.clientId }, { change_id: change.id, note: note ?? null }, trx);
      });
      return reviewed;
    },

    async suspend(op: Operator, clientId: string, input: unknown): Promise<ClientRecord> {
      const { reason } = parseInput(suspensionInput, input);
      return suspend(await owned(op, 'client.write', 'client.suspend', clientId), reason, asOperator(op));
    },

    async resume(op: Operator, clientId: string): Promise<ClientRecord> {
      return resume(await owned(op, 'client.write', 'client.resume', clientId), asOperator(op));
    },

    /** A new secret, shown once; the old one keeps working for the grace period. */
    async rotateSecret(op: Operator, clientId: string, input: unknown = {}): Promise<{ clientSecret: string; previousValidUntil: number | undefined }> {
      const body = parseInput(rotationInput, input);
      return rotateSecret(await owned(op, 'client.write', 'client.rotate_secret', clientId), body.grace_seconds, asOperator(op));
    },

    /**
     * The same actions with the server's own authority, for the `yihao` command: no operator and no
     * department scope behind them, audited as the system (the CLI), and live at once as above.
     */
    system: {
      /** The client, or not_found naming what to do. */
      async find(clientId: string): Promise<ClientRecord> {
        const client = possibleId(clientId) ? await store.find(clientId) : undefined;
        if (!client) throw new AdminError('not_found', "no client has that id ('yihao client list' lists them)");
        return client;
      },
      async suspend(clientId: string, input: unknown): Promise<ClientRecord> {
        const { reason } = parseInput(suspensionInput, input);
        return suspend(await this.find(clientId), reason, asSystem);
      },
      async resume(clientId: string): Promise<ClientRecord> {
        return resume(await this.find(clientId), asSystem);
      },
      async rotateSecret(clientId: string, input: unknown = {}): Promise<{ clientSecret: string; previousValidUntil: number | undefined }> {
        const body = parseInput(rotationInput, input);
        return rotateSecret(await this.find(clientId), body.grace_seconds, asSystem);
      },
      /** The open change of a client, if any. */
      openChange: (clientId: string) => store.openChangeFor(clientId),
      /** The client's approved settings (taken from its live metadata if they were never recorded). */
      async currentSettings(client: ClientRecord): Promise<ClientSettings | undefined> {
        return (await withRecordedSettings(client)).settings;
      },
      /** Open changes (draft or submitted) of clients in these departments, by client id. */
      async openChanges(departmentIds: readonly string[]): Promise<Map<string, ClientChange>> {
        const open = await Promise.all(
          (['draft', 'submitted'] as const).map((status) => store.listChanges({ departmentIds, status, offset: 0, limit: 100_000 })),
        );
        return new Map(open.flatMap((p) => p.items).map((c) => [c.clientId, c]));
      },
    },
  };
}
export type ClientService = ReturnType<typeof clientService>;
