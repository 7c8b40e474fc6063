import { loadConfig, type Config } from '../config/index.js';
import { YihaoError } from '../errors.js';
// Not the federation index: that loads oidc-provider, which the CLI loads only when it must.
import { backchannelLogoutPath, CALLBACK_PATH, SIGNED_OUT_PATH } from '../federation/paths.js';
import { upstreamDefinition, upstreamInput, type Upstream, type UpstreamInput } from '../federation/upstream.js';
import { createUpstreamStore, type UpstreamStore } from '../federation/upstream-store.js';
import { createLinkedIdentities } from '../federation/linked-identities.js';
import { parseOptions, required, usageError } from './args.js';
import type { Command, CommandContext } from './command.js';
import { withYihao } from './open-yihao.js';
import { readSecretLine } from './password-stdin.js';
import { table } from './output.js';

const addOptions = {
  name: { type: 'string' },
  'display-name': { type: 'string' },
  'display-name-en': { type: 'string' },
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret-stdin': { type: 'boolean' },
  'client-secret-post': { type: 'boolean' },
  'private-key-jwt': { type: 'boolean' },
  scope: { type: 'string' },
  'citizen-id-claim': { type: 'string' },
  'name-claim': { type: 'string' },
  'phone-claim': { type: 'string' },
  'max-acr': { type: 'string' },
  'acr-map': { type: 'string', multiple: true },
  'trust-amr': { type: 'boolean' },
  channel: { type: 'string', multiple: true },
  par: { type: 'boolean' },
  'sign-out-upstream': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** The client secret from the first line of stdin; a terminal is refused (it would echo it). */
function readClientSecretLine(stdin: CommandContext['stdin']): Promise<string> {
  return readSecretLine(stdin, {
    what: 'client secret',
    tty: `--client-secret-stdin reads the secret from a pipe, not a terminal (as in: printf '%s\\n' "$SECRET" | yihao idp add ...)`,
  });
}

/** `UPSTREAM_ACR=urn:yihao:loa:N`, repeatable. */
function acrMap(command: string, pairs: readonly string[] | undefined): Record<string, string> {
  const map: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const at = pair.lastIndexOf('=');
    if (at <= 0 || at === pair.length - 1) throw usageError(command, '--acr-map takes UPSTREAM_ACR=urn:yihao:loa:N');
    map[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return map;
}

/** Schema fields, by the option that sets them, so a message names what to fix. */
const optionOf: Record<string, string> = {
  name: '--name',
  displayName: '--display-name',
  displayNameEn: '--display-name-en',
  issuer: '--issuer',
  clientId: '--client-id',
  scope: '--scope',
  citizenIdClaim: '--citizen-id-claim',
  nameClaim: '--name-claim',
  phoneClaim: '--phone-claim',
  acrMap: '--acr-map',
  maxAcr: '--max-acr',
  channels: '--channel',
};

function checkInput(input: UpstreamInput): void {
  const checked = upstreamInput.safeParse(input);
  if (checked.success) return;
  const issue = checked.error.issues[0]!;
  const option = optionOf[String(issue.path[0])] ?? String(issue.path[0]);
  throw new YihaoError('invalid_input', `${option} ${issue.message}`);
}

/** What operators and scripts see of an upstream: never its secret or private key. */
function describe(u: Upstream, issuer: string) {
  const { name, ...settings } = upstreamDefinition(u);
  return {
    name,
    status: u.status,
    ...settings,
    redirect_uri: `${issuer}${CALLBACK_PATH}`,
    backchannel_logout_uri: `${issuer}${backchannelLogoutPath(u.name)}`,
    ...(u.signOutUpstream ? { post_logout_redirect_uri: `${issuer}${SIGNED_OUT_PATH}` } : {}),
    ...(u.publicJwk ? { public_jwk: u.publicJwk } : {}),
  };
}

const noSuchUpstream = (name: string) => new YihaoError('not_found', `no upstream named "${name}" ('yihao idp list' lists them)`, 404);

type UpstreamAction = 'admin.upstream.added' | 'admin.upstream.disabled' | 'admin.upstream.enabled' | 'admin.upstream.updated';
type RecordUpstream = (action: UpstreamAction, name: string, details: Record<string, unknown>) => Promise<void>;

/**
 * Runs `change` on the upstreams in one transaction with its audit event. An upstream decides who
 * can sign in (one capped at urn:yihao:loa:2 links to any account by citizen ID), so no change to
 * one lands without its record; the CLI acts as the system.
 */
function changeUpstreams<T>(config: Config, change: (store: UpstreamStore, record: RecordUpstream) => Promise<T>): Promise<T> {
  return withYihao(config, (yihao) =>
    yihao.stores.db.transaction((trx) =>
      change(createUpstreamStore(trx, yihao.services.sealer), (action, name, details) =>
        yihao.services.audit.append({ action, actorType: 'system', actorId: 'cli', details: { upstream: name, via: 'cli', ...details } }, { trx }),
      ),
    ),
  );
}

export const idpAddCommand: Command = {
  name: 'idp add',
  summary: 'Connect an upstream identity provider (a regional or departmental OIDC login; audited)',
  usage: `Usage: yihao idp add --name N --issuer URL --client-id ID
         (--client-secret-stdin [--client-secret-post] | --private-key-jwt)
         --citizen-id-claim C [--name-claim C] [--phone-claim C] [--scope S]
         [--max-acr A] [--acr-map UPSTREAM_ACR=A ...] [--trust-amr] [--channel C ...]
         [--display-name N] [--display-name-en N] [--par] [--sign-out-upstream] [--json]

Connects an upstream OpenID Provider: citizens can then sign in with it on the login page
("Sign in with <display name>"), and are linked to their Yihao account by citizen ID.
Register Yihao at the upstream with the redirect URI and back-channel logout URI printed.

Options:
  --name N                  short name, a-z 0-9 - (appears in URLs and the audit log)
  --issuer URL              the upstream's issuer (its discovery document is fetched from it)
  --client-id ID            Yihao's client_id at the upstream
  --client-secret-stdin     read Yihao's client secret at the upstream from stdin (sealed at rest)
  --client-secret-post      send the secret in the body (client_secret_post), not Basic
  --private-key-jwt         authenticate with private_key_jwt: Yihao makes an ES256 key pair
                            and prints the public key to register at the upstream
  --citizen-id-claim C      the claim that carries the citizen ID number (required)
  --name-claim C            the claim with the citizen's name (default: name)
  --phone-claim C           the claim with the mobile number (default: phone_number)
  --scope S                 scopes to ask for (default: "openid profile"); must include openid
  --max-acr A               the highest level a sign-in through it reaches (default urn:yihao:loa:1)
  --acr-map X=A             the upstream's acr X counts as our A; repeat for more. Unknown
                            values count as urn:yihao:loa:1; the result never exceeds --max-acr
  --trust-amr               pass the upstream's own (RFC 8176) amr values on, after "fed"
  --channel C               web, mobile, kiosk or counter; repeat for more (default: web)
  --display-name N          the name on the zh-CN login page (default: --name)
  --display-name-en N       the name on the English login page (default: --display-name)
  --par                     push authorization requests (RFC 9126) where the upstream offers it
  --sign-out-upstream       when a citizen who signed in through it signs out of Yihao in a
                            browser, sign them out of the upstream too (its end_session_endpoint;
                            register the printed post_logout_redirect_uri there). Default: off
  --json                    print the definition as JSON (never the secret)`,

  async run(args, { env, stdin, out }) {
    const opts = parseOptions(this.name, args, addOptions);
    const secretIn = opts['client-secret-stdin'] ?? false;
    const keyJwt = opts['private-key-jwt'] ?? false;
    if (secretIn === keyJwt) throw usageError(this.name, 'give exactly one of --client-secret-stdin and --private-key-jwt');
    if (keyJwt && opts['client-secret-post']) throw usageError(this.name, '--client-secret-post goes with --client-secret-stdin');
    const input: UpstreamInput = {
      name: required(this.name, opts.name, '--name'),
      displayName: opts['display-name'],
      displayNameEn: opts['display-name-en'],
      issuer: required(this.name, opts.issuer, '--issuer'),
      clientId: required(this.name, opts['client-id'], '--client-id'),
      clientAuth: keyJwt ? 'private_key_jwt' : opts['client-secret-post'] ? 'client_secret_post' : 'client_secret_basic',
      scope: opts.scope,
      citizenIdClaim: required(this.name, opts['citizen-id-claim'], '--citizen-id-claim'),
      nameClaim: opts['name-claim'],
      phoneClaim: opts['phone-claim'],
      acrMap: acrMap(this.name, opts['acr-map']) as UpstreamInput['acrMap'],
      maxAcr: opts['max-acr'] as UpstreamInput['maxAcr'],
      trustAmr: opts['trust-amr'] ?? false,
      channels: opts.channel as UpstreamInput['channels'],
      usePar: opts.par ?? false,
      signOutUpstream: opts['sign-out-upstream'] ?? false,
    };
    // Refuse bad input before reading the secret or opening any store.
    checkInput(input);
    const secret = secretIn ? await readClientSecretLine(stdin) : undefined;
    const config = loadConfig(env);
    const added = await changeUpstreams(config, async (store, record) => {
      const upstream = await store.add(input, secret);
      await record('admin.upstream.added', upstream.name, { after: upstreamDefinition(upstream) });
      return upstream;
    });
    const shown = describe(added, config.issuer);
    out.result(opts.json, shown, [
      `added upstream ${added.name} (${added.issuer})`,
      `register Yihao at the upstream with:`,
      `  redirect_uri: ${shown.redirect_uri}`,
      `  backchannel_logout_uri: ${shown.backchannel_logout_uri}`,
      ...(shown.post_logout_redirect_uri ? [`  post_logout_redirect_uri: ${shown.post_logout_redirect_uri}`] : []),
      ...(added.publicJwk ? [`  jwks: {"keys":[${JSON.stringify(added.publicJwk)}]}`] : []),
    ]);
  },
};

export const idpListCommand: Command = {
  name: 'idp list',
  summary: 'List the upstream identity providers',
  usage: `Usage: yihao idp list [--json]

Lists the upstream identity providers (active and disabled); never their secrets.`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, { json: { type: 'boolean' } } as const);
    const config = loadConfig(env);
    const all = await withYihao(config, (yihao) => createUpstreamStore(yihao.stores.db, yihao.services.sealer).list());
    const rows = all.map((u) => [u.name, u.status, u.maxAcr, u.channels.join(','), u.issuer]);
    out.result(opts.json, all.map((u) => describe(u, config.issuer)), all.length ? table([['NAME', 'STATUS', 'MAX ACR', 'CHANNELS', 'ISSUER'], ...rows]) : ['no upstream identity providers']);
  },
};

/** `yihao idp disable N` and `yihao idp enable N`: the name as the one positional argument. */
function statusCommand(status: 'disabled' | 'active', verb: 'disable' | 'enable'): Command {
  return {
    name: `idp ${verb}`,
    summary: verb === 'disable' ? 'Stop offering an upstream identity provider (its links stay; audited)' : 'Offer a disabled upstream identity provider again (audited)',
    usage: `Usage: yihao idp ${verb} NAME [--json]

${verb === 'disable' ? 'Removes the upstream from the login page at once (within seconds on every instance) and refuses\nsign-ins through it. Linked identities are kept, so enabling it again restores them.' : 'Offers a disabled upstream on the login page again.'}`,

    async run(args, { env, out }) {
      const [name, ...rest] = args[0] !== undefined && !args[0].startsWith('-') ? [args[0], ...args.slice(1)] : [undefined, ...args];
      const opts = parseOptions(this.name, rest, { json: { type: 'boolean' } } as const);
      if (name === undefined) throw usageError(this.name, 'the upstream NAME is required');
      if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) throw usageError(this.name, 'NAME is 1-32 characters of a-z 0-9 -');
      const config = loadConfig(env);
      await changeUpstreams(config, async (store, record) => {
        const before = (await store.find(name))?.status;
        if (!before || !(await store.setStatus(name, status))) throw noSuchUpstream(name);
        await record(verb === 'disable' ? 'admin.upstream.disabled' : 'admin.upstream.enabled', name, { status: { before, after: status } });
      });
      out.result(opts.json, { name, status }, [`${name}: ${status}`]);
    },
  };
}

export const idpUnlinkCommand: Command = {
  name: 'idp unlink',
  summary: "Remove one upstream identity's link to its account (audited)",
  usage: `Usage: yihao idp unlink NAME --sub SUB [--json]

Removes the link between the upstream identity SUB (its 'sub' at upstream NAME) and its Yihao
account, for example after the upstream corrected the citizen ID it asserts. The next sign-in
through that identity links afresh by citizen ID. The account and its sessions stay.`,

  async run(args, { env, out }) {
    const [name, ...rest] = args[0] !== undefined && !args[0].startsWith('-') ? [args[0], ...args.slice(1)] : [undefined, ...args];
    const opts = parseOptions(this.name, rest, { sub: { type: 'string' }, json: { type: 'boolean' } } as const);
    if (name === undefined) throw usageError(this.name, 'the upstream NAME is required');
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) throw usageError(this.name, 'NAME is 1-32 characters of a-z 0-9 -');
    const sub = required(this.name, opts.sub, '--sub');
    if (sub.length > 255) throw usageError(this.name, '--sub is longer than 255 characters');
    const config = loadConfig(env);
    const account = await withYihao(config, async (yihao) => {
      const upstream = await createUpstreamStore(yihao.stores.db, yihao.services.sealer).find(name);
      if (!upstream) throw noSuchUpstream(name);
      const unlinked = await createLinkedIdentities(yihao.stores.db, yihao.services.vault).unlink(upstream.issuer, sub, (trx, account) =>
        yihao.services.audit.append({ action: 'federation.unlinked', actorType: 'system', actorId: 'cli', accountId: account.sub, details: { upstream: name, upstream_sub: sub, via: 'cli' } }, { trx }),
      );
      if (!unlinked) throw new YihaoError('not_found', `no identity with that sub is linked through ${name}`, 404);
      return unlinked;
    });
    out.result(opts.json, { upstream: name, sub, account: account.sub, unlinked: true }, [`unlinked ${name} identity from account ${account.sub}`]);
  },
};

export const idpSetCommand: Command = {
  name: 'idp set',
  summary: 'Change a setting of an upstream identity provider (audited)',
  usage: `Usage: yihao idp set NAME --sign-out-upstream on|off [--json]

--sign-out-upstream on: when a citizen who signed in through upstream NAME signs out of Yihao in a
browser (an app's sign-out, the portal's sign-out), the browser goes through the upstream's
end_session_endpoint too. Register the printed post_logout_redirect_uri at the upstream.
Sign-outs without a browser (password reset, an operator disabling an account) leave the upstream alone.`,

  async run(args, { env, out }) {
    const [name, ...rest] = args[0] !== undefined && !args[0].startsWith('-') ? [args[0], ...args.slice(1)] : [undefined, ...args];
    const opts = parseOptions(this.name, rest, { 'sign-out-upstream': { type: 'string' }, json: { type: 'boolean' } } as const);
    if (name === undefined) throw usageError(this.name, 'the upstream NAME is required');
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(name)) throw usageError(this.name, 'NAME is 1-32 characters of a-z 0-9 -');
    const value = required(this.name, opts['sign-out-upstream'], '--sign-out-upstream');
    if (value !== 'on' && value !== 'off') throw usageError(this.name, '--sign-out-upstream takes on or off');
    const config = loadConfig(env);
    const updated = await changeUpstreams(config, async (store, record) => {
      const before = await store.find(name);
      if (!before || !(await store.setSignOutUpstream(name, value === 'on'))) throw noSuchUpstream(name);
      await record('admin.upstream.updated', name, { before: { sign_out_upstream: before.signOutUpstream }, after: { sign_out_upstream: value === 'on' } });
      return (await store.find(name))!;
    });
    const shown = describe(updated, config.issuer);
    out.result(opts.json, shown, [
      `${name}: sign-out-upstream ${value}`,
      ...(shown.post_logout_redirect_uri ? [`register at the upstream: post_logout_redirect_uri: ${shown.post_logout_redirect_uri}`] : []),
    ]);
  },
};

export const idpDisableCommand = statusCommand('disabled', 'disable');
export const idpEnableCommand = statusCommand('active', 'enable');
