import type { Adapter, AdapterPayload } from '../../src/storage/adapter-types.js';

/** The clients' table in memory: what the client cache reads through to (SQL in Yihao; its part is not under test where this is used). */
export function clientTable(): Adapter & { rows: Map<string, AdapterPayload> } {
  const rows = new Map<string, AdapterPayload>();
  return {
    rows,
    find: async (id) => rows.get(id),
    upsert: async (id, payload) => void rows.set(id, payload),
    destroy: async (id) => void rows.delete(id),
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    consume: async () => undefined,
    revokeByGrantId: async () => undefined,
  };
}
