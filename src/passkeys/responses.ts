import { z } from 'zod';

// The browser's PublicKeyCredential, serialised as JSON (WebAuthn Level 3 `toJSON()` shape). Checked
// here so that nothing malformed reaches the verifier; the verifier checks what the fields mean.
const b64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+$/);
/**
 * WebAuthn's AuthenticatorTransport values. A client ignores any other, and so does Yihao: the list
 * is stored (a column of 200 characters) and handed back as hints, so what is kept is known words
 * only, each once, never whatever text a browser or script sent.
 */
const KNOWN_TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
const transports = z
  .array(z.string().max(32))
  .max(8)
  .optional()
  .transform((list) => list && [...new Set(list.filter((t) => KNOWN_TRANSPORTS.has(t)))]);
const common = {
  id: b64url(1400),
  rawId: b64url(1400),
  type: z.literal('public-key'),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
};

const registrationResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(16384),
    transports,
    publicKeyAlgorithm: z.number().int().optional(),
    publicKey: b64url(4096).optional(),
    authenticatorData: b64url(8192).optional(),
  }),
});

const authenticationResponse = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(8192),
    signature: b64url(1024),
    userHandle: b64url(128).optional(),
  }),
});

export type RegistrationResponse = z.infer<typeof registrationResponse>;
export type AuthenticationResponse = z.infer<typeof authenticationResponse>;

/** The largest serialised response accepted (a form field carries it). */
export const MAX_RESPONSE_LENGTH = 32_768;

function parse<T>(schema: z.ZodType<T>, raw: unknown): T | undefined {
  if (typeof raw !== 'string' || raw.length > MAX_RESPONSE_LENGTH) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

export const parseRegistrationResponse = (raw: unknown) => parse(registrationResponse, raw);
export const parseAuthenticationResponse = (raw: unknown) => parse(authenticationResponse, raw);
