import { z } from 'zod';
import { ADMIN_API_PATH } from '../admin-resource.js';
import { errorBody } from './schemas.js';
import type { ApiRoute } from './route-table.js';

type Json = Record<string, unknown>;

/**
 * The OpenAPI 3.1 document, generated from the same zod schemas that validate requests and
 * responses, so the description cannot drift from what the API does.
 */
export function openApiDocument(routes: readonly ApiRoute[], issuer: string): Json {
  const schemas: Json = {};
  // Named schemas (`.meta({ id })`) become components; `uri` points every reference there.
  const toSchema = (schema: z.ZodType, io: 'input' | 'output'): Json => {
    const out = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
    return lift(out, io);
  };
  /** Moves `$defs` into components (named per direction, since defaults differ between input and output). */
  function lift(schema: Json, io: 'input' | 'output'): Json {
    const defs = (schema.$defs ?? {}) as Record<string, Json>;
    delete schema.$defs;
    delete schema.$schema;
    const name = (key: string) => (io === 'input' ? `${key}Input` : key);
    for (const [key, def] of Object.entries(defs)) schemas[name(key)] = rewriteRefs(def, io);
    const id = schema.id as string | undefined;
    const body = rewriteRefs(schema, io);
    if (id) {
      delete (body as Json).id;
      schemas[name(id)] = body;
      return { $ref: `#/components/schemas/${name(id)}` };
    }
    return body;
  }
  function rewriteRefs(node: unknown, io: 'input' | 'output'): Json {
    const walk = (n: unknown): unknown => {
      if (Array.isArray(n)) return n.map(walk);
      if (n && typeof n === 'object') {
        const o: Json = {};
        for (const [k, v] of Object.entries(n)) {
          if (k === '$ref' && typeof v === 'string' && v.startsWith('#/$defs/')) o[k] = `#/components/schemas/${io === 'input' ? `${v.slice(8)}Input` : v.slice(8)}`;
          else if (k === 'id' && typeof v === 'string') continue;
          else o[k] = walk(v);
        }
        return o;
      }
      return n;
    };
    return walk(node) as Json;
  }

  const errorRef = toSchema(errorBody, 'output');
  const error = (description: string) => ({ description, content: { 'application/json': { schema: errorRef } } });
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    if (r.query) {
      const q = toSchema(r.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        params.push({ name, in: 'query', required: (q.required ?? []).includes(name), schema } as never);
      }
    }
    const responses: Json = {};
    if (r.path === '/openapi.json') responses['200'] = { description: 'The OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } };
    else if (r.status === 204) responses['204'] = { description: 'Done' };
    else responses[String(r.status)] = { description: r.summary, content: { 'application/json': { schema: toSchema(r.response!, 'output') } } };
    if (r.body || r.query) responses['400'] = error('Invalid input; `fields` names each bad field');
    if (!r.public) {
      responses['401'] = error('No valid admin access token');
      responses['403'] = error('Your roles do not allow this (the refusal is audited)');
      responses['404'] = error('Not found, or outside your departments (the two are not told apart)');
    }
    if (r.method !== 'get') responses['409'] = error('The thing is not in a state that allows this');
    paths[r.path] ??= {};
    paths[r.path]![r.method] = {
      operationId: r.operationId,
      summary: r.summary,
      description: `Roles: ${r.roles}.`,
      tags: [r.tag],
      ...(params.length ? { parameters: params } : {}),
      ...(r.body ? { requestBody: { required: r.method !== 'post' || !isOptionalBody(r.body), content: { 'application/json': { schema: toSchema(r.body, 'input') } } } } : {}),
      responses,
      ...(r.public ? { security: [] } : {}),
      ...(r.caller === 'department-system' ? { security: [{ departmentSystemToken: [] }] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Yihao admin API',
      version: '1.0.0',
      description:
        'Departments, operators and roles, the client lifecycle (draft → submitted → approved → live; suspend, resume, secret rotation), signing keys and the audit log. ' +
        'Every call needs an access token that the admin console obtained for this resource at urn:yihao:loa:2; every call is checked against the caller’s roles and departments.',
    },
    servers: [{ url: `${issuer}${ADMIN_API_PATH}` }],
    security: [{ adminToken: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: `An access token for the resource ${issuer}${ADMIN_API_PATH} with scope admin` },
        departmentSystemToken: {
          type: 'oauth2',
          description: "A department system's client_credentials token (an active service client registered in that department) for the resource " + `${issuer}${ADMIN_API_PATH}` + ' with scope certificates:push; a DPoP-bound one is sent as Authorization: DPoP with a DPoP proof per request',
          flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { 'certificates:push': "Push and list your department's certificates" } } },
        },
      },
    },
  };
}

const isOptionalBody = (schema: z.ZodType) => schema.safeParse({}).success;
