// oidc-provider 9 ships no TypeScript types, so the adapter interface it calls is spelled out here.
// Keep it in step with node_modules/oidc-provider/lib/adapters/memory_adapter.js on upgrades.

/** What oidc-provider stores. Opaque to storage apart from the fields it looks records up by. */
export interface AdapterPayload {
  [key: string]: unknown;
  jti?: string;
  grantId?: string;
  userCode?: string;
  uid?: string;
  /** Epoch seconds; oidc-provider reads this back to refuse a second use. */
  consumed?: number;
}

export interface Adapter {
  /** `expiresIn` is seconds; undefined means the record never expires (Client, Grant). */
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Deletes this model's records of the grant; oidc-provider calls it once per model. */
  revokeByGrantId(grantId: string): Promise<void>;
}

/**
 * Takes back one consume that succeeded (and only that one), for a request that then failed before
 * it delivered what the artifact was spent for. Rejects if the store did not answer (it is then
 * sent again in the background for a while).
 */
export type GiveBack = () => Promise<void>;

/** oidc-provider instantiates one adapter per model with `new Adapter(modelName)`. */
export type AdapterConstructor = new (model: string) => Adapter;

// The two errors below are thrown out of adapter calls into oidc-provider's request handling. Its
// error handler renders `message` as the OAuth `error` code when `expose` is set, so they reach the
// client as a 400 instead of a 500 (see oidc-provider/lib/helpers/err_out.js).

/**
 * A second `consume` of the same artifact. oidc-provider checks `consumed` and then consumes
 * without a lock, so two concurrent redemptions of one code would both pass that check; making
 * `consume` a compare-and-set turns the loser into an error instead of a second set of tokens.
 */
export class AlreadyConsumedError extends Error {
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;
  readonly error_description: string;
  /**
   * The grant of the artifact, when the request had read it. Losing the race is a reuse, which
   * oidc-provider answers by revoking that grant; it only does so itself for a reuse it sees
   * (oidc/reuse-revocation.ts does it for the loser).
   */
  grantId?: string;

  constructor(readonly model: string) {
    super(model === 'PushedAuthorizationRequest' ? 'invalid_request_uri' : 'invalid_grant');
    this.name = 'AlreadyConsumedError';
    this.error_description = `${model} is unknown, expired or already used`;
  }
}

/**
 * A ReplayDetection id stored twice. oidc-provider's `ReplayDetection.unique` is find-then-upsert,
 * so two instances can both find nothing; the adapter's insert-if-absent decides which one wins.
 */
export class ReplayDetectedError extends Error {
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;
  readonly error_description = 'a JWT with this jti was already used';

  constructor() {
    super('invalid_request');
    this.name = 'ReplayDetectedError';
  }
}

/**
 * The longest any store keeps a record, in seconds: a hundred years, past any configured lifetime.
 * A lifetime can come from a caller's claim (a client assertion's `exp` sets how long its replay
 * record is kept), and must not become a number a store refuses: PX past 64 bits in Redis, an
 * expiry past PostgreSQL's bigint (a review sent exp = 1e20 and got a 500).
 */
export const MAX_KEEP_SECONDS = 100 * 366 * 86_400;

/** `expiresIn` within MAX_KEEP_SECONDS; undefined (no expiry) stays. */
export const keptSeconds = (expiresIn: number | undefined): number | undefined => (typeof expiresIn === 'number' ? Math.min(expiresIn, MAX_KEEP_SECONDS) : undefined);
