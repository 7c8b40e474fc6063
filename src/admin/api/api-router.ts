import Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { AuditLog } from '../../audit/index.js';
import { AdminError, isAdminError } from '../admin-error.js';
import { ADMIN_API_PATH } from '../admin-resource.js';
import { DPOP_ALGS } from '../../http/request-proofs.js';
import type { OperatorAuth } from '../operator-auth.js';
import type { DepartmentSystemAuth } from '../department-system-auth.js';
import type { AdminServices } from '../services.js';
import { parseInput } from '../validate.js';
import { readJson } from './json-body.js';
import { openApiDocument } from './openapi.js';
import { apiRoutes, type ApiRoute } from './route-table.js';

export interface ApiRouterDeps {
  issuer: string;
  services: AdminServices;
  auth: OperatorAuth;
  bodyMaxBytes: number;
  logger: Logger;
  audit: AuditLog;
  /** The machine path: department systems' client_credentials tokens, for their routes only. */
  systemAuth?: DepartmentSystemAuth | undefined;
}

const koaPath = (path: string) => `${ADMIN_API_PATH}${path.replace(/\{([a-z_]+)\}/g, ':$1')}`;

function bearer(ctx: Context): string {
  const m = /^Bearer ([^\s]+)$/i.exec(ctx.get('authorization'));
  if (!m) throw new AdminError('unauthorized', 'a valid admin access token is required');
  return m[1]!;
}

const unavailable = (): never => {
  throw new AdminError('unauthorized', 'this server takes no department system tokens');
};

/** The admin REST API: each route of the table, validated on the way in and on the way out. */
export function adminApiRouter({ issuer, services, auth, bodyMaxBytes, logger, audit, systemAuth }: ApiRouterDeps, routes: readonly ApiRoute[] = apiRoutes): Router {
  const router = new Router();
  const document = openApiDocument(routes, issuer);

  for (const route of routes) {
    router[route.method](koaPath(route.path), async (ctx) => {
      ctx.set('cache-control', 'no-store');
      try {
        if (route.path === '/openapi.json') {
          ctx.body = document;
          return;
        }
        const origin = { ip: ctx.ip, requestId: ctx.state.requestId as string | undefined };
        // A route is either an operator's or a department system's: neither token passes for the other.
        const system =
          route.caller === 'department-system'
            ? await (systemAuth ?? unavailable()).fromRequest({ authorization: ctx.get('authorization'), dpop: ctx.get('dpop') || undefined, method: ctx.method, path: ctx.path }, origin)
            : undefined;
        const op = system ? undefined : await auth.fromAccessToken(bearer(ctx), origin);
        const query = route.query ? parseInput(route.query, ctx.query) : {};
        const raw = route.method === 'get' || route.method === 'delete' ? undefined : await readJson(ctx, bodyMaxBytes);
        const body = route.body ? parseInput(route.body, raw ?? {}) : undefined;
        const result = await route.handler(op, { params: ctx.params as Record<string, string>, query: query as Record<string, unknown>, body }, services, system);
        ctx.status = route.status;
        if (route.status !== 204) {
          // An answer that breaks its own contract is a bug: it never leaves (500, logged).
          const checked = route.response!.safeParse(result);
          if (!checked.success) throw new Error(`response of ${route.operationId} breaks its schema: ${checked.error.issues[0]?.message ?? ''} at ${checked.error.issues[0]?.path.join('.') ?? ''}`);
          ctx.body = checked.data;
        }
      } catch (e) {
        if (isAdminError(e)) {
          ctx.status = e.status;
          if (e.status === 401) {
            // RFC 9449 §7.1: a DPoP-scheme request is answered with a DPoP challenge.
            ctx.set('www-authenticate', /^dpop /i.test(ctx.get('authorization')) ? `DPoP error="invalid_token", algs="${DPOP_ALGS.join(' ')}"` : 'Bearer error="invalid_token"');
            // Denied without any identity: still in the trail, with where it came from (never the token).
            await audit.append({
              action: 'admin.denied',
              actorType: 'anonymous',
              ip: ctx.ip,
              requestId: ctx.state.requestId as string | undefined,
              details: { operation: route.operationId, reason: 'no_valid_token' },
            });
          }
          ctx.body = { error: e.code, message: e.message, ...(e.fields ? { fields: e.fields } : {}) };
          return;
        }
        logger.error({ err: e, requestId: ctx.state.requestId as string | undefined, operation: route.operationId }, 'admin API error');
        ctx.status = 500;
        ctx.body = { error: 'server_error', message: 'unexpected error' };
      }
    });
  }
  // Anything else under the API answers in JSON too, not with a page.
  router.all(`${ADMIN_API_PATH}/{*rest}`, (ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', message: 'no such endpoint' };
  });
  return router;
}
