import { html } from '../../http/html.js';
import { typeStatusOf, type CertificateType } from '../../credentials/index.js';
import type { ListedCertificate } from '../certificate-service.js';
import type { Department } from '../departments.js';
import type { Page } from '../paging.js';
import { consoleLayout, type PageFrame } from './layout.js';
import { csrfField, pager, when } from './pages.js';

export interface CertificateFilter {
  department_id: string;
  type?: string | undefined;
  status?: string | undefined;
}

/**
 * The operator's certificates page: the types their departments defined, and one department's
 * certificates filtered by type and status. The citizen appears only by masked ID number; the
 * claims never appear (they are the citizen's, for the wallet to show).
 */
export function certificatesPage(f: PageFrame, types: CertificateType[], departments: Department[], filter: CertificateFilter, list: Page<ListedCertificate> | undefined): string {
  const { t } = f;
  const c = t.cert;
  const name = (n: { 'zh-CN': string; en: string }) => (f.locale === 'en' ? n.en : n['zh-CN']);
  const deptName = new Map(departments.map((d) => [d.id, d.name]));
  const typeName = new Map(types.map((x) => [x.id, name(x.names)]));
  const typeRows = types.map(
    (x) => html`<tr data-type="${x.id}"><td>${name(x.names)}</td><td><code class="id">${x.id}</code></td><td>${deptName.get(x.departmentId) ?? x.departmentId}</td><td>${String(x.version)}</td><td>${String(x.validityDays)}</td><td><span class="tag">${c.typeStatus[typeStatusOf(x)]}</span></td></tr>`,
  );
  const option = (value: string, label: string, selected: string | undefined) => html`<option value="${value}"${selected === value ? html` selected` : ''}>${label}</option>`;
  const rows = (list?.items ?? []).map(
    (x) => html`<tr data-certificate="${x.id}"><td><code class="id">${x.id}</code></td><td>${typeName.get(x.typeId) ?? x.typeId}</td><td><code>${x.citizenIdMasked ?? '—'}</code></td><td data-status="${x.status}"><span class="tag">${c.status[x.status] ?? x.status}</span></td><td>${when(f, x.validUntil)}</td><td><a href="/admin/certificates/${x.id}" aria-label="${c.showLabel(x.id)}">${c.show}</a></td></tr>`,
  );
  return consoleLayout(
    f,
    c.title,
    html`<p class="lead">${c.lead}</p>
${types.length
  ? html`<table><caption>${c.typesCaption}</caption><thead><tr><th scope="col">${t.name}</th><th scope="col">${c.typeId}</th><th scope="col">${t.department}</th><th scope="col">${c.version}</th><th scope="col">${c.validityDays}</th><th scope="col">${t.status}</th></tr></thead><tbody>${typeRows}</tbody></table>`
  : html`<p>${c.noTypes}</p>`}
<h2>${c.listCaption}</h2>
<form method="get" action="/admin/certificates" role="search" class="inline">
<div><label for="department_id">${c.filterDepartment}</label><select id="department_id" name="department_id">${departments.map((d) => option(d.id, d.name, filter.department_id))}</select></div>
<div><label for="type">${c.filterType}</label><select id="type" name="type">${option('', t.any, filter.type ?? '')}${types.map((x) => option(x.id, name(x.names), filter.type))}</select></div>
<div><label for="status">${t.filterStatus}</label><select id="status" name="status">${option('', t.any, filter.status ?? '')}${['valid', 'suspended', 'revoked'].map((s) => option(s, c.status[s]!, filter.status))}</select></div>
<button type="submit">${t.search}</button></form>
${list && list.items.length
  ? html`<div class="table-scroll"><table><caption>${c.listCaption}</caption><thead><tr><th scope="col">${c.certificateId}</th><th scope="col">${c.filterType}</th><th scope="col">${c.citizen}</th><th scope="col">${t.status}</th><th scope="col">${c.validUntil}</th><th scope="col"><span class="skip">${c.show}</span></th></tr></thead><tbody>${rows}</tbody></table></div>
${pager(f, list, '/admin/certificates', { department_id: filter.department_id, type: filter.type, status: filter.status })}`
  : html`<p>${c.noCertificates}</p>`}`,
  );
}

/** One certificate, with the forms that suspend, resume or revoke it, each with a reason. */
export function certificatePage(f: PageFrame, x: ListedCertificate, type: CertificateType | undefined, department: Department | undefined): string {
  const { t } = f;
  const c = t.cert;
  const csrf = f.chrome!.csrf;
  const reasonField = (action: string) => html`<label for="reason-${action}">${c.reason}</label>
<p class="hint" id="reason-${action}-hint">${c.reasonHint}</p>
<input type="text" id="reason-${action}" name="reason" maxlength="200" required aria-describedby="reason-${action}-hint">`;
  const form = (action: 'suspend' | 'resume' | 'revoke', label: string, danger: boolean, withReason: boolean) =>
    html`<form method="post" action="/admin/certificates/${x.id}/${action}" class="card">${csrfField(csrf)}${withReason ? reasonField(action) : ''}
${action === 'revoke' ? html`<p class="warning">${c.revokeWarning}</p>` : ''}<button type="submit"${danger ? html` class="danger"` : ''}>${label}</button></form>`;
  const actions =
    x.status === 'valid'
      ? html`${form('suspend', c.suspend, false, true)}${form('revoke', c.revoke, true, true)}`
      : x.status === 'suspended'
        ? html`${form('resume', c.resume, false, false)}${form('revoke', c.revoke, true, true)}`
        : '';
  const typeName = type ? (f.locale === 'en' ? type.names.en : type.names['zh-CN']) : x.typeId;
  return consoleLayout(
    f,
    `${c.detailTitle} · ${typeName}`,
    html`<dl data-certificate="${x.id}">
<dt>${c.certificateId}</dt><dd><code class="id">${x.id}</code></dd>
<dt>${c.filterType}</dt><dd>${typeName} (<code>${x.typeId}</code>, ${c.version} ${String(x.typeVersion)})</dd>
<dt>${c.filterDepartment}</dt><dd>${department?.name ?? x.departmentId}</dd>
<dt>${c.citizen}</dt><dd><code>${x.citizenIdMasked ?? '—'}</code></dd>
<dt>${t.status}</dt><dd data-status="${x.status}">${c.status[x.status] ?? x.status}</dd>
<dt>${c.validFrom}</dt><dd>${when(f, x.validFrom)}</dd>
<dt>${c.validUntil}</dt><dd>${when(f, x.validUntil)}</dd>
<dt>${c.pushedBy}</dt><dd><code class="id">${x.pushedBy}</code></dd>
</dl>
<div class="actions">${actions}</div>
<p><a href="/admin/certificates?department_id=${x.departmentId}">${c.back}</a></p>`,
  );
}
