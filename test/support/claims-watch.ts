import type Provider from 'oidc-provider';
import type { Harness } from './harness.js';

/**
 * Who built each set of claims an instance answered userinfo with: the fast path hands
 * oidc-provider's Claims a plain context, oidc-provider's own userinfo its Koa context. (A refusal
 * builds none: the fast path never answers one, so an equal refusal is oidc-provider's on both.)
 */
export function claimsWatch() {
  const built = new Map<Harness, ('fast path' | 'oidc-provider')[]>();
  const watch = (h: Harness) => {
    built.set(h, []);
    const proto = (h.yihao.holder.current as Provider).Claims.prototype as { result(): Promise<unknown>; ctx?: { req?: unknown } };
    const result = proto.result;
    proto.result = function (this: typeof proto) {
      built.get(h)!.push(this.ctx?.req ? 'oidc-provider' : 'fast path');
      return result.call(this);
    };
  };
  return { built, watch };
}
