import { z } from 'zod';

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
    names: z.object({ 'zh-CN': z.string().trim().min(1).max(60), en: z.string().trim().min(1).max(60) }).strict().optional(),
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

const typeName = z.string().trim().min(1).max(100);

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
      return z.string().trim().min(1, 'must not be empty').max(spec.max_length ?? DEFAULT_MAX_LENGTH, `must be at most ${spec.max_length ?? DEFAULT_MAX_LENGTH} characters`);
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

/**
 * What a presentation of a certificate may disclose: any of the type's claims, each in its form (a
 * holder discloses a subset, so none is required), and the issuing department's name.
 */
export function presentedClaimsValidator(schema: ClaimSchema): z.ZodType {
  const shape: Record<string, z.ZodType> = { issuing_department: z.string().min(1).max(200).optional() };
  for (const [name, spec] of Object.entries(schema)) shape[name] = claimValue(spec).optional();
  return z.object(shape).strict();
}
