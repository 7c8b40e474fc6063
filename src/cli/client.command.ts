import type { ClientSettingsInput } from '../clients/index.js';
import { loadConfig } from '../config/index.js';
import { parseOptions, required } from './args.js';
import { checkSettings, settingOptions, settingsFromOptions } from './client-options.js';
import type { Command } from './command.js';
import { withYihao } from './open-yihao.js';

const options = {
  ...settingOptions,
  kind: { type: 'string' },
  public: { type: 'boolean' },
  department: { type: 'string' },
  profile: { type: 'string' },
} as const;

export const clientCreateCommand: Command = {
  name: 'client create',
  summary: 'Register a relying party (an OIDC client) and print its credentials',
  usage: `Usage: yihao client create [--kind K] --name N [--redirect-uri U ...]
         [--post-logout-redirect-uri U ...] [--grant-type G ...] [--scope S]
         [--public] [--first-party] [--backchannel-logout-uri U]
         [--citizen-id-release none|masked|pseudonym|full] [--verified-claims]
         [--subject-type public|pairwise] [--sector-identifier-uri U]
         [--min-acr A] [--allowed-channel C ...] [--jwks-file F | --jwks-uri U]
         [--dpop] [--ciba-mode poll|ping] [--notification-endpoint U]
         [--department D] [--profile fapi2] [--json]

Registers a relying party and prints its client_id and client_secret. The secret is
shown only this once: Yihao keeps only a keyed hash of it.

This is the administrator's bootstrap tool: the client is active at once, without review,
under a department (--department, or the root), with its settings recorded as approved, so
that the console shows and edits it. Every later change of its settings goes through review
('yihao client update', the console or the admin API); 'yihao client
rotate-secret|suspend|resume' act at once and are audited.

Options:
  --kind K                        what sort of app, which fills in what you leave unset:
                                  web      code flow with a secret (the default)
                                  mobile   native app: public, PKCE, device-key login
                                           (JWT bearer grant), DPoP-bound tokens
                                  ciba     counter system asking by ID number (CIBA): poll,
                                           or ping with --notification-endpoint
                                  kiosk    device flow + ID-card grant + refresh_token,
                                           private_key_jwt (needs --jwks-file or --jwks-uri)
                                  counter  staff code flow + token exchange (assisted login)
                                  service  client_credentials only
  --name N                        the name citizens see on the consent page (required)
  --redirect-uri U                an allowed redirect URI; repeat for more (needed for
                                  authorization_code)
  --post-logout-redirect-uri U    an allowed URI after logout; repeat for more
  --grant-type G                  authorization_code, refresh_token, client_credentials,
                                  urn:ietf:params:oauth:grant-type:device_code (kiosk),
                                  urn:yihao:grant-type:id-card (kiosk card reader),
                                  urn:yihao:grant-type:presentation (kiosk, wallet) or
                                  urn:ietf:params:oauth:grant-type:token-exchange (counter),
                                  urn:ietf:params:oauth:grant-type:jwt-bearer (mobile device key)
                                  or urn:openid:params:grant-type:ciba; repeat for more
                                  (default: the kind's, else authorization_code refresh_token)
  --scope S                       space-separated scopes it may ask for
                                  (default: "openid profile phone")
  --public                        no secret (mobile and single-page apps, which rely on PKCE)
  --first-party                   a government app: consent is recorded without asking
  --backchannel-logout-uri U      where to send back-channel logout tokens
  --citizen-id-release P          what the citizen_id scope releases: none (default),
                                  masked, pseudonym (per-app code) or full
  --verified-claims               may receive verified_claims (scope identity_assurance)
  --subject-type T                public (default) or pairwise (a different sub per sector)
  --sector-identifier-uri U       JSON list of the redirect URIs of one sector (pairwise)
  --min-acr A                     the lowest level the app accepts: urn:yihao:loa:1, 2 or 3;
                                  a session below it is stepped up
  --allowed-channel C             a channel the app accepts sign-ins from: web, mobile, kiosk
                                  or counter; repeat for more (default: every channel)
  --jwks-file F                   the app's public keys (a JWK Set file): it authenticates
                                  with private_key_jwt and gets no secret
  --jwks-uri U                    where the app publishes its public keys (private_key_jwt)
  --dpop                          access tokens must be DPoP-bound (default for mobile)
  --ciba-mode M                   poll (default) or ping, for a CIBA client
  --notification-endpoint U       where a ping-mode CIBA client is told the citizen answered
  --department D                  the department that owns it (an id dp_…, or its path
                                  /dp_…/dp_…/); default: the root department. The console
                                  shows it there, and its later changes go through review
  --profile fapi2                 hold the client to the FAPI 2.0 Security Profile: pushed
                                  authorization requests only, S256 PKCE, DPoP-bound tokens,
                                  private_key_jwt (needs --jwks-file or --jwks-uri), https
                                  redirect URIs, 60-second codes, refresh tokens not rotated
                                  (see docs/fapi2.md)
  --json                          print {"client_id", "client_secret", ...metadata}`,

  async run(args, { env, out }) {
    const opts = parseOptions(this.name, args, options);
    required(this.name, opts.name, '--name');
    const input = {
      ...settingsFromOptions(opts),
      ...(opts.kind !== undefined ? { kind: opts.kind } : {}),
      // Unset (not false) so that the kind decides: a mobile app is public unless told otherwise.
      ...(opts.public !== undefined ? { public: opts.public } : {}),
      ...(opts.profile !== undefined ? { security_profile: opts.profile } : {}),
    } as ClientSettingsInput;
    checkSettings(input);
    const config = loadConfig(env);
    const { created, department } = await withYihao(config, async (yihao) => {
      const { bootstrap } = yihao.admin.services;
      // Resolved first: a wrong --department creates nothing.
      const department = await bootstrap.departmentForClient(opts.department);
      const created = await yihao.clients.prepare(input);
      const m = created.metadata;
      // Recorded (and put under its department) first, then live: no client serves without its record.
      await bootstrap.adoptClient({
        clientId: created.client_id,
        settings: created.settings,
        secretDigest: typeof m.client_secret === 'string' ? m.client_secret : undefined,
        department,
      });
      await yihao.clients.publish(created);
      return { created, department };
    });
    // The stored `client_secret` is the keyed hash: show the secret itself, and only here.
    const { client_secret: _hash, ...metadata } = created.metadata;
    const secret = created.client_secret;
    const text = [
      `client_id: ${created.client_id}`,
      `department: ${department ? `${department.name} (${department.id})` : '- (no department exists yet: the console does not show it)'}`,
      ...(secret
        ? [`client_secret: ${secret}`, '', 'Store the client secret now: it is shown only once and cannot be recovered.']
        : [`client_secret: (none: ${metadata.token_endpoint_auth_method === 'private_key_jwt' ? 'the client authenticates with its own keys (private_key_jwt)' : 'a public client authenticates with PKCE'})`]),
    ];
    out.result(opts.json, { client_id: created.client_id, ...(secret ? { client_secret: secret } : {}), department_id: department?.id ?? null, ...metadata }, text);
  },
};
