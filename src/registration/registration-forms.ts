import { z } from 'zod';
import { normalisePhone } from '../accounts/index.js';
import { InvalidCitizenIdError, parseCitizenId, type CitizenId, type CitizenIdProblem } from '../identity/index.js';
import { normaliseName } from '../registry/index.js';

/**
 * The two registration forms, validated with zod. Messages are stable keys, not text: the page
 * turns them into zh-CN or English. Every field has a hard length cap, so an oversized field is a
 * field error (400), never a 500.
 */
export type FieldProblem =
  | 'required'
  | 'too_long'
  | `citizen_id:${CitizenIdProblem}`
  | 'name_too_long'
  | 'name_characters'
  | 'phone_invalid'
  | 'code_format'
  | 'password_too_short'
  | 'password_too_long'
  | 'password_mismatch';

export type StartField = 'citizen_id' | 'name' | 'phone';
export type CodeField = 'code' | 'password' | 'password_confirm';

export type FormCheck<F extends string, T> = { ok: true; value: T } | { ok: false; fields: Partial<Record<F, FieldProblem>> };

/** Letters of any script, combining marks, the middle dot and single spaces (after `normaliseName`). */
const NAME = /^[\p{L}\p{M}\u00B7 ]+$/u;

/** A text field of at most `max` characters; a missing field is '' (then 'required'). */
const text = (max: number) => z.string().catch('').pipe(z.string().max(max, 'too_long'));

export function startForm(fieldMax: number) {
  return z.object({
    citizen_id: text(fieldMax)
      .transform((s) => s.trim())
      .pipe(z.string().min(1, 'required'))
      .transform((s, ctx): CitizenId => {
        try {
          return parseCitizenId(s);
        } catch (e) {
          if (!(e instanceof InvalidCitizenIdError)) throw e;
          ctx.addIssue({ code: 'custom', message: `citizen_id:${e.problem}` });
          return z.NEVER;
        }
      }),
    name: text(fieldMax)
      .transform(normaliseName)
      .pipe(z.string().min(1, 'required').max(64, 'name_too_long').regex(NAME, 'name_characters')),
    phone: text(fieldMax)
      .transform((s) => s.trim())
      .pipe(z.string().min(1, 'required'))
      .transform((s, ctx) => {
        const phone = normalisePhone(s);
        if (phone) return phone;
        ctx.addIssue({ code: 'custom', message: 'phone_invalid' });
        return z.NEVER;
      }),
  });
}

/** Digits as typed: full-width ones (a Chinese IME) become ASCII, spaces go. */
const normaliseCode = (s: string) => s.normalize('NFKC').replace(/\s+/g, '');

export function codeForm(fieldMax: number, { codeNeeded }: { codeNeeded: boolean }) {
  return z
    .object({
      code: codeNeeded
        ? text(fieldMax)
            .transform(normaliseCode)
            .pipe(z.string().min(1, 'required').regex(/^\d{6}$/, 'code_format'))
        : z.unknown().optional().transform(() => undefined),
      password: text(fieldMax).pipe(z.string().min(1, 'required').min(8, 'password_too_short').max(128, 'password_too_long')),
      password_confirm: text(fieldMax).pipe(z.string().min(1, 'required')),
    })
    .superRefine((v, ctx) => {
      if (v.password !== v.password_confirm) ctx.addIssue({ code: 'custom', path: ['password_confirm'], message: 'password_mismatch' });
    });
}

/** Runs a form schema and keeps the first problem of each field. */
export function checkForm<F extends string, T>(schema: z.ZodType<T>, form: Record<string, string>): FormCheck<F, T> {
  const parsed = schema.safeParse(form);
  if (parsed.success) return { ok: true, value: parsed.data };
  const fields: Partial<Record<F, FieldProblem>> = {};
  for (const issue of parsed.error.issues) {
    const field = String(issue.path[0]) as F;
    fields[field] ??= issue.message as FieldProblem;
  }
  return { ok: false, fields };
}
