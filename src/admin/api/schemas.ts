import { z } from 'zod';
import type { AuditEvent, ChainReport } from '../../audit/index.js';
import { CHANGE_STATUSES, CLIENT_STATUSES, clientSettingsFields, type ClientChange, type ClientRecord } from '../../clients/index.js';
import type { SigningKeyInfo } from '../../keys/index.js';
import { credentialView } from '../../credentials/index.js';
import { certificateTypeVersionView, certificateTypeView, type Certificate } from '../../credentials/index.js';
import type { ListedCertificate } from '../certificate-service.js';
import type { Department } from '../departments.js';
import { LEVELS } from '../departments.js';
import { needsNationalReview } from '../review-rules.js';
import { ROLES, type Operator } from '../roles.js';
import type { AccountView } from '../account-status-service.js';
import type { PendingEnable, StatusChange } from '../account-status-store.js';

/** The answers of the admin API: each response is checked against these before it leaves. */
const time = z.iso.datetime();
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export const errorBody = z
  .object({ error: z.string(), message: z.string(), fields: z.record(z.string(), z.string()).optional() })
  .meta({ id: 'Error' });

export const departmentBody = z
  .object({ id: z.string(), parent_id: z.string().nullable(), level: z.enum(LEVELS), name: z.string(), created_at: time })
  .meta({ id: 'Department' });
export const toDepartment = (d: Department) => ({ id: d.id, parent_id: d.parentId ?? null, level: d.level, name: d.name, created_at: iso(d.createdAt)! });

const assignmentBody = z.object({ id: z.string(), role: z.enum(ROLES), department_id: z.string() }).meta({ id: 'RoleAssignment' });

export const meBody = z.object({ sub: z.string(), name: z.string(), assignments: z.array(assignmentBody) }).meta({ id: 'Me' });
export const toMe = (op: Operator) => ({ sub: op.sub, name: op.name, assignments: op.assignments.map((a) => ({ id: a.id, role: a.role, department_id: a.departmentId })) });

export const operatorBody = z.object({ sub: z.string(), name: z.string(), assignments: z.array(assignmentBody) }).meta({ id: 'Operator' });
export const assignedBody = z.object({ id: z.string(), sub: z.string(), role: z.enum(ROLES), department_id: z.string() }).meta({ id: 'Assigned' });

// Settings as stored: the kind's defaults are filled in already (the request side parses through clientSettings).
const settingsBody = clientSettingsFields.meta({ id: 'ClientSettings' });

export const clientBody = z
  .object({
    client_id: z.string(),
    department_id: z.string(),
    status: z.enum(CLIENT_STATUSES),
    name: z.string(),
    settings: settingsBody.nullable(),
    version: z.number().int(),
    created_by: z.string(),
    created_at: time,
    updated_at: time,
  })
  .meta({ id: 'Client' });
export const toClient = (c: ClientRecord) => ({
  client_id: c.clientId,
  department_id: c.departmentId,
  status: c.status,
  name: c.name,
  settings: c.settings ?? null,
  version: c.version,
  created_by: c.createdBy,
  created_at: iso(c.createdAt)!,
  updated_at: iso(c.updatedAt)!,
});

const diffBody = z.array(z.object({ field: z.string(), before: z.unknown(), after: z.unknown() })).meta({ id: 'SettingsDiff' });

export const changeBody = z
  .object({
    id: z.string(),
    client_id: z.string(),
    department_id: z.string(),
    kind: z.enum(['create', 'update']),
    status: z.enum(CHANGE_STATUSES),
    proposed: settingsBody,
    author: z.string(),
    participants: z.array(z.string()).describe('Everyone who created, edited or submitted the change: none of them may review it.'),
    revision: z.number().int().describe('Goes up with each edit and submission; an approval or rejection must name the revision its reviewer saw.'),
    needs_national_review: z.boolean().describe('The proposal is first-party or releases the full ID number: only a super-admin of a national department may approve it.'),
    submitted_at: time.nullable(),
    reviewer: z.string().nullable(),
    reviewed_at: time.nullable(),
    review_note: z.string().nullable(),
    created_at: time,
    diff: diffBody.optional(),
  })
  .meta({ id: 'ClientChange' });
export const toChange = (c: ClientChange & { diff?: z.infer<typeof diffBody> }) => ({
  id: c.id,
  client_id: c.clientId,
  department_id: c.departmentId,
  kind: c.kind,
  status: c.status,
  proposed: c.proposed,
  author: c.authorId,
  participants: [...c.participants],
  revision: c.revision,
  needs_national_review: needsNationalReview(c.proposed),
  submitted_at: iso(c.submittedAt),
  reviewer: c.reviewerId ?? null,
  reviewed_at: iso(c.reviewedAt),
  review_note: c.reviewNote ?? null,
  created_at: iso(c.createdAt)!,
  ...(c.diff ? { diff: c.diff } : {}),
});

export const clientDetailBody = z.object({ client: clientBody, pending: changeBody.nullable() }).meta({ id: 'ClientDetail' });
export const createdClientBody = z
  .object({ client: clientBody, change: changeBody, client_secret: z.string().optional().describe('Shown only here; Yihao keeps only a keyed hash.') })
  .meta({ id: 'CreatedClient' });
export const approvedBody = z.object({ change: changeBody, client: clientBody }).meta({ id: 'ApprovedChange' });
export const rotatedBody = z
  .object({ client_secret: z.string(), previous_secret_valid_until: time.nullable() })
  .meta({ id: 'RotatedSecret' });

export const keyBody = z
  .object({ kid: z.string(), alg: z.string(), status: z.enum(['next', 'active', 'retired']), created_at: z.string(), retired_at: z.string().nullable(), signs_from: z.string().nullable() })
  .meta({ id: 'SigningKey' });
export const toKey = (k: SigningKeyInfo) => ({ kid: k.kid, alg: k.alg, status: k.status, created_at: k.createdAt, retired_at: k.retiredAt ?? null, signs_from: k.signsFrom ?? null });
export const keysBody = z.object({ keys: z.array(keyBody) }).meta({ id: 'SigningKeys' });
export const rotatedKeysBody = z.object({ activated: z.array(z.string()), keys: z.array(keyBody) }).meta({ id: 'RotatedKeys' });

export const credentialBody = z
  .object({
    id: z.string(),
    type: z.string().describe('The credential type (its vct).'),
    client_id: z.string().describe('The wallet app it was issued to.'),
    status: z.enum(['valid', 'revoked', 'suspended']),
    status_list: z.string().describe('The id of its status list (served at /credentials/status/{id}).'),
    status_index: z.number().int(),
    issued_at: time,
    expires_at: time,
    revoked_at: time.nullable(),
  })
  .meta({ id: 'IssuedCredential' });
export const toCredential = credentialView;

export const auditEventBody = z
  .object({
    id: z.number().int(),
    at: time,
    action: z.string(),
    actor_type: z.string(),
    actor: z.string().nullable(),
    subject: z.string().nullable(),
    client_id: z.string().nullable(),
    department_id: z.string().nullable(),
    channel: z.string().nullable(),
    ip: z.string().nullable(),
    request_id: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
  })
  .meta({ id: 'AuditEvent' });
export const toAuditEvent = (e: AuditEvent) => ({
  id: e.id,
  at: e.at,
  action: e.action,
  actor_type: e.actorType,
  actor: e.actorId ?? null,
  subject: e.accountId ?? null,
  client_id: e.clientId ?? null,
  department_id: e.departmentId ?? null,
  channel: e.channel ?? null,
  ip: e.ip ?? null,
  request_id: e.requestId ?? null,
  details: e.details ?? null,
});
export const auditPageBody = z
  .object({ events: z.array(auditEventBody), next: z.number().int().optional().describe('Pass as `before` for the next, older page.') })
  .meta({ id: 'AuditPage' });

export const chainBody = z
  .object({
    intact: z.boolean(),
    checked: z.number().int(),
    first_broken: z
      .object({
        id: z.number().int(),
        reason: z.enum(['row_altered', 'link_broken', 'rows_missing_at_end', 'checkpoint_mismatch', 'checkpoint_bad_signature', 'unsigned_rows', 'row_outside_chain']),
        checkpoint: z.number().int().optional(),
        export_line: z.number().int().optional(),
      })
      .nullable(),
    /** Whether the chain was compared with the newest checkpoint kept in Redis (only `checked` means it was). */
    anchor: z.object({ status: z.enum(['checked', 'not_configured', 'none_yet', 'missing', 'unreadable', 'unverifiable']), seq: z.number().int().optional() }),
  })
  .meta({ id: 'ChainReport' });
export const toChain = (r: ChainReport) => {
  const b = r.firstBroken;
  return {
    intact: r.intact,
    checked: r.checked,
    first_broken: b ? { id: b.id, reason: b.reason, ...(b.checkpoint !== undefined ? { checkpoint: b.checkpoint } : {}), ...(b.exportLine !== undefined ? { export_line: b.exportLine } : {}) } : null,
    anchor: { status: r.anchor.status, ...(r.anchor.seq !== undefined ? { seq: r.anchor.seq } : {}) },
  };
};

/** A page of `item`. */
export const pageOf = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), page: z.number().int(), per_page: z.number().int(), total: z.number().int() }).meta({ id });

const claimSpecBody = z.object({
  type: z.enum(['string', 'date', 'number', 'boolean']),
  required: z.boolean(),
  max_length: z.number().int().optional(),
  names: z.object({ 'zh-CN': z.string(), en: z.string() }).optional(),
});
export const certificateTypeBody = z
  .object({
    id: z.string(),
    department_id: z.string(),
    vct: z.string().describe('The SD-JWT VC type of its certificates, a URL under the issuer.'),
    credential_configuration_id: z.string().describe('Its OID4VCI credential configuration (cert_<id>) in the issuer metadata.'),
    scope: z.string().describe('The scope a wallet asks for to get it (certificate:<id>).'),
    names: z.object({ 'zh-CN': z.string(), en: z.string() }),
    claims: z.record(z.string(), claimSpecBody),
    validity_days: z.number().int(),
    version: z.number().int().describe('The version in force: 1 at creation; a change approved puts its own number in force.'),
    created_at: time,
    updated_at: time.nullable(),
    retired_at: time.nullable().describe('Once set, the type takes no new pushes; its certificates stay valid until revoked.'),
    status: z.enum(['pending', 'active', 'retired']).describe('pending: defined, awaiting approval by a second super-admin of a national department; it takes no push and is in no metadata. active: in force. retired: no new pushes.'),
    approved_at: time.nullable(),
    approved_by: z.string().nullable().describe("The approving operator's sub; cli for a type defined with `yihao certificate-type create`; null for one older than approvals, or pending."),
    pending_version: z.number().int().nullable().describe('A change to the type in force awaiting approval by a second super-admin of a national department, as this version; meanwhile `version` stays in force. null when none waits.'),
  })
  .meta({ id: 'CertificateType' });
export const toCertificateType = certificateTypeView;
export const certificateTypeVersionBody = z
  .object({
    version: z.number().int(),
    status: z.enum(['current', 'pending', 'earlier', 'withdrawn']).describe('current: in force. pending: awaiting approval. earlier: in force once. withdrawn: replaced by a later change before anyone approved it; never in force.'),
    names: z.object({ 'zh-CN': z.string(), en: z.string() }),
    claims: z.record(z.string(), claimSpecBody),
    validity_days: z.number().int(),
    created_by: z.string().describe('The operator (sub) who made this version.'),
    created_at: time,
    approved_at: time.nullable().describe('When it went in force.'),
    approved_by: z.string().nullable().describe("Who approved it: an operator's sub, cli, or null (in force before approvals, or never)."),
  })
  .meta({ id: 'CertificateTypeVersion' });
export const certificateTypeDetailBody = z
  .object({ type: certificateTypeBody, versions: z.array(certificateTypeVersionBody).describe('Every version, oldest first. Each certificate names the version it was pushed under.') })
  .meta({ id: 'CertificateTypeDetail' });
export const toCertificateTypeVersion = certificateTypeVersionView;
export const certificateTypeListBody = z.object({ items: z.array(certificateTypeBody) }).meta({ id: 'CertificateTypeList' });

export const certificateBody = z
  .object({
    id: z.string(),
    type: z.string(),
    type_version: z.number().int().describe('The version of its type whose claim schema it was pushed under.'),
    department_id: z.string().describe('The issuing department.'),
    status: z.enum(['valid', 'suspended', 'revoked']),
    valid_from: time,
    valid_until: time,
    pushed_by: z.string().describe('The department system (client id) that pushed it.'),
    created_at: time,
    revoked_at: time.nullable(),
  })
  .describe('A pushed certificate. It names neither the citizen nor the claims: the citizen holds those.')
  .meta({ id: 'Certificate' });
export const toCertificate = (c: Certificate) => ({
  id: c.id,
  type: c.typeId,
  type_version: c.typeVersion,
  department_id: c.departmentId,
  status: c.status,
  valid_from: iso(c.validFrom)!,
  valid_until: iso(c.validUntil)!,
  pushed_by: c.pushedBy,
  created_at: iso(c.createdAt)!,
  revoked_at: iso(c.revokedAt),
});

export const listedCertificateBody = certificateBody
  .extend({ citizen_id_masked: z.string().nullable().describe("The citizen's ID number, masked (110105********002X): never the whole number.") })
  .describe("A department's certificate as its operators list it: the citizen only by masked ID number, never the claims.")
  .meta({ id: 'ListedCertificate' });
export const toListedCertificate = (c: ListedCertificate) => ({ ...toCertificate(c), citizen_id_masked: c.citizenIdMasked ?? null });

const statusChangeBody = z
  .object({
    id: z.string(),
    kind: z.enum(['disable', 'enable']),
    status: z.enum(['done', 'pending', 'approved', 'rejected', 'superseded']),
    reason: z.string().describe('A code from the fixed list of its kind.'),
    note: z.string().nullable(),
    actor_type: z.enum(['operator', 'system']),
    actor: z.string().describe("The operator's sub, or 'cli'."),
    created_at: time,
    reviewer: z.string().nullable(),
    reviewed_at: time.nullable(),
    review_note: z.string().nullable(),
  })
  .meta({ id: 'AccountStatusChange' });
export const toStatusChange = (c: StatusChange) => ({
  id: c.id,
  kind: c.kind,
  status: c.status,
  reason: c.reason,
  note: c.note ?? null,
  actor_type: c.actorType,
  actor: c.actorId,
  created_at: iso(c.createdAt)!,
  reviewer: c.reviewerId ?? null,
  reviewed_at: iso(c.reviewedAt),
  review_note: c.reviewNote ?? null,
});
export const enableRequestBody = statusChangeBody
  .extend({ account: z.object({ sub: z.string(), name: z.string() }).optional() })
  .meta({ id: 'AccountEnableRequest' });
export const toEnableRequest = (c: StatusChange | PendingEnable) => ({
  ...toStatusChange(c),
  ...('accountSub' in c ? { account: { sub: c.accountSub, name: c.accountName } } : {}),
});

export const accountBody = z
  .object({
    sub: z.string(),
    citizen_id_masked: z.string().describe('The ID number is never shown in full.'),
    name: z.string(),
    status: z.enum(['active', 'locked', 'disabled']),
    assurance: z.string(),
    created_at: time,
    disabled: statusChangeBody.nullable().describe('The disable in force, when an operator or the CLI disabled it.'),
    pending_enable: statusChangeBody.nullable().describe('A request to enable it again, waiting for another operator.'),
    sign_in: z.object({
      last: z.object({ at: time, channel: z.string().nullable(), client_id: z.string().nullable() }).nullable(),
      failed: z.number().int().describe('Failed sign-ins over the last `failed_window_days` days.'),
      failed_window_days: z.number().int(),
      sessions: z.number().int().describe('Browser sessions that have not expired.'),
      methods: z.array(z.object({ type: z.string(), last_used_at: time.nullable() })),
    }),
  })
  .meta({ id: 'CitizenAccount' });
export const toAccount = (a: AccountView) => ({
  sub: a.sub,
  citizen_id_masked: a.citizenIdMasked,
  name: a.name,
  status: a.status,
  assurance: a.assurance,
  created_at: iso(a.createdAt)!,
  disabled: a.disabled ? toStatusChange(a.disabled) : null,
  pending_enable: a.pendingEnable ? toStatusChange(a.pendingEnable) : null,
  sign_in: {
    last: a.signIn.last ? { at: iso(a.signIn.last.at)!, channel: a.signIn.last.channel ?? null, client_id: a.signIn.last.clientId ?? null } : null,
    failed: a.signIn.failedSince,
    failed_window_days: a.signIn.failedWindowDays,
    sessions: a.signIn.sessions,
    methods: a.signIn.methods.map((m) => ({ type: m.type, last_used_at: iso(m.lastUsedAt) })),
  },
});
