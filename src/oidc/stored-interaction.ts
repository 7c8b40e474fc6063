import type { Adapter } from 'oidc-provider';

type AdapterClass = new (name: string) => Adapter;

/**
 * oidc-provider keeps every parameter of an authorization request with its interaction (`params`,
 * and the login prompt's `details`), in Redis or SQL for as long as the interaction lives. Yihao's
 * sign-in pages do not read `login_hint`, and what apps send in it is often the citizen's ID number
 * or mobile number: it is left out of what is stored, so that a store dump or backup never holds it
 * in clear. (CIBA drops its hint itself, channels/ciba/counter-ciba.ts.)
 */
export function withoutStoredLoginHints(Inner: AdapterClass): AdapterClass {
  return class StoredInteractionAdapter extends Inner {
    readonly #interaction: boolean;

    constructor(model: string) {
      super(model);
      this.#interaction = model === 'Interaction';
    }

    override upsert(id: string, payload: Parameters<Adapter['upsert']>[1], expiresIn: number) {
      return super.upsert(id, this.#interaction ? withoutLoginHint(payload) : payload, expiresIn);
    }
  };
}

function withoutLoginHint<T extends object>(payload: T): T {
  const { params, prompt } = payload as { params?: Record<string, unknown>; prompt?: { details?: Record<string, unknown> } };
  if (params?.login_hint === undefined && prompt?.details?.login_hint === undefined) return payload;
  const { login_hint: _param, ...keptParams } = params ?? {};
  const { login_hint: _detail, ...keptDetails } = prompt?.details ?? {};
  return { ...payload, ...(params ? { params: keptParams } : {}), ...(prompt?.details ? { prompt: { ...prompt, details: keptDetails } } : {}) };
}
