/**
 * The one client schema: each kind fills in what the settings leave unset (and nothing that they
 * set), the metadata says what the settings say, and settings read back from live metadata (a
 * client registered before its settings were recorded) give the same metadata again.
 */
import { describe, expect, it } from 'vitest';
import { CLIENT_KINDS, KIND_DEFAULTS, clientMetadata, clientSettings, kindOf, settingsFromMetadata } from '../../src/clients/index.js';

const JWKS = { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] };
/** What each kind needs besides its defaults to be valid. */
const needs: Record<string, Record<string, unknown>> = {
  web: { redirect_uris: ['https://a.example/cb'] },
  mobile: { redirect_uris: ['http://127.0.0.1/callback'] },
  ciba: {},
  kiosk: { jwks: JWKS },
  counter: { redirect_uris: ['https://a.example/cb'] },
  service: {},
};

describe('client kinds in the one schema', () => {
  it.each(CLIENT_KINDS)('fills in the defaults of kind %s', (kind) => {
    const d = KIND_DEFAULTS[kind];
    const s = clientSettings.parse({ kind, client_name: 'A', ...needs[kind] });
    expect(s).toMatchObject({
      kind,
      grant_types: d.grantTypes,
      public: d.public ?? false,
      application_type: d.applicationType ?? 'web',
      dpop_bound_access_tokens: d.dpopRequired ?? false,
    });
    expect(s.backchannel_token_delivery_mode).toBe(d.cibaMode);
    expect(kindOf({ grant_types: s.grant_types })).toBe(kind);
  });

  it('lets an explicit value win over the kind, and makes a CIBA client with a notification endpoint ping', () => {
    const s = clientSettings.parse({ kind: 'mobile', client_name: 'A', redirect_uris: ['http://127.0.0.1/callback'], dpop_bound_access_tokens: false, allowed_channels: ['web'] });
    expect(s).toMatchObject({ public: true, dpop_bound_access_tokens: false, allowed_channels: ['web'] });
    expect(clientSettings.parse({ kind: 'ciba', client_name: 'A', backchannel_client_notification_endpoint: 'https://c.example/n' }).backchannel_token_delivery_mode).toBe('ping');
  });

  it('gives the metadata of a kiosk from its settings, and the same metadata again from settings read back from it', () => {
    const s = clientSettings.parse({ kind: 'kiosk', client_name: 'K', jwks: JWKS, scope: 'openid' });
    const metadata = clientMetadata('yh_k', s, undefined, 1);
    expect(metadata).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: JWKS, response_types: [] });
    expect(metadata).not.toHaveProperty('client_secret');
    const back = clientSettings.parse(settingsFromMetadata(metadata));
    expect(clientMetadata('yh_k', back, undefined, 1)).toEqual(metadata);
  });
});

describe('an app name in the one schema', () => {
  const name = (client_name: string) => clientSettings.safeParse({ client_name, redirect_uris: ['https://a.example/cb'] });

  it('accepts the format characters that scripts need: U+180E in Mongolian, ZWJ and ZWNJ', () => {
    // Traditional Mongolian writes the vowel separator (U+180E) before a detached final vowel.
    for (const ok of ['ᠬᠣᠲᠠ ᠶᠢᠨ ᠲᠡᠷᠭᠡ\u180Eᠡ', 'ᠮᠣᠩᠭᠣᠯ\u180Eᠠ', 'क्\u200Dष', 'می\u200Cخواهم', 'Family 👨\u200D👩\u200D👧']) {
      expect([ok, name(ok).success]).toEqual([ok, true]);
    }
  });

  it('still refuses controls, bidirectional controls, line separators and the byte order mark', () => {
    for (const bad of ['a\nb', 'a\tb', 'a\u001b[2Kb', '\u202E记登产动不', 'a\u200Eb', 'a\u200Fb', 'a\u2066b\u2069', 'a\u061Cb', 'a\u2028b', 'a\u2029b', 'a\uFEFFb', 'a\u200Bb', 'a\u2060b']) {
      const r = name(bad);
      expect([JSON.stringify(bad), r.success, r.error?.issues.map((i) => i.path.join('.'))]).toEqual([JSON.stringify(bad), false, ['client_name']]);
    }
  });

  it('keeps addresses strict: no format character at all', () => {
    for (const bad of ['https://a.example/c\u200Db', 'https://a.example/c\u180Eb']) {
      expect(clientSettings.safeParse({ client_name: 'A', redirect_uris: [bad] }).success).toBe(false);
    }
  });
});
