import { html, type SafeHtml } from '../../http/html.js';
import { CLIENT_GRANT_TYPES, CLIENT_KINDS, type ClientSettings } from '../../clients/index.js';
import type { Department } from '../departments.js';
import type { ConsoleMessages } from './i18n.js';

const GRANTS = CLIENT_GRANT_TYPES;
const KINDS = CLIENT_KINDS;
const CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const;
const RELEASES = ['none', 'masked', 'pseudonym', 'full'] as const;
const ACRS = ['', 'urn:yihao:loa:1', 'urn:yihao:loa:2', 'urn:yihao:loa:3'] as const;

const lines = (s: string | undefined) => (s ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

/** A JWK Set typed into the form; what does not parse goes on as typed, for the schema to refuse. */
const jwksFrom = (text: string | undefined): unknown => {
  if (!text?.trim()) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
};

/**
 * The form's fields as the settings the API takes. Nothing is checked here: the service validates
 * the result with the one client schema (as for the API and the CLI), and its field errors come
 * back to this form. A new app's kind fills in the grants, public and DPoP left unticked; a change
 * starts from `base` (the settings it changes), so that what the form does not show is kept.
 */
export function settingsFromForm(form: Record<string, string>, opts: { fixedPublic?: boolean | undefined; base?: ClientSettings | undefined } = {}): Record<string, unknown> {
  const allowed = CHANNELS.filter((c) => form[`channel_${c}`] === 'on');
  const grants = GRANTS.filter((g) => form[`grant_${g}`] === 'on');
  const creating = opts.base === undefined && opts.fixedPublic === undefined;
  const { kind, public: wasPublic, application_type, subject_type, sector_identifier_uri, security_profile } = opts.base ?? {};
  const jwks = jwksFrom(form.jwks);
  const optional = (name: string) => (form[name]?.trim() ? { [name]: form[name].trim() } : {});
  return {
    ...(creating ? (KINDS.find((k) => k === form.kind) ? { kind: form.kind } : {}) : kind ? { kind } : {}),
    ...(application_type ? { application_type } : {}),
    ...(subject_type ? { subject_type } : {}),
    ...(sector_identifier_uri ? { sector_identifier_uri } : {}),
    // Fixed at registration and not on the form: a change that left it out would be refused.
    ...(security_profile ? { security_profile } : {}),
    client_name: form.client_name ?? '',
    redirect_uris: lines(form.redirect_uris),
    post_logout_redirect_uris: lines(form.post_logout_redirect_uris),
    scope: (form.scope ?? '').trim().replace(/\s+/g, ' '),
    // Unticked on a new app: the kind's grants.
    ...(grants.length || !creating ? { grant_types: grants } : {}),
    // Decided at registration; later changes keep it.
    ...(creating ? (form.public === 'on' ? { public: true } : {}) : { public: opts.fixedPublic ?? wasPublic ?? false }),
    first_party: form.first_party === 'on',
    ...optional('backchannel_logout_uri'),
    citizen_id_release: form.citizen_id_release ?? 'none',
    verified_claims_allowed: form.verified_claims_allowed === 'on',
    ...(form.min_acr ? { min_acr: form.min_acr } : {}),
    ...(allowed.length ? { allowed_channels: allowed } : {}),
    ...(jwks === undefined ? {} : { jwks }),
    ...optional('jwks_uri'),
    ...optional('backchannel_client_notification_endpoint'),
    ...(form.dpop_bound_access_tokens === 'on' ? { dpop_bound_access_tokens: true } : creating ? {} : { dpop_bound_access_tokens: false }),
  };
}

/** What the form shows: settings (or what was typed) as form values. */
export function formFromSettings(s: Partial<ClientSettings>): Record<string, string> {
  const form: Record<string, string> = {
    client_name: s.client_name ?? '',
    redirect_uris: (s.redirect_uris ?? []).join('\n'),
    post_logout_redirect_uris: (s.post_logout_redirect_uris ?? []).join('\n'),
    scope: s.scope ?? 'openid profile',
    backchannel_logout_uri: s.backchannel_logout_uri ?? '',
    citizen_id_release: s.citizen_id_release ?? 'none',
    min_acr: s.min_acr ?? '',
    kind: s.kind ?? 'web',
    jwks: s.jwks ? JSON.stringify(s.jwks, null, 2) : '',
    jwks_uri: s.jwks_uri ?? '',
    backchannel_client_notification_endpoint: s.backchannel_client_notification_endpoint ?? '',
  };
  for (const g of s.grant_types ?? []) form[`grant_${g}`] = 'on';
  for (const c of s.allowed_channels ?? []) form[`channel_${c}`] = 'on';
  if (s.public) form.public = 'on';
  if (s.first_party) form.first_party = 'on';
  if (s.verified_claims_allowed) form.verified_claims_allowed = 'on';
  if (s.dpop_bound_access_tokens) form.dpop_bound_access_tokens = 'on';
  return form;
}

/** API field paths ('settings.redirect_uris.0') to the form field they belong to. */
export function formErrors(fields: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, message] of Object.entries(fields ?? {})) {
    const name = path.replace(/^settings\./, '').split('.')[0] || 'client_name';
    out[name] ??= message;
  }
  return out;
}

export interface ClientFormOptions {
  t: ConsoleMessages;
  action: string;
  csrf: string;
  values: Record<string, string>;
  errors: Record<string, string>;
  /** Departments to choose from, when creating. */
  departments?: Department[] | undefined;
  withPublic: boolean;
  submitLabel: string;
}

/** The client settings form, with each problem beside its field and a summary that links to them. */
export function clientForm(o: ClientFormOptions): SafeHtml {
  const { t, values, errors } = o;
  const id = (name: string) => `f-${name}`;
  const err = (name: string) => (errors[name] ? html`<p class="field-error" id="${id(name)}-error">${errors[name]}</p>` : '');
  const invalid = (name: string) => (errors[name] ? html` aria-invalid="true" aria-describedby="${id(name)}-error"` : '');
  const text = (name: string) =>
    html`<label for="${id(name)}">${t.fields[name]}</label><input type="text" id="${id(name)}" name="${name}" value="${values[name] ?? ''}"${invalid(name)}>${err(name)}`;
  const area = (name: string) =>
    html`<label for="${id(name)}">${t.fields[name]}</label><textarea id="${id(name)}" name="${name}"${invalid(name)}>${values[name] ?? ''}</textarea>${err(name)}`;
  const check = (name: string, label: string) =>
    html`<label><input type="checkbox" name="${name}"${values[name] === 'on' ? html` checked` : ''}> ${label}</label>`;
  const select = (name: string, options: readonly string[], labels: Record<string, string>) =>
    html`<label for="${id(name)}">${t.fields[name]}</label><select id="${id(name)}" name="${name}"${invalid(name)}>${options.map(
      (v) => html`<option value="${v}"${values[name] === v ? html` selected` : ''}>${labels[v] ?? v}</option>`,
    )}</select>${err(name)}`;

  const summary = Object.keys(errors).length
    ? html`<div class="error" role="alert" id="form-errors"><p>${t.formErrors}</p><ul>${Object.entries(errors).map(
        ([name, message]) => html`<li><a href="#${id(name)}">${t.fields[name] ?? name}: ${message}</a></li>`,
      )}</ul></div>`
    : '';
  return html`${summary}<form method="post" action="${o.action}" novalidate>
<input type="hidden" name="csrf" value="${o.csrf}">
${o.departments ? select('department_id', o.departments.map((d) => d.id), Object.fromEntries(o.departments.map((d) => [d.id, `${d.name} (${t.levels[d.level] ?? d.level})`]))) : ''}
${o.withPublic ? select('kind', KINDS, t.kinds) : ''}
${text('client_name')}
${area('redirect_uris')}
${area('post_logout_redirect_uris')}
${text('scope')}
<fieldset id="${id('grant_types')}"${errors.grant_types ? html` aria-describedby="${id('grant_types')}-error"` : ''}><legend>${t.fields.grant_types}</legend>${o.withPublic ? html`<p class="hint">${t.kindGrantsHint}</p>` : ''}${GRANTS.map((g) => check(`grant_${g}`, t.grantTypes[g] ?? g))}${err('grant_types')}</fieldset>
${select('citizen_id_release', RELEASES, t.releases)}
${select('min_acr', ACRS, t.acrs)}
<fieldset id="${id('allowed_channels')}"${errors.allowed_channels ? html` aria-describedby="${id('allowed_channels')}-error"` : ''}><legend>${t.fields.allowed_channels}</legend><p class="hint">${t.allChannelsHint}</p>${CHANNELS.map((c) => check(`channel_${c}`, t.channels[c] ?? c))}${err('allowed_channels')}</fieldset>
${text('backchannel_logout_uri')}
${text('jwks_uri')}
${area('jwks')}
${text('backchannel_client_notification_endpoint')}
<fieldset><legend>${t.details}</legend>
${o.withPublic ? check('public', t.fields.public!) : ''}
${check('first_party', t.fields.first_party!)}
${check('verified_claims_allowed', t.fields.verified_claims_allowed!)}
${check('dpop_bound_access_tokens', t.fields.dpop_bound_access_tokens!)}
</fieldset>
<button type="submit">${o.submitLabel}</button>
</form>`;
}
