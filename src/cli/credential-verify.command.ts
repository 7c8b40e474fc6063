import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../config/index.js';
import { bundleTrust, offlineBundleSchema, type OfflineBundle } from '../credentials/offline-bundle.js';
import { checkPresentation, PresentationRefused, REQUESTABLE_CLAIMS } from '../credentials/presentation-check.js';
import { YihaoError } from '../errors.js';
import { parseOptions, required, usageError } from './args.js';
import { CheckFailed } from './audit.command.js';
import type { Command, CommandContext } from './command.js';
import { readStdinText } from './password-stdin.js';
import { withYihao } from './open-yihao.js';

/** Longest presentation or bundle file read (a bundle of many status lists stays well below). */
const MAX_FILE_BYTES = 32 * 1024 * 1024;

export const credentialBundleCommand: Command = {
  name: 'credential bundle',
  summary: 'Export what an offline counter needs to verify credentials (keys, metadata, status lists)',
  usage: `Usage: yihao credential bundle --out FILE [--json]

Writes one JSON file with the credential issuer metadata, the issuer's public keys (as at
/.well-known/jwt-vc-issuer) and every current signed status list, each with the time it was
taken and its ttl. 'yihao credential verify --bundle FILE' checks presentations from it alone,
with no network. The file holds only public documents; refresh it at least as often as the
status lists' ttl for revocations to reach the counter.

Options:
  --out FILE  where to write the bundle
  --json      print {"out", "status_lists", "keys", "created_at"}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, { out: { type: 'string' }, json: { type: 'boolean' } } as const);
    const file = required(this.name, opts.out, '--out');
    const bundle = await withYihao(loadConfig(env), (yihao) => yihao.credentials.bundle());
    writeFileSync(file, `${JSON.stringify(bundle, null, 2)}\n`);
    const summary = { out: file, status_lists: bundle.status_lists.length, keys: bundle.jwt_vc_issuer.jwks.keys.length, created_at: bundle.created_at };
    out.result(opts.json, summary, [`wrote ${file}: ${summary.keys} issuer key(s), ${summary.status_lists} status list(s), as of ${bundle.created_at}`]);
  },
};

async function readInput(command: string, path: string, what: string, stdin: CommandContext['stdin']): Promise<string> {
  try {
    if (path === '-') return await readStdinText(stdin, { what, maxBytes: MAX_FILE_BYTES });
    if (statSync(path).size > MAX_FILE_BYTES) throw usageError(command, `the ${what} file is too large`);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof YihaoError) throw e;
    throw usageError(command, `cannot read the ${what} file`);
  }
}

function parseBundle(command: string, text: string): OfflineBundle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw usageError(command, 'the bundle is not JSON');
  }
  const bundle = offlineBundleSchema.safeParse(json);
  if (!bundle.success) throw usageError(command, `the bundle is not a credential bundle (${bundle.error.issues[0]?.path.join('.') || 'format'})`);
  return bundle.data;
}

export const credentialVerifyCommand: Command = {
  name: 'credential verify',
  summary: 'Check a credential presentation offline, from a bundle alone',
  usage: `Usage: yihao credential verify --bundle FILE --presentation FILE --nonce N --audience A
                               [--claim NAME ...] [--json]

Checks an SD-JWT VC presentation (with its key-binding JWT) from the bundle that
'yihao credential bundle' wrote, without a network or a database: the issuer's signature
against the bundle's keys, the validity dates, the holder's key binding with this nonce and
audience, the disclosures, the status list entry, and the schema of the identity credential or
of the department certificate type (from the bundle). Prints
only the disclosed claims.

Options:
  --bundle FILE        the bundle
  --presentation FILE  the presentation (the wallet's vp_token); - reads it from stdin
  --nonce N            the nonce the counter gave the wallet
  --audience A         the counter's identifier, the key-binding JWT's aud
  --claim NAME         a claim that must be disclosed (repeatable): ${REQUESTABLE_CLAIMS.join(', ')},
                       or one of a certificate type's in the bundle
  --json               print {"valid", "claims", ...} or {"valid": false, "reason", "message"}

Exit codes: 0 valid; 1 refused (the reason on stderr); 2 bad input.`,

  async run(args, { out, stdin }) {
    const opts = parseOptions(this.name, args, {
      bundle: { type: 'string' },
      presentation: { type: 'string' },
      nonce: { type: 'string' },
      audience: { type: 'string' },
      claim: { type: 'string', multiple: true },
      json: { type: 'boolean' },
    } as const);
    const bundlePath = required(this.name, opts.bundle, '--bundle');
    const presentationPath = required(this.name, opts.presentation, '--presentation');
    const nonce = required(this.name, opts.nonce, '--nonce');
    const audience = required(this.name, opts.audience, '--audience');
    if (nonce.length === 0 || nonce.length > 512) throw usageError(this.name, '--nonce is 1-512 characters');
    if (audience.length === 0 || audience.length > 512) throw usageError(this.name, '--audience is 1-512 characters');
    const claims = opts.claim ?? [];
    const bundle = parseBundle(this.name, await readInput(this.name, bundlePath, 'bundle', stdin));
    // The identity credential's claims, and those of the certificate types the bundle knows.
    const requestable = new Set([...REQUESTABLE_CLAIMS, ...(bundle.certificate_types ?? []).flatMap((t) => [...Object.keys(t.claims), 'issuing_department'])]);
    if (claims.some((c) => !requestable.has(c))) throw usageError(this.name, `--claim is one of ${[...requestable].join(', ')}`);
    const presentation = (await readInput(this.name, presentationPath, 'presentation', stdin)).trim();
    if (!/^[A-Za-z0-9_.~-]+$/.test(presentation)) throw usageError(this.name, 'the presentation is not an SD-JWT (base64url parts separated by ~)');

    const { trust, statusLists } = bundleTrust(bundle);
    try {
      const verified = await checkPresentation(presentation, { nonce, audience, claims }, trust, statusLists);
      const list = bundle.status_lists.find((l) => l.uri === verified.statusList);
      const statusAsOf = new Date(verified.statusAsOf * 1000).toISOString();
      const stale = list ? Date.now() > Date.parse(list.fetched_at) + list.ttl * 1000 : false;
      out.result(
        opts.json,
        { valid: true, vct: verified.vct, claims: verified.claims, issued_at: new Date(verified.issuedAt * 1000).toISOString(), expires_at: new Date(verified.expiresAt * 1000).toISOString(), status_as_of: statusAsOf, status_stale: stale },
        [
          `valid: ${verified.vct}`,
          ...Object.entries(verified.claims).map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`),
          `status as of ${statusAsOf}${stale ? " (older than the list's ttl: refresh the bundle)" : ''}`,
        ],
      );
    } catch (e) {
      if (!(e instanceof PresentationRefused)) throw e;
      if (opts.json) out.result(true, { valid: false, reason: e.reason, message: e.message }, []);
      throw new CheckFailed(`presentation refused (${e.reason}): ${e.message}`, 1);
    }
  },
};
