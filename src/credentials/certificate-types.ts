import { z } from 'zod';
import { HIDDEN_TEXT_MESSAGE, showsAsWritten } from '../visible-text.js';
import type { CertificateType, CertificateTypeVersion } from './certificate-store.js';

/** What a claim of a certificate may be. A `date` is a calendar day, `YYYY-MM-DD`. */
export const CLAIM_TYPES = ['string', 'date', 'number', 'boolean'] as const;

/** Claims an SD-JWT VC reserves for itself (and `citizen_id`, which only the identity credential carries). */
const RESERVED_CLAIMS = new Set(['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'vct', 'vct#integrity', 'cnf', 'status', '_sd', '_sd_alg', '...', 'citizen_id']);

/** Per type: no more claims than a department's certificate has, and short enough to stay readable. */
const MAX_CLAIMS = 40;
const DEFAULT_MAX_LENGTH = 200;

const claimName = z.string().regex(/^[a-z][a-z0-9_]{0,39}$/, 'a claim name is 1 to 40 lower-case letters, digits and _, starting with a letter');

export const claimSpec = z
  .object({
    type: z.enum(CLAIM_TYPES),
    required: z.boolean().default(false),
    /** For strings: the most characters a value may have (default 200). */
    max_length: z.number().int().min(1).max(2000).optional(),
    names: z.object({ 'zh-CN': z.string().trim().min(1).max(60).refine(showsAsWritten, HIDDEN_TEXT_MESSAGE), en: z.string().trim().min(1).max(60).refine(showsAsWritten, HIDDEN_TEXT_MESSAGE) }).strict().optional(),
  })
  .strict()
  .refine((c) => c.max_length === undefined || c.type === 'string', { message: 'max_length is for string claims only', path: ['max_length'] });
export type ClaimSpec = z.output<typeof claimSpec>;
export type ClaimSchema = Record<string, ClaimSpec>;

export const claimSchema = z
  .record(claimName, claimSpec)
  .refine((s) => Object.keys(s).length >= 1, { message: 'a certificate type has at least one claim' })
  .refine((s) => Object.keys(s).length <= MAX_CLAIMS, { message: `a certificate type has at most ${MAX_CLAIMS} claims` })
  .superRefine((s, ctx) => {
    for (const name of Object.keys(s)) if (RESERVED_CLAIMS.has(name)) ctx.addIssue({ code: 'custom', path: [name], message: `${name} is reserved by SD-JWT VC` });
  });

/**
 * A claim schema as stored or exported (an offline bundle): read for its claims' names and types
 * only, so that labels written before they had to show as written do not make it unreadable.
 */
export const storedClaimSchema = z.record(z.string(), z.object({ type: z.enum(CLAIM_TYPES), required: z.boolean().default(false) }).passthrough()) as unknown as z.ZodType<ClaimSchema>;

const typeName = z.string().trim().min(1).max(100).refine(showsAsWritten, HIDDEN_TEXT_MESSAGE);

/** A certificate type as an operator defines it. */
export const certificateTypeInput = z
  .object({
    /** Its id, unique installation-wide: its OID4VCI configuration is `cert_<id>`, its scope `certificate:<id>`. */
    id: z.string().regex(/^[a-z][a-z0-9_]{2,39}$/, 'an id is 3 to 40 lower-case letters, digits and _, starting with a letter'),
    department_id: z.string().min(1).max(32),
    names: z.object({ 'zh-CN': typeName, en: typeName }).strict(),
    claims: claimSchema,
    /** How long a certificate is valid when its push names no end (days). */
    validity_days: z.number().int().min(1).max(36_500).default(1826),
  })
  .strict();
export type CertificateTypeInput = z.output<typeof certificateTypeInput>;

/**
 * A change to a type: a new version of any of its names, claim schema and default validity (the
 * rest carried over from the current version). `base_version`, when given, must be the current
 * version, so that two operators' changes cannot silently overwrite each other.
 */
export const certificateTypeChange = z
  .object({
    names: z.object({ 'zh-CN': typeName, en: typeName }).strict().optional(),
    claims: claimSchema.optional(),
    validity_days: z.number().int().min(1).max(36_500).optional(),
    base_version: z.number().int().min(1).optional(),
  })
  .strict()
  .refine((c) => c.names !== undefined || c.claims !== undefined || c.validity_days !== undefined, { message: 'a change names at least one of names, claims and validity_days' });
export type CertificateTypeChange = z.output<typeof certificateTypeChange>;

/**
 * What a new claim schema may not do to certificates already issued under the current one: drop a
 * claim they carry, or change its type (wallets and verifiers read it as that type). Anything
 * else is allowed: new claims (required ones apply to new pushes only), `required`, `max_length`
 * and names. Returns the problems by field (`claims.<name>`), empty when the change is compatible.
 */
export function incompatibleChanges(current: ClaimSchema, next: ClaimSchema): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const [name, spec] of Object.entries(current)) {
    const after = next[name];
    if (!after) problems[`claims.${name}`] = 'cannot be removed: issued certificates carry it (make it optional instead)';
    else if (after.type !== spec.type) problems[`claims.${name}`] = `cannot change its type from ${spec.type} to ${after.type}: issued certificates carry it as ${spec.type}`;
  }
  return problems;
}

/**
 * Whether a claim is in every certificate of a type: required in each of its versions (a claim
 * made required later is missing from certificates pushed before).
 */
export const alwaysPresent = (claim: string, versions: readonly { claims: ClaimSchema }[]) => versions.length > 0 && versions.every((v) => v.claims[claim]?.required === true);

/**
 * The claims a presentation of a type may disclose, by type: every claim of its current schema
 * (which holds every earlier version's claims, each with its type: see incompatibleChanges).
 * Length limits are left to the push: an older certificate may hold a value a later limit forbids.
 */
export function disclosedClaimsValidator(schema: ClaimSchema): z.ZodType<Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = { issuing_department: z.string().min(1).max(200).optional() };
  for (const [name, spec] of Object.entries(schema)) shape[name] = (spec.type === 'string' ? z.string().min(1) : claimValue(spec)).optional();
  return z.object(shape).strict() as unknown as z.ZodType<Record<string, unknown>>;
}

export const configurationIdOf = (typeId: string) => `cert_${typeId}`;
export const scopeOf = (typeId: string) => `certificate:${typeId}`;
export const typeIdOfConfiguration = (configurationId: string) => (configurationId.startsWith('cert_') ? configurationId.slice(5) : undefined);
/** A type's `vct`: a URL under the issuer, where its SD-JWT VC type metadata is served. */
export const vctOf = (issuer: string, typeId: string) => `${issuer}/credentials/types/${typeId}`;

function isCalendarDay(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

const claimValue = (spec: ClaimSpec): z.ZodType => {
  switch (spec.type) {
    case 'string':
      return z.string().trim().min(1, 'must not be empty').max(spec.max_length ?? DEFAULT_MAX_LENGTH, `must be at most ${spec.max_length ?? DEFAULT_MAX_LENGTH} characters`).refine(showsAsWritten, HIDDEN_TEXT_MESSAGE);
    case 'date':
      return z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date, YYYY-MM-DD').refine(isCalendarDay, 'must be a real calendar day');
    case 'number':
      return z.number({ error: 'must be a number' }).finite();
    case 'boolean':
      return z.boolean({ error: 'must be true or false' });
  }
};

/** The zod schema a push's claims must pass: each claim of its type, the required ones present, no others. */
export function claimsValidator(schema: ClaimSchema): z.ZodType<Record<string, string | number | boolean>> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(schema)) shape[name] = spec.required ? claimValue(spec) : claimValue(spec).optional();
  return z.object(shape).strict() as unknown as z.ZodType<Record<string, string | number | boolean>>;
}

const isoOrNull = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** `pending` until a second national super-admin approves it (no push, no metadata); `retired` once retired. */
export const typeStatusOf = (t: Pick<CertificateType, 'retiredAt' | 'approvedAt'>): 'pending' | 'active' | 'retired' =>
  t.retiredAt !== undefined ? 'retired' : t.approvedAt !== undefined ? 'active' : 'pending';

/** A type as the admin API (CertificateType) and `yihao certificate-type --json` show it. */
export const certificateTypeView = (t: CertificateType) => ({
  id: t.id,
  department_id: t.departmentId,
  vct: t.vct,
  credential_configuration_id: configurationIdOf(t.id),
  scope: scopeOf(t.id),
  names: t.names,
  claims: t.claims,
  validity_days: t.validityDays,
  version: t.version,
  created_at: new Date(t.createdAt).toISOString(),
  updated_at: isoOrNull(t.updatedAt),
  retired_at: isoOrNull(t.retiredAt),
  status: typeStatusOf(t),
  approved_at: isoOrNull(t.approvedAt),
  approved_by: t.approvedBy ?? null,
  pending_version: t.pendingVersion ?? null,
});

/**
 * Where a version stands: `current` in force (or, for a type still pending, the one its approval
 * reviews: `pending`), `pending` awaiting approval, `earlier` in force once, `withdrawn` replaced
 * before anyone approved it.
 */
export function versionStatusOf(v: CertificateTypeVersion, t: Pick<CertificateType, 'version' | 'pendingVersion' | 'approvedAt'>): 'current' | 'pending' | 'earlier' | 'withdrawn' {
  if (v.version === t.version) return t.approvedAt === undefined ? 'pending' : 'current';
  if (v.version === t.pendingVersion) return 'pending';
  return v.approvedAt !== undefined && v.version < t.version ? 'earlier' : 'withdrawn';
}

/** One version of a type, likewise (CertificateTypeVersion). */
export const certificateTypeVersionView = (v: CertificateTypeVersion, t: Pick<CertificateType, 'version' | 'pendingVersion' | 'approvedAt'>) => ({
  version: v.version,
  status: versionStatusOf(v, t),
  names: v.names,
  claims: v.claims,
  validity_days: v.validityDays,
  created_by: v.createdBy,
  created_at: new Date(v.createdAt).toISOString(),
  approved_at: isoOrNull(v.approvedAt),
  approved_by: v.approvedBy ?? null,
});
