import { html, type SafeHtml } from '../../http/html.js';
import type { AuditEvent, ChainReport } from '../../audit/index.js';
import type { ClientChange, ClientRecord, ClientSettings } from '../../clients/index.js';
import type { SigningKeyInfo } from '../../keys/index.js';
import type { ClientDetail } from '../client-service.js';
import type { Dashboard } from '../dashboard-service.js';
import type { Department } from '../departments.js';
import type { OperatorView } from '../operator-service.js';
import type { Page } from '../paging.js';
import type { Operator } from '../roles.js';
import { dangerousSettings, tookPart } from '../review-rules.js';
import { ROLES } from '../roles.js';
import { clientForm, formFromSettings, type ClientFormOptions } from './client-form.js';
import { dashboardSection } from './dashboard-page.js';
import { consoleLayout, type PageFrame } from './layout.js';
import { jwkThumbprint } from './jwk-thumbprint.js';
import { SERVICE_TIME_ZONE, zonedTime } from '../../http/zoned-time.js';
import { auditActionLabel } from '../../audit/index.js';

type Diff = { field: string; before: unknown; after: unknown }[];

/**
 * Times with their zone, alike in both languages: operators compare them with other logs. A
 * narrow column may put the zone on a line of its own, never break the date or the time.
 */
export const when = (_f: PageFrame, ms: number | string | undefined) => {
  if (ms === undefined) return '—';
  const d = new Date(ms);
  const [day, clock, zone] = zonedTime(d, SERVICE_TIME_ZONE).split(' ');
  return html`<time datetime="${d.toISOString()}"><span class="nowrap">${day} ${clock}</span> <span class="nowrap">${zone}</span></time>`;
};

/** A setting's value as people read it. */
function shown(f: PageFrame, field: string, v: unknown): SafeHtml | string {
  const { t } = f;
  // Unset is no restriction here, the opposite of "none": a change that drops the list or the level
  // opens every channel, or any level, and must read so.
  if (field === 'allowed_channels' && (v === null || v === undefined)) return t.allChannels;
  if (field === 'min_acr' && (v === null || v === undefined)) return t.acrs['']!;
  if (v === null || v === undefined || (Array.isArray(v) && v.length === 0)) return t.none;
  if (typeof v === 'boolean') return v ? t.yes : t.no;
  if (field === 'citizen_id_release') return t.releases[String(v)] ?? String(v);
  if (field === 'min_acr') return t.acrs[String(v)] ?? String(v);
  if (field === 'allowed_channels') return (v as string[]).map((c) => t.channels[c] ?? c).join('、');
  if (field === 'grant_types') return (v as string[]).map((g) => t.grantTypes[g] ?? g).join('、');
  if (field === 'kind') return t.kinds[String(v)] ?? String(v);
  if (field === 'jwks') return keysShown(f, v);
  if (Array.isArray(v)) return html`${v.map((x, i) => html`${i ? html`<br>` : ''}${String(x)}`)}`;
  return String(v);
}

/** Each key of a JWK Set: its name (its `kid`, else its place in the set) and its thumbprint. */
function keysIn(jwks: unknown): { name: string; thumbprint: string }[] {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  return (Array.isArray(keys) ? keys : []).map((k: unknown, i) => {
    const jwk = (k !== null && typeof k === 'object' ? k : {}) as Record<string, unknown>;
    return { name: typeof jwk.kid === 'string' ? jwk.kid : `#${i + 1}`, thumbprint: jwkThumbprint(jwk) };
  });
}

/**
 * Keys are long, so they are shown by name, but a `kid` is only a label that whoever drafts the
 * change chooses: under an unchanged one a key of their own would read as no change at all. So
 * each key comes with its thumbprint, and, given the keys `before` a change, a name that now
 * stands for other key material is flagged.
 */
function keysShown(f: PageFrame, jwks: unknown, before?: unknown): SafeHtml | string {
  const keys = keysIn(jwks);
  if (keys.length === 0) return f.t.none;
  const earlier = new Map(keysIn(before).map((k) => [k.name, k.thumbprint]));
  return html`${keys.map((k, i) => {
    const was = earlier.get(k.name);
    return html`${i ? html`<br>` : ''}<span data-key>${k.name} <span class="hint">${f.t.thumbprint}</span> <code class="id" data-thumbprint>${k.thumbprint}</code>${
      was !== undefined && was !== k.thumbprint ? html` <strong class="tag danger" data-key-replaced>${f.t.keyReplaced}</strong>` : ''
    }</span>`;
  })}`;
}

/** The badge and warning for settings that need national review (first-party, full ID release). */
function nationalReviewWarning(f: PageFrame, s: ClientSettings | undefined, say: (fields: string) => string): SafeHtml | string {
  const fields = s ? dangerousSettings(s) : [];
  if (fields.length === 0) return '';
  const names = fields.map((x) => f.t.fields[x] ?? x).join('、');
  return html`<p class="warning" role="note" data-national-review><span class="tag danger">${f.t.nationalReviewBadge}</span> ${say(names)}</p>`;
}

export const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`;

/** Links to the previous and next pages, keeping the other query parameters. */
export function pager(f: PageFrame, p: { page: number; per_page: number; total: number }, base: string, query: Record<string, string | undefined>): SafeHtml {
  const pages = Math.max(1, Math.ceil(p.total / p.per_page));
  const link = (page: number) => {
    const q = new URLSearchParams(Object.entries({ ...query, page: String(page) }).filter((e): e is [string, string] => !!e[1]));
    return `${base}?${q.toString()}`;
  };
  return html`<nav aria-label="${f.t.pagination}" class="actions"><span>${f.t.pageOf(p.page, pages, p.total)}</span>
${p.page > 1 ? html`<a href="${link(p.page - 1)}" rel="prev">${f.t.previous}</a>` : ''}
${p.page < pages ? html`<a href="${link(p.page + 1)}" rel="next">${f.t.next}</a>` : ''}</nav>`;
}

function diffTable(f: PageFrame, diff: Diff): SafeHtml {
  const { t } = f;
  if (diff.length === 0) return html`<p>${t.noDiff}</p>`;
  return html`<table data-diff><caption>${t.diffCaption}</caption>
<thead><tr><th scope="col">${t.field}</th><th scope="col">${t.before}</th><th scope="col">${t.after}</th></tr></thead>
<tbody>${diff.map(
    (d) => html`<tr data-field="${d.field}"><th scope="row">${t.fields[d.field] ?? d.field}</th><td><del>${shown(f, d.field, d.before)}</del></td><td><ins>${d.field === 'jwks' ? keysShown(f, d.after, d.before) : shown(f, d.field, d.after)}</ins></td></tr>`,
  )}</tbody></table>`;
}

function settingsList(f: PageFrame, s: ClientSettings): SafeHtml {
  const fields: (keyof ClientSettings)[] = ['kind', 'client_name', 'redirect_uris', 'post_logout_redirect_uris', 'scope', 'grant_types', 'citizen_id_release', 'min_acr', 'allowed_channels', 'backchannel_logout_uri', 'jwks', 'jwks_uri', 'backchannel_client_notification_endpoint', 'public', 'first_party', 'verified_claims_allowed', 'dpop_bound_access_tokens'];
  return html`<dl>${fields.map((k) => html`<dt>${f.t.fields[k] ?? k}</dt><dd>${shown(f, k, s[k])}</dd>`)}</dl>`;
}

export const errorPage = (f: PageFrame, message: string) => consoleLayout(f, f.t.errorTitle, html`<p class="error" role="alert">${message}</p><p><a href="/admin">${f.t.homeTitle}</a></p>`);

export const signedOutPage = (f: PageFrame) =>
  consoleLayout(f, f.t.signedOutTitle, html`<p>${f.t.signedOutBody}</p><p><a class="button" href="/admin">${f.t.signInAgain}</a></p>`);

/** The console's home: the dashboard (for operators who read apps or the audit log), then the operator's roles. */
export function homePage(f: PageFrame, op: Operator, departments: Map<string, Department>, dashboard: Dashboard | undefined): string {
  const { t } = f;
  return consoleLayout(
    f,
    t.homeTitle,
    html`${dashboard ? dashboardSection(f, dashboard) : html`<p class="lead">${t.homeLead}</p>`}
<table><caption>${t.yourRoles}</caption><thead><tr><th scope="col">${t.role}</th><th scope="col">${t.department}</th></tr></thead>
<tbody>${op.assignments.map((a) => html`<tr><td>${t.roles[a.role] ?? a.role}</td><td>${departments.get(a.departmentId)?.name ?? a.departmentId}</td></tr>`)}</tbody></table>`,
  );
}

export function clientsPage(f: PageFrame, p: Page<ClientRecord>, q: { q?: string | undefined; status?: string | undefined }, canCreate: boolean): string {
  const { t } = f;
  const rows = p.items.map(
    (c) => html`<tr data-client="${c.clientId}"><td><a href="/admin/clients/${c.clientId}">${c.name}</a></td><td><span class="tag">${t.clientStatus[c.status] ?? c.status}</span></td><td><code>${c.clientId}</code></td><td>${when(f, c.updatedAt)}</td></tr>`,
  );
  return consoleLayout(
    f,
    t.clientsTitle,
    html`${canCreate ? html`<p><a class="button" href="/admin/clients/new">${t.newClient}</a></p>` : ''}
<form method="get" action="/admin/clients" role="search" class="inline">
<div><label for="q">${t.searchLabel}</label><input type="search" id="q" name="q" value="${q.q ?? ''}"></div>
<div><label for="status">${t.filterStatus}</label><select id="status" name="status"><option value="">${t.any}</option>${['draft', 'active', 'suspended'].map(
      (s) => html`<option value="${s}"${q.status === s ? html` selected` : ''}>${t.clientStatus[s]}</option>`,
    )}</select></div>
<button type="submit">${t.search}</button></form>
${p.items.length
  ? html`<table><caption>${t.clientsTitle}</caption><thead><tr><th scope="col">${t.name}</th><th scope="col">${t.status}</th><th scope="col">${t.clientId}</th><th scope="col">${t.updated}</th></tr></thead><tbody>${rows}</tbody></table>`
  : html`<p>${t.noClients}</p>`}
${pager(f, p, '/admin/clients', { q: q.q, status: q.status })}`,
  );
}

export const newClientPage = (f: PageFrame, form: Omit<ClientFormOptions, 't' | 'action' | 'withPublic' | 'submitLabel'>) =>
  consoleLayout(f, f.t.newClientTitle, html`<p class="lead">${f.t.newClientLead}</p>${clientForm({ ...form, t: f.t, action: '/admin/clients', withPublic: true, submitLabel: f.t.saveDraft })}`);

export function secretShownPage(f: PageFrame, title: string, clientId: string, secret: string | undefined, extra: string | undefined): string {
  const { t } = f;
  return consoleLayout(
    f,
    title,
    html`${extra ? html`<p>${extra}</p>` : ''}
<dl><dt>${t.clientId}</dt><dd><code data-client-id>${clientId}</code></dd>
${secret ? html`<dt>${t.clientSecret}</dt><dd><p class="secret" data-client-secret>${secret}</p></dd>` : ''}</dl>
${secret ? html`<p class="notice" role="status">${t.secretOnce}</p>` : ''}
<p><a class="button" href="/admin/clients/${clientId}">${t.goToClient}</a></p>`,
  );
}

export function clientPage(f: PageFrame, d: ClientDetail, dept: Department | undefined, may: { write: boolean; review: boolean; self: string }): string {
  const { t } = f;
  const c = d.client;
  const csrf = f.chrome!.csrf;
  const pending = d.pending;
  const actions: SafeHtml[] = [];
  if (may.write && !pending) actions.push(html`<a class="button" href="/admin/clients/${c.clientId}/change">${t.proposeChange}</a>`);
  if (may.write && c.status === 'active') {
    actions.push(html`<form method="post" action="/admin/clients/${c.clientId}/suspend">${csrfField(csrf)}<label for="reason">${t.suspendReason}</label><input type="text" id="reason" name="reason" required><button type="submit" class="danger">${t.suspend}</button></form>`);
  }
  if (may.write && c.status === 'suspended') actions.push(html`<form method="post" action="/admin/clients/${c.clientId}/resume">${csrfField(csrf)}<button type="submit">${t.resume}</button></form>`);
  if (may.write && c.secretDigest) {
    actions.push(html`<form method="post" action="/admin/clients/${c.clientId}/secret">${csrfField(csrf)}<label for="grace">${t.graceSeconds}</label><input type="number" id="grace" name="grace_seconds" min="0" value="604800"><button type="submit" class="secondary">${t.rotateSecret}</button></form>`);
  }
  return consoleLayout(
    f,
    t.clientTitle(c.name),
    html`${nationalReviewWarning(f, c.settings, t.dangerousClient)}<dl><dt>${t.status}</dt><dd><span class="tag" data-status="${c.status}">${t.clientStatus[c.status] ?? c.status}</span></dd>
<dt>${t.clientId}</dt><dd><code>${c.clientId}</code></dd>
<dt>${t.department}</dt><dd>${dept?.name ?? c.departmentId}</dd>
<dt>${t.updated}</dt><dd>${when(f, c.updatedAt)}</dd></dl>
<h2>${t.pendingChange}</h2>
${pending
  ? html`<div class="card"><p><a href="/admin/changes/${pending.id}">${t.changeKind[pending.kind]} · ${t.changeStatus[pending.status]}</a></p>${nationalReviewWarning(f, pending.proposed, t.nationalReview)}${diffTable(f, pending.diff)}
${pending.status === 'draft' && may.write ? html`<div class="actions"><a href="/admin/changes/${pending.id}/edit">${t.editDraft}</a><form method="post" action="/admin/changes/${pending.id}/submit">${csrfField(csrf)}<button type="submit">${t.submitForReview}</button></form></div>` : ''}</div>`
  : html`<p>${t.noPending}</p>`}
<h2>${t.settings}</h2>
${c.settings ? settingsList(f, c.settings) : html`<p>${t.notApprovedYet}</p>`}
${actions.length ? html`<div class="actions">${actions}</div>` : ''}`,
  );
}

/** The settings form for a new change to `c`, or (with `draft`) for that draft change's proposal. */
export const proposePage = (f: PageFrame, c: ClientRecord, form: { values?: Record<string, string> | undefined; errors: Record<string, string>; draft?: ClientChange | undefined }) =>
  consoleLayout(
    f,
    f.t.proposeTitle(c.name),
    html`<p class="lead">${f.t.proposeLead}</p>${clientForm({
      t: f.t,
      action: form.draft ? `/admin/changes/${form.draft.id}/edit` : `/admin/clients/${c.clientId}/change`,
      csrf: f.chrome!.csrf,
      values: form.values ?? formFromSettings(form.draft?.proposed ?? c.settings ?? {}),
      errors: form.errors,
      withPublic: false,
      submitLabel: f.t.saveDraft,
    })}`,
  );

export function changesPage(f: PageFrame, p: Page<ClientChange>, q: { status?: string | undefined }): string {
  const { t } = f;
  const rows = p.items.map(
    (c) => html`<tr data-change="${c.id}"><td><a href="/admin/changes/${c.id}">${c.proposed.client_name}</a></td><td>${t.changeKind[c.kind]}</td><td><span class="tag">${t.changeStatus[c.status]}</span></td><td><code>${c.authorId}</code></td><td>${when(f, c.submittedAt ?? c.createdAt)}</td></tr>`,
  );
  return consoleLayout(
    f,
    t.changesTitle,
    html`<form method="get" action="/admin/changes" class="inline">
<div><label for="status">${t.filterStatus}</label><select id="status" name="status"><option value="">${t.any}</option>${['draft', 'submitted', 'approved', 'rejected'].map(
      (s) => html`<option value="${s}"${q.status === s ? html` selected` : ''}>${t.changeStatus[s]}</option>`,
    )}</select></div><button type="submit">${t.search}</button></form>
${p.items.length
  ? html`<table><caption>${t.changesTitle}</caption><thead><tr><th scope="col">${t.name}</th><th scope="col">${t.kind}</th><th scope="col">${t.status}</th><th scope="col">${t.author}</th><th scope="col">${t.updated}</th></tr></thead><tbody>${rows}</tbody></table>`
  : html`<p>${t.noChanges}</p>`}
${pager(f, p, '/admin/changes', { status: q.status })}`,
  );
}

export function changePage(f: PageFrame, c: ClientChange & { diff: Diff; client: ClientRecord }, may: { review: boolean; write: boolean; self: string }): string {
  const { t } = f;
  const csrf = f.chrome!.csrf;
  const own = tookPart(c, may.self);
  let review: SafeHtml | string = '';
  if (c.status === 'submitted' && may.review) {
    review = own
      ? html`<p class="notice" role="note">${t.ownChange}</p>`
      : html`<form method="post" action="/admin/changes/${c.id}/review">${csrfField(csrf)}<input type="hidden" name="revision" value="${String(c.revision)}">
<label for="note">${t.reviewNote}</label><textarea id="note" name="note" maxlength="500"></textarea>
<div class="actions"><button type="submit" name="decision" value="approve">${t.approve}</button><button type="submit" name="decision" value="reject" class="danger">${t.reject}</button></div></form>`;
  }
  return consoleLayout(
    f,
    t.changeTitle(c.proposed.client_name),
    html`${nationalReviewWarning(f, c.proposed, t.nationalReview)}<dl><dt>${t.status}</dt><dd><span class="tag" data-status="${c.status}">${t.changeStatus[c.status]}</span></dd>
<dt>${t.kind}</dt><dd>${t.changeKind[c.kind]}</dd>
<dt>${t.clientId}</dt><dd><a href="/admin/clients/${c.clientId}">${c.clientId}</a></dd>
<dt>${t.author}</dt><dd><code>${c.authorId}</code></dd>
<dt>${t.participants}</dt><dd data-participants>${c.participants.map((p, i) => html`${i ? '、' : ''}<code>${p}</code>`)}</dd>
${c.reviewerId ? html`<dt>${t.reviewedBy}</dt><dd><code>${c.reviewerId}</code>${c.reviewNote ? html` — ${c.reviewNote}` : ''}</dd>` : ''}</dl>
<h2>${t.diffCaption}</h2>
${diffTable(f, c.diff)}
${c.status === 'draft' && may.write ? html`<form method="post" action="/admin/changes/${c.id}/submit">${csrfField(csrf)}<button type="submit">${t.submitForReview}</button></form>` : ''}
${review}`,
  );
}

export function departmentsPage(f: PageFrame, p: Page<Department>, q: { q?: string | undefined }, create: { parents: Department[]; errors: Record<string, string>; values: Record<string, string> }): string {
  const { t } = f;
  const byId = new Map(p.items.map((d) => [d.id, d]));
  const rows = p.items.map(
    (d) => html`<tr data-department="${d.id}"><td>${d.name}</td><td>${t.levels[d.level] ?? d.level}</td><td>${d.parentId ? (byId.get(d.parentId)?.name ?? '—') : '—'}</td><td><code>${d.id}</code></td></tr>`,
  );
  const err = (name: string) => (create.errors[name] ? html`<p class="field-error" id="d-${name}-error">${create.errors[name]}</p>` : '');
  const inv = (name: string) => (create.errors[name] ? html` aria-invalid="true" aria-describedby="d-${name}-error"` : '');
  const form = create.parents.length
    ? html`<h2>${t.newDepartment}</h2><form method="post" action="/admin/departments">${csrfField(f.chrome!.csrf)}
<label for="d-parent_id">${t.parent}</label><select id="d-parent_id" name="parent_id"${inv('parent_id')}>${create.parents.map((d) => html`<option value="${d.id}"${create.values.parent_id === d.id ? html` selected` : ''}>${d.name}</option>`)}</select>${err('parent_id')}
<label for="d-name">${t.name}</label><input type="text" id="d-name" name="name" value="${create.values.name ?? ''}"${inv('name')}>${err('name')}
<label for="d-level">${t.level}</label><select id="d-level" name="level"${inv('level')}>${['province', 'city', 'district'].map((l) => html`<option value="${l}"${create.values.level === l ? html` selected` : ''}>${t.levels[l]}</option>`)}</select>${err('level')}
<button type="submit">${t.create}</button></form>`
    : '';
  return consoleLayout(
    f,
    t.departmentsTitle,
    html`<form method="get" action="/admin/departments" role="search" class="inline"><div><label for="q">${t.searchLabel}</label><input type="search" id="q" name="q" value="${q.q ?? ''}"></div><button type="submit">${t.search}</button></form>
<table><caption>${t.departmentsTitle}</caption><thead><tr><th scope="col">${t.name}</th><th scope="col">${t.level}</th><th scope="col">${t.parent}</th><th scope="col">ID</th></tr></thead><tbody>${rows}</tbody></table>
${pager(f, p, '/admin/departments', { q: q.q })}
${form}`,
  );
}

export function operatorsPage(f: PageFrame, p: Page<OperatorView>, q: { q?: string | undefined }, departments: Map<string, Department>, grant: { errors: Record<string, string>; values: Record<string, string> }): string {
  const { t } = f;
  const csrf = f.chrome!.csrf;
  const rows = p.items.flatMap((o) =>
    o.assignments.map(
      (a) => html`<tr><td>${o.name} <code>${o.sub}</code></td><td>${t.roles[a.role] ?? a.role}</td><td>${departments.get(a.department_id)?.name ?? a.department_id}</td>
<td><form method="post" action="/admin/operators/revoke">${csrfField(csrf)}<input type="hidden" name="assignment_id" value="${a.id}"><button type="submit" class="danger" aria-label="${t.revokeLabel(t.roles[a.role] ?? a.role, o.name)}">${t.revoke}</button></form></td></tr>`,
    ),
  );
  const err = (name: string) => (grant.errors[name] ? html`<p class="field-error" id="g-${name}-error">${grant.errors[name]}</p>` : '');
  const inv = (name: string) => (grant.errors[name] ? html` aria-invalid="true" aria-describedby="g-${name}-error"` : '');
  return consoleLayout(
    f,
    t.operatorsTitle,
    html`<form method="get" action="/admin/operators" role="search" class="inline"><div><label for="q">${t.searchLabel}</label><input type="search" id="q" name="q" value="${q.q ?? ''}"></div><button type="submit">${t.search}</button></form>
${rows.length ? html`<table><caption>${t.operatorsTitle}</caption><thead><tr><th scope="col">${t.name}</th><th scope="col">${t.role}</th><th scope="col">${t.department}</th><th scope="col"><span class="hint">${t.revoke}</span></th></tr></thead><tbody>${rows}</tbody></table>` : html`<p>${t.noOperators}</p>`}
${pager(f, p, '/admin/operators', { q: q.q })}
<h2>${t.assignRole}</h2>
${grant.errors._ ? html`<p class="error" role="alert">${grant.errors._}</p>` : ''}
<form method="post" action="/admin/operators">${csrfField(csrf)}
<label for="g-identifier">${t.accountIdentifier}</label><input type="text" id="g-identifier" name="identifier" autocomplete="off" value=""${inv('identifier')}>${err('identifier')}
<label for="g-role">${t.role}</label><select id="g-role" name="role">${ROLES.map((r) => html`<option value="${r}"${grant.values.role === r ? html` selected` : ''}>${t.roles[r]}</option>`)}</select>
<label for="g-department_id">${t.department}</label><select id="g-department_id" name="department_id"${inv('department_id')}>${[...departments.values()].map((d) => html`<option value="${d.id}"${grant.values.department_id === d.id ? html` selected` : ''}>${d.name}</option>`)}</select>${err('department_id')}
<button type="submit">${t.grant}</button></form>`,
  );
}

/**
 * An event's details as JSON, with every character that does not show (C1 controls, zero-width and
 * bidirectional marks) written as its escape: an operator's free text (a reason, a note) must not
 * turn the rest of the record around, or hide part of it, on the page that is there to expose it.
 */
const detailsShown = (details: Record<string, unknown>) =>
  JSON.stringify(details).replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, (c) =>
    // Each UTF-16 unit, as JSON writes one (a tag character beyond the BMP is two).
    Array.from({ length: c.length }, (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );

export function auditPage(f: PageFrame, events: AuditEvent[], next: number | undefined, q: Record<string, string | undefined>, errors: Record<string, string>, chain: ChainReport | undefined): string {
  const { t } = f;
  const filter = (name: string, label: string, type = 'text') =>
    html`<div><label for="a-${name}">${label}</label><input type="${type}" id="a-${name}" name="${name}" value="${q[name] ?? ''}"${errors[name] ? html` aria-invalid="true" aria-describedby="a-${name}-error"` : ''}>${errors[name] ? html`<p class="field-error" id="a-${name}-error">${errors[name]}</p>` : ''}</div>`;
  const rows = events.map(
    (e) => html`<tr data-event="${e.id}"><td>${e.id}</td><td>${when(f, e.at)}</td><td>${auditActionLabel(f.locale, e.action, 'operator')}<br><code class="id">${e.action}</code></td><td>${t.actorTypes[e.actorType] ?? e.actorType}${e.actorId ? html`<br><code class="id">${e.actorId}</code>` : ''}</td><td>${e.accountId ? html`<code class="id">${e.accountId}</code>` : ''}</td><td>${e.clientId ? html`<code class="id">${e.clientId}</code>` : ''}</td><td class="details"><code class="json">${e.details ? detailsShown(e.details) : ''}</code></td></tr>`,
  );
  const older = next !== undefined ? `/admin/audit?${new URLSearchParams(Object.entries({ ...q, before: String(next) }).filter((x): x is [string, string] => !!x[1])).toString()}` : undefined;
  return consoleLayout(
    f,
    t.auditTitle,
    html`${chain ? html`<p class="${chain.intact ? 'notice' : 'error'}" role="status" data-chain="${chain.intact ? 'intact' : 'broken'}">${chain.firstBroken ? t.chainBroken(chain.firstBroken.id, chain.firstBroken.reason) : t.chainIntact(chain.checked)}</p>` : ''}
<form method="post" action="/admin/audit/verify">${csrfField(f.chrome!.csrf)}<button type="submit" class="secondary">${t.verifyChain}</button></form>
<h2>${t.filters}</h2>
<form method="get" action="/admin/audit" class="inline">
${filter('actor', t.actor)}${filter('subject', t.subject)}${filter('client_id', t.clientId)}${filter('action', t.action)}
${filter('from', t.from, 'datetime-local')}${filter('to', t.to, 'datetime-local')}
<button type="submit">${t.search}</button></form>
${events.length
  ? html`<div class="table-scroll" role="region" aria-label="${t.auditTitle}" tabindex="0"><table><caption>${t.auditTitle}</caption><thead><tr><th scope="col">#</th><th scope="col">${t.at}</th><th scope="col">${t.action}</th><th scope="col">${t.actor}</th><th scope="col">${t.subject}</th><th scope="col">${t.clientId}</th><th scope="col">${t.details}</th></tr></thead><tbody>${rows}</tbody></table></div>`
  : html`<p>${t.noEvents}</p>`}
${older ? html`<p><a href="${older}" rel="next">${t.olderEvents}</a></p>` : ''}`,
  );
}

export function keysPage(f: PageFrame, keys: SigningKeyInfo[], canRotate: boolean): string {
  const { t } = f;
  return consoleLayout(
    f,
    t.keysTitle,
    html`<table><caption>${t.keysTitle}</caption><thead><tr><th scope="col">${t.kid}</th><th scope="col">${t.alg}</th><th scope="col">${t.status}</th><th scope="col">${t.created}</th><th scope="col">${t.retired}</th></tr></thead>
<tbody>${keys.map((k) => html`<tr><td><code>${k.kid}</code></td><td>${k.alg}</td><td>${t.keyStatus[k.status]}${k.signsFrom ? html` → ${when(f, k.signsFrom)}` : ''}</td><td>${when(f, k.createdAt)}</td><td>${k.retiredAt ? when(f, k.retiredAt) : '—'}</td></tr>`)}</tbody></table>
${canRotate ? html`<form method="post" action="/admin/keys/rotate">${csrfField(f.chrome!.csrf)}<button type="submit" class="danger">${t.rotateKeys}</button></form>` : ''}`,
  );
}
