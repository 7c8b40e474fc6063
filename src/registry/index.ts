import type { Logger } from 'pino';
import type { Outbound } from '../outbound/index.js';
import { z } from 'zod';
import { ConfigError } from '../config/config-error.js';
import { createFileRegistry } from './file-registry.js';
import { createHttpRegistry } from './http-registry.js';
import type { IdentityRegistry } from './identity-registry.js';

export {
  isRegistryUnavailable,
  normaliseName,
  RegistryUnavailableError,
  sameName,
  type IdentityRegistry,
  type RegistryQuery,
  type RegistryResult,
  type RegistryUnavailableReason,
} from './identity-registry.js';
export { createFileRegistry, createInMemoryRegistry, RegistryRecordsError, type RegistryRecord } from './file-registry.js';
export { createHttpRegistry, DEFAULT_MAX_ANSWER_BYTES, type HttpRegistryOptions } from './http-registry.js';

const pem = (kind: string) => z.string().regex(/-----BEGIN [A-Z0-9 ]+-----/, `must be PEM text (-----BEGIN ${kind}-----)`);

/**
 * Which registry checks real names. `file` serves synthetic records (embedded mode, tests);
 * `http` asks the population registry. Meant to be embedded in the main config schema.
 */
/**
 * Registration also asks whether the phone is registered in the citizen's name (real-name SIM
 * registration): without it, whoever knows a citizen's name and ID number can register them with
 * a phone of their own. Turn it off only for a registry that cannot check phones.
 */
const phoneCheck = z.boolean().default(true);

export const registryConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), path: z.string().min(1), phoneCheck }).strict(),
  z
    .object({
      kind: z.literal('http'),
      phoneCheck,
      endpoint: z.url({ protocol: /^https?$/, error: 'must be an http or https URL' }),
      timeoutMs: z.number().int().min(50).max(60_000).default(3000),
      retries: z.number().int().min(0).max(5).default(2),
      backoffMs: z.number().int().min(0).max(10_000).default(200),
      tls: z
        .object({ ca: pem('CERTIFICATE').optional(), cert: pem('CERTIFICATE').optional(), key: pem('PRIVATE KEY').optional() })
        .strict()
        .refine((t) => (t.cert === undefined) === (t.key === undefined), 'cert and key go together')
        .optional(),
    })
    .strict()
    .refine((c) => !c.tls || c.endpoint.startsWith('https:'), { message: 'needs an https endpoint', path: ['tls'] }),
]);
export type RegistryConfig = z.output<typeof registryConfigSchema>;
export type RegistryConfigInput = z.input<typeof registryConfigSchema>;

/** Builds the configured registry. `cfg` is parsed here too, so defaults apply to hand-written objects; bad settings throw `ConfigError`. */
export function registryFromConfig(cfg: RegistryConfigInput, deps: { logger?: Pick<Logger, 'warn'>; outbound: Pick<Outbound, 'pin'> }): IdentityRegistry {
  const parsed = registryConfigSchema.safeParse(cfg);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(['registry', ...issue.path.map(String)].join('.'), issue.message);
  }
  const c = parsed.data;
  if (c.kind === 'file') {
    const registry = createFileRegistry(c.path);
    // Every registration would be refused as "phone not in your name": say so at start instead.
    if (c.phoneCheck && !registry.listsPhones) throw new ConfigError('registry.phoneCheck', 'is on, but the registry file lists no phones for anyone: add each person\'s "phones", or set phoneCheck to false');
    return registry;
  }
  return createHttpRegistry({ ...c, logger: deps.logger, outbound: deps.outbound });
}
