import type { z } from 'zod';
import { clientSettings } from '../../clients/index.js';
import { auditQueryInput } from '../audit-service.js';
import { changeListQuery, clientListQuery, newClientInput, reviewInput, rotationInput, suspensionInput } from '../client-service.js';
import { departmentInput } from '../departments.js';
import { assignmentInput, operatorListQuery } from '../operator-service.js';
import { revocationInput } from '../credential-service.js';
import { accountLookupInput, disableInput, enableInput, enableRequestQuery, enableReviewInput } from '../account-status-service.js';
import { certificateListQuery, certificatePushInput, certificateRevocationInput, certificateTypeApproval, certificateTypeChange, certificateTypeInput, operatorCertificateQuery } from '../certificate-service.js';
import type { DepartmentSystem } from '../department-system-auth.js';
import { listQuery } from '../paging.js';
import type { AdminServices } from '../services.js';
import type { Operator } from '../roles.js';
import * as s from './schemas.js';

export interface ApiRequest {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

/** One endpoint: its contract (for validation and the OpenAPI document) and its handler. */
export interface ApiRoute {
  method: 'get' | 'post' | 'put' | 'delete';
  /** OpenAPI style, relative to /admin/api/v1: '/clients/{client_id}'. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** Roles that may call it (documentation; the services enforce it). */
  roles: string;
  query?: z.ZodObject;
  body?: z.ZodType;
  status: 200 | 201 | 204;
  response?: z.ZodType;
  /** Whether it needs no token (the OpenAPI document itself). */
  public?: boolean;
  /** Called by a department's system (client_credentials, scope certificates:push) instead of an operator. */
  caller?: 'department-system';
  handler(op: Operator | undefined, req: ApiRequest, services: AdminServices, system?: DepartmentSystem): Promise<unknown>;
}

const id = (r: ApiRequest, name: string) => r.params[name]!;
const as = <T>(v: unknown) => v as T;
const op = (o: Operator | undefined) => o!;
const sys = (s: DepartmentSystem | undefined) => s!;

/** Every endpoint of the admin API. The router registers exactly these; the OpenAPI document describes exactly these. */
export const apiRoutes: readonly ApiRoute[] = [
  {
    method: 'get', path: '/openapi.json', operationId: 'getOpenApi', summary: 'This API description (OpenAPI 3.1)', tag: 'meta', roles: 'anyone',
    status: 200, public: true,
    handler: async () => undefined, // answered by the router itself
  },
  {
    method: 'get', path: '/me', operationId: 'getMe', summary: 'The signed-in operator and their role assignments', tag: 'operators', roles: 'any operator',
    status: 200, response: s.meBody,
    handler: async (o) => s.toMe(op(o)),
  },
  {
    method: 'get', path: '/departments', operationId: 'listDepartments', summary: 'Departments in your subtrees', tag: 'departments', roles: 'super-admin, dept-admin, reviewer, auditor',
    query: listQuery, status: 200, response: s.pageOf(s.departmentBody, 'DepartmentPage'),
    handler: async (o, r, sv) => {
      const page = await sv.departments.list(op(o), as(r.query));
      return { ...page, items: page.items.map(s.toDepartment) };
    },
  },
  {
    method: 'post', path: '/departments', operationId: 'createDepartment', summary: 'Create a department under one of yours', tag: 'departments', roles: 'super-admin',
    body: departmentInput, status: 201, response: s.departmentBody,
    handler: async (o, r, sv) => s.toDepartment(await sv.departments.create(op(o), as(r.body))),
  },
  {
    method: 'get', path: '/departments/{department_id}', operationId: 'getDepartment', summary: 'One department', tag: 'departments', roles: 'super-admin, dept-admin, reviewer, auditor',
    status: 200, response: s.departmentBody,
    handler: async (o, r, sv) => s.toDepartment(await sv.departments.get(op(o), id(r, 'department_id'))),
  },
  {
    method: 'get', path: '/operators', operationId: 'listOperators', summary: 'Operators holding roles in your subtrees', tag: 'operators', roles: 'super-admin, dept-admin',
    query: operatorListQuery, status: 200, response: s.pageOf(s.operatorBody, 'OperatorPage'),
    handler: async (o, r, sv) => sv.operators.list(op(o), as(r.query)),
  },
  {
    method: 'post', path: '/role-assignments', operationId: 'assignRole', summary: 'Give an account a role in a department', tag: 'operators', roles: 'super-admin, dept-admin (auditor only)',
    body: assignmentInput, status: 201, response: s.assignedBody,
    handler: async (o, r, sv) => sv.operators.assign(op(o), as(r.body)),
  },
  {
    method: 'delete', path: '/role-assignments/{assignment_id}', operationId: 'revokeRole', summary: 'Take a role away', tag: 'operators', roles: 'super-admin, dept-admin (not super-admin)',
    status: 204,
    handler: async (o, r, sv) => sv.operators.revoke(op(o), id(r, 'assignment_id')),
  },
  {
    method: 'get', path: '/clients', operationId: 'listClients', summary: 'Clients of your subtrees', tag: 'clients', roles: 'super-admin, dept-admin, reviewer',
    query: clientListQuery, status: 200, response: s.pageOf(s.clientBody, 'ClientPage'),
    handler: async (o, r, sv) => {
      const page = await sv.clients.list(op(o), as(r.query));
      return { ...page, items: page.items.map(s.toClient) };
    },
  },
  {
    method: 'post', path: '/clients', operationId: 'createClient', summary: 'Register a client as a draft, with its first change', tag: 'clients', roles: 'super-admin, dept-admin',
    body: newClientInput, status: 201, response: s.createdClientBody,
    handler: async (o, r, sv) => {
      const made = await sv.clients.create(op(o), r.body);
      return { client: s.toClient(made.client), change: s.toChange(made.change), ...(made.clientSecret ? { client_secret: made.clientSecret } : {}) };
    },
  },
  {
    method: 'get', path: '/clients/{client_id}', operationId: 'getClient', summary: 'A client and its pending change, with the diff', tag: 'clients', roles: 'super-admin, dept-admin, reviewer',
    status: 200, response: s.clientDetailBody,
    handler: async (o, r, sv) => {
      const d = await sv.clients.get(op(o), id(r, 'client_id'));
      return { client: s.toClient(d.client), pending: d.pending ? s.toChange(d.pending) : null };
    },
  },
  {
    method: 'post', path: '/clients/{client_id}/changes', operationId: 'proposeClientChange', summary: 'Draft a change to a client (the full new settings)', tag: 'clients', roles: 'super-admin, dept-admin',
    body: clientSettings, status: 201, response: s.changeBody,
    handler: async (o, r, sv) => s.toChange(await sv.clients.propose(op(o), id(r, 'client_id'), r.body)),
  },
  {
    method: 'post', path: '/clients/{client_id}/suspend', operationId: 'suspendClient', summary: 'Suspend an active client: the provider refuses it until resumed', tag: 'clients', roles: 'super-admin, dept-admin',
    body: suspensionInput, status: 200, response: s.clientBody,
    handler: async (o, r, sv) => s.toClient(await sv.clients.suspend(op(o), id(r, 'client_id'), r.body)),
  },
  {
    method: 'post', path: '/clients/{client_id}/resume', operationId: 'resumeClient', summary: 'Resume a suspended client', tag: 'clients', roles: 'super-admin, dept-admin',
    status: 200, response: s.clientBody,
    handler: async (o, r, sv) => s.toClient(await sv.clients.resume(op(o), id(r, 'client_id'))),
  },
  {
    method: 'post', path: '/clients/{client_id}/secret', operationId: 'rotateClientSecret', summary: 'Rotate the secret; the old one works for the grace period', tag: 'clients', roles: 'super-admin, dept-admin',
    body: rotationInput, status: 200, response: s.rotatedBody,
    handler: async (o, r, sv) => {
      const rotated = await sv.clients.rotateSecret(op(o), id(r, 'client_id'), r.body ?? {});
      return { client_secret: rotated.clientSecret, previous_secret_valid_until: rotated.previousValidUntil ? new Date(rotated.previousValidUntil).toISOString() : null };
    },
  },
  {
    method: 'get', path: '/client-changes', operationId: 'listClientChanges', summary: 'Client changes in your subtrees', tag: 'client changes', roles: 'super-admin, dept-admin, reviewer',
    query: changeListQuery,
    status: 200, response: s.pageOf(s.changeBody, 'ClientChangePage'),
    handler: async (o, r, sv) => {
      const page = await sv.clients.listChanges(op(o), as(r.query));
      return { ...page, items: page.items.map(s.toChange) };
    },
  },
  {
    method: 'get', path: '/client-changes/{change_id}', operationId: 'getClientChange', summary: 'A change with what it alters', tag: 'client changes', roles: 'super-admin, dept-admin, reviewer',
    status: 200, response: s.changeBody,
    handler: async (o, r, sv) => s.toChange(await sv.clients.getChange(op(o), id(r, 'change_id'))),
  },
  {
    method: 'put', path: '/client-changes/{change_id}', operationId: 'editClientChange', summary: 'Replace a draft change’s proposed settings', tag: 'client changes', roles: 'super-admin, dept-admin',
    body: clientSettings, status: 200, response: s.changeBody,
    handler: async (o, r, sv) => s.toChange(await sv.clients.edit(op(o), id(r, 'change_id'), r.body)),
  },
  {
    method: 'post', path: '/client-changes/{change_id}/submit', operationId: 'submitClientChange', summary: 'Submit a draft for review', tag: 'client changes', roles: 'super-admin, dept-admin',
    status: 200, response: s.changeBody,
    handler: async (o, r, sv) => s.toChange(await sv.clients.submit(op(o), id(r, 'change_id'))),
  },
  {
    method: 'post', path: '/client-changes/{change_id}/approve', operationId: 'approveClientChange', summary: 'Approve a submitted change (not your own) at the revision you reviewed: it goes live', tag: 'client changes', roles: 'super-admin, reviewer',
    body: reviewInput, status: 200, response: s.approvedBody,
    handler: async (o, r, sv) => {
      const done = await sv.clients.approve(op(o), id(r, 'change_id'), r.body ?? {});
      return { change: s.toChange(done.change), client: s.toClient(done.client) };
    },
  },
  {
    method: 'post', path: '/client-changes/{change_id}/reject', operationId: 'rejectClientChange', summary: 'Reject a submitted change (not your own) at the revision you reviewed', tag: 'client changes', roles: 'super-admin, reviewer',
    body: reviewInput, status: 200, response: s.changeBody,
    handler: async (o, r, sv) => s.toChange(await sv.clients.reject(op(o), id(r, 'change_id'), r.body ?? {})),
  },
  {
    method: 'get', path: '/keys', operationId: 'listSigningKeys', summary: 'Token signing keys', tag: 'keys', roles: 'super-admin of a root department',
    status: 200, response: s.keysBody,
    handler: async (o, _r, sv) => ({ keys: (await sv.keys.list(op(o))).map(s.toKey) }),
  },
  {
    method: 'post', path: '/keys/rotate', operationId: 'rotateSigningKeys', summary: 'Add new signing keys and retire the current ones: the new keys are published at once and sign from keys.publishSeconds later', tag: 'keys', roles: 'super-admin of a root department',
    status: 200, response: s.rotatedKeysBody,
    handler: async (o, _r, sv) => {
      const r = await sv.keys.rotate(op(o));
      return { activated: r.activated, keys: r.keys.map(s.toKey) };
    },
  },
  {
    method: 'post', path: '/credentials/{credential_id}/revoke', operationId: 'revokeCredential', summary: "Revoke an issued identity credential: its status list entry turns invalid (a department certificate's copy goes with its certificate: 409)", tag: 'credentials', roles: 'super-admin of a root department',
    body: revocationInput, status: 200, response: s.credentialBody,
    handler: async (o, r, sv) => s.toCredential(await sv.credentials.revoke(op(o), id(r, 'credential_id'), as(r.body))),
  },
  {
    method: 'post', path: '/accounts/lookup', operationId: 'lookUpAccount', summary: 'Find a citizen account by its ID number (in the body, never in a URL; the answer shows it masked). Audited', tag: 'accounts', roles: 'super-admin, reviewer of a root department',
    body: accountLookupInput, status: 200, response: s.accountBody,
    handler: async (o, r, sv) => s.toAccount(await sv.accounts.lookup(op(o), r.body)),
  },
  {
    method: 'get', path: '/accounts/{sub}', operationId: 'getAccount', summary: "A citizen account's status and sign-in summary", tag: 'accounts', roles: 'super-admin, reviewer of a root department',
    status: 200, response: s.accountBody,
    handler: async (o, r, sv) => s.toAccount(await sv.accounts.get(op(o), id(r, 'sub'))),
  },
  {
    method: 'post', path: '/accounts/{sub}/disable', operationId: 'disableAccount', summary: 'Disable an account at once: its sessions, tokens and verifiable credentials end on every instance', tag: 'accounts', roles: 'super-admin of a root department (not their own account)',
    body: disableInput, status: 200, response: s.accountBody,
    handler: async (o, r, sv) => s.toAccount(await sv.accounts.disable(op(o), id(r, 'sub'), r.body)),
  },
  {
    method: 'post', path: '/accounts/{sub}/enable-requests', operationId: 'requestAccountEnable', summary: 'Ask for a disabled account to be enabled again; another operator approves', tag: 'accounts', roles: 'super-admin of a root department (not their own account)',
    body: enableInput, status: 201, response: s.enableRequestBody,
    handler: async (o, r, sv) => s.toEnableRequest(await sv.accounts.requestEnable(op(o), id(r, 'sub'), r.body)),
  },
  {
    method: 'get', path: '/account-enable-requests', operationId: 'listAccountEnableRequests', summary: 'Requests to enable an account waiting for review, oldest first', tag: 'accounts', roles: 'super-admin, reviewer of a root department',
    query: enableRequestQuery, status: 200, response: s.pageOf(s.enableRequestBody, 'AccountEnableRequestPage'),
    handler: async (o, r, sv) => {
      const page = await sv.accounts.listEnableRequests(op(o), r.query);
      return { ...page, items: page.items.map(s.toEnableRequest) };
    },
  },
  {
    method: 'post', path: '/account-enable-requests/{request_id}/approve', operationId: 'approveAccountEnable', summary: 'Approve a request (not your own): the account may sign in again; nothing revoked comes back', tag: 'accounts', roles: 'super-admin, reviewer of a root department',
    body: enableReviewInput, status: 200, response: s.accountBody,
    handler: async (o, r, sv) => s.toAccount(await sv.accounts.approveEnable(op(o), id(r, 'request_id'), r.body ?? {})),
  },
  {
    method: 'post', path: '/account-enable-requests/{request_id}/reject', operationId: 'rejectAccountEnable', summary: 'Reject a request (not your own): the account stays disabled', tag: 'accounts', roles: 'super-admin, reviewer of a root department',
    body: enableReviewInput, status: 200, response: s.enableRequestBody,
    handler: async (o, r, sv) => s.toEnableRequest(await sv.accounts.rejectEnable(op(o), id(r, 'request_id'), r.body ?? {})),
  },
  {
    method: 'get', path: '/audit/events', operationId: 'queryAuditEvents', summary: 'Audit events, newest first, by actor, subject, client, action and time', tag: 'audit', roles: 'super-admin, auditor',
    query: auditQueryInput, status: 200, response: s.auditPageBody,
    handler: async (o, r, sv) => {
      const page = await sv.audit.query(op(o), as(r.query));
      return { events: page.events.map(s.toAuditEvent), ...(page.next !== undefined ? { next: page.next } : {}) };
    },
  },
  {
    method: 'get', path: '/audit/verify', operationId: 'verifyAuditChain', summary: 'Recompute the hash chain and name the first broken row', tag: 'audit', roles: 'super-admin, auditor',
    status: 200, response: s.chainBody,
    handler: async (o, _r, sv) => s.toChain(await sv.audit.verify(op(o))),
  },
  {
    method: 'post', path: '/certificate-types', operationId: 'createCertificateType', summary: 'Define a certificate type for a department: its names, claim schema and default validity. Its id becomes the vct verifiers trust, so the national department allots it', tag: 'certificates', roles: 'super-admin of a national department',
    body: certificateTypeInput, status: 201, response: s.certificateTypeBody,
    handler: async (o, r, sv) => s.toCertificateType(await sv.certificates.defineType(op(o), as(r.body))),
  },
  {
    method: 'get', path: '/certificate-types', operationId: 'listCertificateTypes', summary: 'Certificate types of the departments in your subtrees', tag: 'certificates', roles: 'super-admin, dept-admin',
    status: 200, response: s.certificateTypeListBody,
    handler: async (o, _r, sv) => ({ items: (await sv.certificates.listTypes(op(o))).map(s.toCertificateType) }),
  },
  {
    method: 'get', path: '/certificate-types/{type_id}', operationId: 'getCertificateType', summary: 'A certificate type with every version of its schema', tag: 'certificates', roles: 'super-admin, dept-admin',
    status: 200, response: s.certificateTypeDetailBody,
    handler: async (o, r, sv) => {
      const { type, versions } = await sv.certificates.showType(op(o), id(r, 'type_id'));
      return { type: s.toCertificateType(type), versions: versions.map((v) => s.toCertificateTypeVersion(v, type)) };
    },
  },
  {
    method: 'post', path: '/certificate-types/{type_id}/versions', operationId: 'changeCertificateType', summary: 'Change a certificate type: a new version of its names, claim schema or default validity (issued certificates keep theirs; no claim they carry may be dropped or retyped). On a type in force it is the pending_version until a second national super-admin approves it', tag: 'certificates', roles: 'super-admin, dept-admin',
    body: certificateTypeChange, status: 201, response: s.certificateTypeBody,
    handler: async (o, r, sv) => s.toCertificateType(await sv.certificates.updateType(op(o), id(r, 'type_id'), as(r.body))),
  },
  {
    method: 'post', path: '/certificate-types/{type_id}/approve', operationId: 'approveCertificateType', summary: 'Put a pending certificate type, or its pending version, in force: by a second super-admin of a national department over its department, who wrote none of what is under review, naming the version reviewed (409 if another replaced it)', tag: 'certificates', roles: 'super-admin of a national department',
    body: certificateTypeApproval, status: 200, response: s.certificateTypeBody,
    handler: async (o, r, sv) => s.toCertificateType(await sv.certificates.approveType(op(o), id(r, 'type_id'), as(r.body))),
  },
  {
    method: 'post', path: '/certificate-types/{type_id}/retire', operationId: 'retireCertificateType', summary: 'Retire a certificate type: no new pushes; issued certificates stay valid until revoked', tag: 'certificates', roles: 'super-admin, dept-admin',
    body: certificateRevocationInput, status: 200, response: s.certificateTypeBody,
    handler: async (o, r, sv) => s.toCertificateType(await sv.certificates.retireType(op(o), id(r, 'type_id'), as(r.body))),
  },
  {
    method: 'get', path: '/departments/{department_id}/certificates', operationId: 'listDepartmentCertificates', summary: "A department's certificates for its operators, newest first, by type and status; citizens by masked ID number only", tag: 'certificates', roles: 'super-admin, dept-admin',
    query: operatorCertificateQuery, status: 200, response: s.pageOf(s.listedCertificateBody, 'ListedCertificatePage'),
    handler: async (o, r, sv) => {
      const page = await sv.certificates.listForOperator(op(o), id(r, 'department_id'), as(r.query));
      return { ...page, items: page.items.map(s.toListedCertificate) };
    },
  },
  {
    method: 'post', path: '/certificates', operationId: 'pushCertificate', summary: "Push a citizen's certificate of one of your department's types (a department system's client_credentials token, scope certificates:push)", tag: 'certificates', roles: 'department system',
    caller: 'department-system', body: certificatePushInput, status: 201, response: s.certificateBody,
    handler: async (_o, r, sv, system) => s.toCertificate(await sv.certificates.push(sys(system), as(r.body))),
  },
  {
    method: 'get', path: '/certificates', operationId: 'listCertificates', summary: "Your department's certificates, newest first (a department system's token)", tag: 'certificates', roles: 'department system',
    caller: 'department-system', query: certificateListQuery, status: 200, response: s.pageOf(s.certificateBody, 'CertificatePage'),
    handler: async (_o, r, sv, system) => {
      const page = await sv.certificates.listForSystem(sys(system), as(r.query));
      return { ...page, items: page.items.map(s.toCertificate) };
    },
  },
  {
    method: 'post', path: '/certificates/{certificate_id}/revoke', operationId: 'revokeCertificate', summary: 'Revoke a certificate: it and every wallet copy turn invalid in their status lists', tag: 'certificates', roles: 'super-admin, dept-admin',
    body: certificateRevocationInput, status: 200, response: s.certificateBody,
    handler: async (o, r, sv) => s.toCertificate(await sv.certificates.revoke(op(o), id(r, 'certificate_id'), as(r.body))),
  },
  {
    method: 'post', path: '/certificates/{certificate_id}/suspend', operationId: 'suspendCertificate', summary: 'Suspend a valid certificate: it and every wallet copy read "suspended" in their status lists until resumed', tag: 'certificates', roles: 'super-admin, dept-admin',
    body: certificateRevocationInput, status: 200, response: s.certificateBody,
    handler: async (o, r, sv) => s.toCertificate(await sv.certificates.suspend(op(o), id(r, 'certificate_id'), true, as(r.body))),
  },
  {
    method: 'post', path: '/certificates/{certificate_id}/resume', operationId: 'resumeCertificate', summary: 'Resume a suspended certificate: it and its wallet copies are valid again', tag: 'certificates', roles: 'super-admin, dept-admin',
    body: certificateRevocationInput, status: 200, response: s.certificateBody,
    handler: async (o, r, sv) => s.toCertificate(await sv.certificates.suspend(op(o), id(r, 'certificate_id'), false, as(r.body))),
  },
];
