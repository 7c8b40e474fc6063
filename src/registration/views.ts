import type { Locale } from '../http/locale.js';
import { html, type SafeHtml } from '../http/html.js';
import { layout } from '../http/layout.js';
import type { CodeField, FieldProblem, StartField } from './registration-forms.js';
import { registrationMessages, type RegistrationMessages } from './i18n.js';

interface PageBase {
  locale: Locale;
  nonce: string;
}

/** `?ui_locales=..&return_to=..` carried from page to page (never anything personal). */
export interface FlowLinks {
  /** Query string (with its `?`, or empty) to append to every registration URL. */
  query: string;
  /** Where "continue to sign in" leads, if the registration started from a sign-in page. */
  returnTo: string | undefined;
}

/** An error for the whole page (role=alert) and, optionally, one per field. */
export interface PageErrors<F extends string> {
  message?: string;
  fields?: Partial<Record<F, FieldProblem>>;
  /** Fields the page-level message is about (marked aria-invalid and pointing at the message). */
  about?: F[];
}

export function fieldText(t: RegistrationMessages, problem: FieldProblem): string {
  if (problem.startsWith('citizen_id:')) return t.citizenIdProblem[problem.slice('citizen_id:'.length) as keyof RegistrationMessages['citizenIdProblem']];
  const texts: Record<Exclude<FieldProblem, `citizen_id:${string}`>, string> = {
    required: t.required,
    too_long: t.tooLong,
    name_too_long: t.nameTooLong,
    name_characters: t.nameCharacters,
    phone_invalid: t.phoneInvalid,
    code_format: t.codeFormat,
    password_too_short: t.passwordTooShort,
    password_too_long: t.passwordTooLong,
    password_mismatch: t.passwordMismatch,
  };
  return texts[problem as keyof typeof texts];
}

interface FieldSpec<F extends string> {
  name: F;
  label: string;
  hint?: string;
  type: 'text' | 'password';
  autocomplete: string;
  inputmode?: 'numeric' | 'tel' | 'text';
  maxlength: number;
  value?: string;
  autofocus?: boolean;
}

/** One labelled input with its hint and error, wired for assistive technology. */
function field<F extends string>(t: RegistrationMessages, errors: PageErrors<F>, f: FieldSpec<F>, firstInvalid: F | undefined): SafeHtml {
  const problem = errors.fields?.[f.name];
  const aboutPage = errors.about?.includes(f.name) ?? false;
  const describedBy = [f.hint ? `${f.name}-hint` : '', problem ? `${f.name}-error` : '', aboutPage ? 'form-error' : ''].filter(Boolean).join(' ');
  const invalid = Boolean(problem) || aboutPage;
  const focus = firstInvalid ? firstInvalid === f.name : f.autofocus;
  return html`<label for="${f.name}">${f.label}</label>
${f.hint ? html`<span class="hint" id="${f.name}-hint">${f.hint}</span>` : ''}
${problem ? html`<p class="error" id="${f.name}-error">${fieldText(t, problem)}</p>` : ''}
<input type="${f.type}" id="${f.name}" name="${f.name}" autocomplete="${f.autocomplete}"${f.inputmode ? html` inputmode="${f.inputmode}"` : ''} required maxlength="${f.maxlength}"${
    f.value !== undefined ? html` value="${f.value}"` : ''
  }${describedBy ? html` aria-describedby="${describedBy}"` : ''}${invalid ? html` aria-invalid="true"` : ''}${focus ? html` autofocus` : ''}>
`;
}

function alert<F extends string>(t: RegistrationMessages, errors: PageErrors<F>): SafeHtml | '' {
  const message = errors.message ?? (errors.fields && Object.keys(errors.fields).length ? t.fixFields : undefined);
  return message ? html`<p class="error" role="alert" id="form-error">${message}</p>` : '';
}

function firstInvalidOf<F extends string>(order: F[], errors: PageErrors<F>): F | undefined {
  return order.find((f) => errors.fields?.[f] !== undefined || errors.about?.includes(f));
}

export function registerStartPage(
  p: PageBase & { csrf: string; links: FlowLinks; values?: { citizenId?: string; name?: string; phone?: string }; errors?: PageErrors<StartField> },
): string {
  const t = registrationMessages(p.locale);
  const errors = p.errors ?? {};
  const first = firstInvalidOf<StartField>(['citizen_id', 'name', 'phone'], errors);
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.registerTitle,
    body: html`<h1>${t.registerTitle}</h1>
<p>${t.registerLead}</p>
${alert(t, errors)}
<form method="post" action="/register${p.links.query}" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
${field(t, errors, { name: 'citizen_id', label: t.citizenId, hint: t.citizenIdHint, type: 'text', autocomplete: 'off', inputmode: 'text', maxlength: 18, value: p.values?.citizenId, autofocus: true }, first)}
${field(t, errors, { name: 'name', label: t.name, hint: t.nameHint, type: 'text', autocomplete: 'name', maxlength: 64, value: p.values?.name }, first)}
${field(t, errors, { name: 'phone', label: t.phone, hint: t.phoneHint, type: 'text', autocomplete: 'tel-national', inputmode: 'tel', maxlength: 20, value: p.values?.phone }, first)}
<button type="submit">${t.sendCode}</button>
</form>
${p.links.returnTo ? html`<p><a href="${p.links.returnTo}">${t.signInInstead}</a></p>` : ''}`,
  });
}

export function registerCodePage(
  p: PageBase & {
    csrf: string;
    links: FlowLinks;
    maskedPhone: string;
    phoneVerified: boolean;
    codeMinutes: number;
    newCodeSent?: boolean;
    errors?: PageErrors<CodeField>;
  },
): string {
  const t = registrationMessages(p.locale);
  const errors = p.errors ?? {};
  const order: CodeField[] = p.phoneVerified ? ['password', 'password_confirm'] : ['code', 'password', 'password_confirm'];
  const first = firstInvalidOf(order, errors);
  const status = p.phoneVerified ? t.phoneVerified(p.maskedPhone) : `${p.newCodeSent ? `${t.newCodeSent} ` : ''}${t.codeSent(p.maskedPhone, p.codeMinutes)}`;
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.codeTitle,
    body: html`<h1>${t.codeTitle}</h1>
${alert(t, errors)}
<p role="status">${status}</p>
<form method="post" action="/register/code${p.links.query}" novalidate>
<input type="hidden" name="csrf" value="${p.csrf}">
${p.phoneVerified ? '' : field(t, errors, { name: 'code', label: t.code, hint: t.codeHint, type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: 6, autofocus: true }, first)}
${field(t, errors, { name: 'password', label: t.password, hint: t.passwordHint, type: 'password', autocomplete: 'new-password', maxlength: 128, autofocus: p.phoneVerified }, first)}
${field(t, errors, { name: 'password_confirm', label: t.passwordConfirm, type: 'password', autocomplete: 'new-password', maxlength: 128 }, first)}
<button type="submit">${t.createAccount}</button>
</form>
${p.phoneVerified ? '' : html`<form method="post" action="/register/resend${p.links.query}">
<input type="hidden" name="csrf" value="${p.csrf}">
<button type="submit" class="secondary">${t.resend}</button>
</form>`}
<p><a href="/register${p.links.query}">${t.startOver}</a></p>`,
  });
}

export function registerDonePage(p: PageBase & { links: FlowLinks; maskedCitizenId: string }): string {
  const t = registrationMessages(p.locale);
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: t.doneTitle,
    body: html`<h1>${t.doneTitle}</h1>
<p role="status">${t.doneLead(p.maskedCitizenId)}</p>
<p>${t.doneAnywhere}</p>
${p.links.returnTo ? html`<p><a href="${p.links.returnTo}">${t.continueSignIn}</a></p>` : ''}`,
  });
}

/** The flow ended without an account (already registered, page expired, bad link). */
export function registerEndedPage(p: PageBase & { title: string; message: string; links: FlowLinks; restart: boolean }): string {
  const t = registrationMessages(p.locale);
  return layout({
    locale: p.locale,
    nonce: p.nonce,
    title: p.title,
    body: html`<h1>${p.title}</h1>
<p class="error" role="alert" id="form-error">${p.message}</p>
${p.links.returnTo ? html`<p><a href="${p.links.returnTo}">${t.continueSignIn}</a></p>` : ''}
${p.restart ? html`<p><a href="/register${p.links.query}">${t.startOver}</a></p>` : ''}`,
  });
}
