import { html, type SafeHtml } from '../../interactions/views/html.js';
import type { ClientSettings } from '../../clients/index.js';
import type { Department } from '../departments.js';
import type { ConsoleMessages } from './i18n.js';

const GRANTS = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
const CHANNELS = ['web', 'mobile', 'kiosk', 'counter'] as const;
const RELEASES = ['none', 'masked', 'pseudonym', 'full'] as const;
const ACRS = ['', 'urn:yihao:loa:1', 'urn:yihao:loa:2', 'urn:yihao:loa:3'] as const;

const lines = (s: string | undefined) => (s ?? '').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

/**
 * The form's fields as the settings the API takes. Nothing is checked here: the service validates
 * the result with the same schema as the API, and its field errors come back to this form.
 */
export function settingsFromForm(form: Record<string, string>, opts: { fixedPublic?: boolean | undefined } = {}): Record<string, unknown> {
  const allowed = CHANNELS.filter((c) => form[`channel_${c}`] === 'on');
  return {
    client_name: form.client_name ?? '',
    redirect_uris: lines(form.redirect_uris),
    post_logout_redirect_uris: lines(form.post_logout_redirect_uris),
    scope: (form.scope ?? '').trim().replace(/\s+/g, ' '),
    grant_types: GRANTS.filter((g) => form[`grant_${g}`] === 'on'),
    // Decided at registration; later changes keep it.
    public: opts.fixedPublic ?? form.public === 'on',
    first_party: form.first_party === 'on',
    ...(form.backchannel_logout_uri?.trim() ? { backchannel_logout_uri: form.backchannel_logout_uri.trim() } : {}),
    citizen_id_release: form.citizen_id_release ?? 'none',
    verified_claims_allowed: form.verified_claims_allowed === 'on',
    ...(form.min_acr ? { min_acr: form.min_acr } : {}),
    ...(allowed.length ? { allowed_channels: allowed } : {}),
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
  };
  for (const g of s.grant_types ?? ['authorization_code', 'refresh_token']) form[`grant_${g}`] = 'on';
  for (const c of s.allowed_channels ?? []) form[`channel_${c}`] = 'on';
  if (s.public) form.public = 'on';
  if (s.first_party) form.first_party = 'on';
  if (s.verified_claims_allowed) form.verified_claims_allowed = 'on';
  return form;
}

/** API field paths ('settings.redirect_uris.0') to the form field they belong to. */
export function formErrors(fields: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [path, message] of Object.entries(fields ?? {})) {
    const name = path.replace(/^settings\./, '').replace(/\.\d+$/, '') || 'client_name';
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
${text('client_name')}
${area('redirect_uris')}
${area('post_logout_redirect_uris')}
${text('scope')}
<fieldset id="${id('grant_types')}"${errors.grant_types ? html` aria-describedby="${id('grant_types')}-error"` : ''}><legend>${t.fields.grant_types}</legend>${GRANTS.map((g) => check(`grant_${g}`, t.grantTypes[g] ?? g))}${err('grant_types')}</fieldset>
${select('citizen_id_release', RELEASES, t.releases)}
${select('min_acr', ACRS, t.acrs)}
<fieldset id="${id('allowed_channels')}"${errors.allowed_channels ? html` aria-describedby="${id('allowed_channels')}-error"` : ''}><legend>${t.fields.allowed_channels}</legend><p class="hint">${t.allChannelsHint}</p>${CHANNELS.map((c) => check(`channel_${c}`, t.channels[c] ?? c))}${err('allowed_channels')}</fieldset>
${text('backchannel_logout_uri')}
<fieldset><legend>${t.details}</legend>
${o.withPublic ? check('public', t.fields.public!) : ''}
${check('first_party', t.fields.first_party!)}
${check('verified_claims_allowed', t.fields.verified_claims_allowed!)}
</fieldset>
<button type="submit">${o.submitLabel}</button>
</form>`;
}
