import type { Database } from './database.js';
import { writeBatch } from './write-batch.js';
import type { Adapter, AdapterPayload } from './adapter-types.js';

/** Models whose records belong to one account and must be found by it. Sessions by their stable uid. */
const INDEXED: Record<string, (id: string, payload: AdapterPayload) => string | undefined> = {
  Session: (_id, payload) => payload.uid,
  Grant: (id) => id,
};

export interface AccountIndex {
  /** Sessions (by uid) and grants (by id) of an account that have not expired. */
  list(accountId: string): Promise<{ model: 'Session' | 'Grant'; id: string }[]>;
  remove(model: string, id: string): Promise<void>;
  /** Wraps a model's adapter so that its writes keep the index current. */
  wrap(model: string, inner: Adapter): Adapter;
}

const UPSERT_INDEX =
  'insert into account_index (model, id, account_id, expires_at) values (?, ?, ?, ?) ' +
  'on conflict (model, id) do update set account_id = excluded.account_id, expires_at = excluded.expires_at';

export function createAccountIndex(db: Database): AccountIndex {
  const batch = writeBatch(db);
  // A session is saved on every authorization; its index row needs writing only once per uid.
  const written = new Map<string, number>();
  const remember = (key: string, until: number) => {
    if (written.size > 50_000) written.clear();
    written.set(key, until);
  };

  async function add(model: string, id: string, accountId: string, expiresIn: number | undefined) {
    const key = `${model}:${id}:${accountId}`;
    const until = expiresIn === undefined ? Number.MAX_SAFE_INTEGER : Date.now() + expiresIn * 1000;
    const known = written.get(key);
    if (known !== undefined && known >= until - 60_000) return;
    await batch.defer(`account_index:${model}:${id}`, UPSERT_INDEX, [model, id, accountId, expiresIn === undefined ? null : until]);
    remember(key, until);
  }

  const index: AccountIndex = {
    async list(accountId) {
      await batch.flush();
      const rows = await db('account_index')
        .select('model', 'id')
        .where({ account_id: accountId })
        .andWhere((q) => q.whereNull('expires_at').orWhere('expires_at', '>', Date.now()));
      return rows as { model: 'Session' | 'Grant'; id: string }[];
    },
    async remove(model, id) {
      await batch.flush();
      await db('account_index').where({ model, id }).delete();
    },
    wrap(model, inner) {
      const keyOf = INDEXED[model];
      if (!keyOf) return inner;
      return {
        ...bind(inner),
        async upsert(id, payload, expiresIn) {
          await inner.upsert(id, payload, expiresIn);
          const key = keyOf(id, payload);
          const accountId = payload.accountId as string | undefined;
          if (key && accountId) await add(model, key, accountId, expiresIn);
        },
      };
    },
  };
  return index;
}

function bind(a: Adapter): Adapter {
  return {
    upsert: a.upsert.bind(a),
    find: a.find.bind(a),
    findByUid: a.findByUid.bind(a),
    findByUserCode: a.findByUserCode.bind(a),
    consume: a.consume.bind(a),
    destroy: a.destroy.bind(a),
    revokeByGrantId: a.revokeByGrantId.bind(a),
  };
}
