import type Provider from 'oidc-provider';
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import type { Logger } from 'pino';
import type { SigningKeys } from '../keys/index.js';
import { buildProvider, type ProviderDeps } from './provider.js';
import { backgroundWork } from '../storage/request-memo.js';
import { userinfoFastPath } from './userinfo-fast-path.js';
import { tokenFastPath } from './token-fast-path.js';

/**
 * Holds the live Provider. oidc-provider fixes its keystore at construction, so when the signing
 * keys in SQL change (a rotation on any instance) we build a fresh Provider with the new keystore
 * and swap it in. Nothing is lost: all state lives in the adapters, and cookies are signed with
 * the persistent cookie keys.
 */
export class ProviderHolder {
  private provider!: Provider;
  private handler!: Middleware;
  private fingerprint = '';
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly deps: ProviderDeps,
    private readonly keys: SigningKeys,
    private readonly logger: Logger,
  ) {}

  static async create(deps: ProviderDeps, keys: SigningKeys): Promise<ProviderHolder> {
    const holder = new ProviderHolder(deps, keys, deps.logger);
    await holder.refresh();
    return holder;
  }

  get current(): Provider {
    return this.provider;
  }

  /**
   * The provider's own middleware, run on the outer app's context: one Koa context per request
   * instead of two. Both apps share proxy trust and cookie keys, which is all it reads from `app`.
   */
  get middleware(): Middleware {
    return this.handler;
  }

  /** Rebuilds the provider if the signing keys changed; returns whether it did. */
  async refresh(): Promise<boolean> {
    let read = await this.keys.load();
    // An algorithm whose every key is retired (the one due next was deleted): a retired key signs
    // nothing, so a new one is made, as at first start.
    if (read.unsigned.length) {
      await this.keys.ensure();
      read = await this.keys.load();
    }
    const { keys, fingerprint } = read;
    if (fingerprint === this.fingerprint) return false;
    const provider = buildProvider(this.deps, keys);
    this.provider = provider;
    const fastPaths = this.deps.fastPaths === false ? [] : [userinfoFastPath(provider), tokenFastPath(provider, this.deps.clientSecrets)];
    this.handler = compose([...fastPaths, ...provider.middleware]) as Middleware;
    if (this.fingerprint) this.logger.info({ event: 'keys.reloaded', kids: keys.map((k) => k.kid) }, 'signing keys changed; provider reloaded');
    this.fingerprint = fingerprint;
    return true;
  }

  startPolling(intervalSeconds: number): void {
    this.timer = setInterval(() => {
      backgroundWork(() => this.refresh()).catch((err: unknown) => this.logger.error({ err }, 'signing key refresh failed'));
    }, intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
