import { register } from 'node:module';
import { ConfigError } from '../config/config-error.js';

type Env = Record<string, string | undefined>;

/**
 * The packages that OpenTelemetry tracing needs. They are not dependencies of Yihao: an operator who
 * wants traces installs them next to it (docs/operations.md), and nobody else carries them.
 */
export const TRACING_PACKAGES = [
  '@opentelemetry/sdk-node',
  '@opentelemetry/instrumentation',
  '@opentelemetry/instrumentation-http',
  '@opentelemetry/instrumentation-pg',
  '@opentelemetry/instrumentation-ioredis',
] as const;

/**
 * Whether traces are to be exported, from the environment at start-up: `YIHAO_TRACING=otlp`, or an
 * OTLP endpoint in the variables the OpenTelemetry SDK itself reads. `YIHAO_TRACING=off` wins.
 */
export function tracingRequested(env: Env): boolean {
  const mode = env.YIHAO_TRACING?.trim();
  if (mode && mode !== 'otlp' && mode !== 'off') throw new ConfigError('YIHAO_TRACING', `must be "otlp" or "off", got "${mode.slice(0, 20)}"`);
  if (mode === 'off') return false;
  return mode === 'otlp' || Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** A module of tracing's, by a name TypeScript does not resolve (they are not installed with Yihao). */
async function load(name: string): Promise<Record<string, unknown>> {
  try {
    return (await import(name)) as Record<string, unknown>;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    throw new ConfigError(
      'YIHAO_TRACING',
      `(or OTEL_EXPORTER_OTLP_ENDPOINT) asks for OpenTelemetry traces, but ${name} is not installed: npm install ${TRACING_PACKAGES.join(' ')}`,
    );
  }
}

type Constructor = new (options?: Record<string, unknown>) => Record<string, unknown>;

/**
 * Starts the OpenTelemetry SDK before the app is loaded, so that its instrumentations see every
 * import of `node:http`, pg and ioredis (Yihao is ESM: the hook of `@opentelemetry/instrumentation`
 * wraps ES module imports, its require hook the CommonJS ones). The exporter, its endpoint, headers
 * and sampling come from the standard OTEL_* variables, read by the SDK itself.
 */
/**
 * Query parameters whose values are secrets or personal data (codes, tokens, hints that may carry an
 * ID number): spans show them as REDACTED. Bodies and headers are never recorded.
 */
const SECRET_QUERY_PARAMETERS = [
  'code', 'state', 'nonce', 'code_verifier', 'id_token_hint', 'login_hint', 'login_hint_token', 'access_token', 'refresh_token', 'token',
  'client_secret', 'client_assertion', 'assertion', 'subject_token', 'actor_token', 'request', 'request_uri', 'user_code', 'device_code',
  'logout_token', 'session_state', 'sid', 'csrf',
];

let shutdown: (() => Promise<void>) | undefined;

/** Sends the spans still buffered; a no-op when tracing is off. The server awaits it before exiting. */
export const flushTracing = (): Promise<void> => shutdown?.().catch(() => undefined) ?? Promise.resolve();

export async function startTracing(env: Env): Promise<void> {
  // Every package is looked for first, so a missing one is named before anything is registered.
  const [sdk, , http, pg, ioredis] = await Promise.all(TRACING_PACKAGES.map(load));
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  const make = (mod: Record<string, unknown>, name: string, options: Record<string, unknown> = {}) => new (mod[name] as Constructor)(options);
  const instance = make(sdk!, 'NodeSDK', {
    serviceName: env.OTEL_SERVICE_NAME || 'yihao',
    instrumentations: [
      make(http!, 'HttpInstrumentation', {
        // Health checks and scrapes every few seconds would drown the requests that matter.
        ignoreIncomingRequestHook: (req: { url?: string }) => /^\/(healthz|readyz|metrics)(\?|$)/.test(req.url ?? ''),
        redactedQueryParamsServer: SECRET_QUERY_PARAMETERS,
        redactedQueryParams: SECRET_QUERY_PARAMETERS,
      }),
      // Statements with placeholders, never their values (the default).
      make(pg!, 'PgInstrumentation', { enhancedDatabaseReporting: false }),
      // The command's name only: its arguments are session, token and grant records.
      make(ioredis!, 'IORedisInstrumentation', { dbStatementSerializer: (command: string) => command }),
    ],
  });
  (instance.start as () => void).call(instance);
  shutdown = () => (instance.shutdown as () => Promise<void>).call(instance);
}
