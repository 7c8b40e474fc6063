/**
 * The admin API's OpenAPI 3.1 document: it is served without a token, it validates against the
 * OpenAPI 3.1 schema, and it describes exactly the routes that the router registers.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_API_PATH } from '../../src/admin/index.js';
import { startHarness, type Harness } from '../support/harness.js';

type Doc = { openapi: string; paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>; servers: { url: string }[] };

describe('admin API OpenAPI document', () => {
  let h: Harness;
  let doc: Doc;

  beforeAll(async () => {
    h = await startHarness();
    const res = await fetch(`${h.issuer}${ADMIN_API_PATH}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    doc = (await res.json()) as Doc;
  });
  afterAll(async () => h?.close());

  it('validates as OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.servers).toEqual([{ url: `${h.issuer}${ADMIN_API_PATH}` }]);
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes every registered route, and nothing else', () => {
    const registered = new Set<string>();
    for (const router of h.yihao.admin.routers) {
      for (const layer of router.stack) {
        const path = String(layer.path);
        if (!path.startsWith(`${ADMIN_API_PATH}/`) || path.includes('{*')) continue;
        const openApiPath = path.slice(ADMIN_API_PATH.length).replace(/:([a-z_]+)/g, '{$1}');
        for (const method of layer.methods) if (method !== 'HEAD') registered.add(`${method.toLowerCase()} ${openApiPath}`);
      }
    }
    const documented = new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    expect(registered.size).toBeGreaterThan(20);
    expect([...registered].sort()).toEqual([...documented].sort());
  });

  it('gives every operation an id, a success answer, and the error answers of a protected call', () => {
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
        ids.add(op.operationId);
        expect(Object.keys(op.responses).some((s) => s.startsWith('2'))).toBe(true);
        if (path !== '/openapi.json') expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403', '404']));
      }
    }
    expect(ids.size).toBe(Object.values(doc.paths).flatMap((ops) => Object.keys(ops)).length);
  });
});
