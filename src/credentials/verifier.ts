import type Provider from 'oidc-provider';
import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { proofReplay } from '../http/request-proofs.js';
import type { Sealer } from '../identity/index.js';
import { accessTokenVerifier } from '../oidc/access-token-verifier.js';
import type { Database } from '../storage/database.js';
import type { AdapterConstructor } from '../storage/oidc-adapter.js';
import { approvedType, type CertificateStore } from './certificate-store.js';
import type { CredentialStore } from './credential-store.js';
import { presentationSignIn } from './presentation-sign-in.js';
import { configurationIdOf, vctOf } from './certificate-types.js';
import { IDENTITY_CLAIMS, IDENTITY_VCT } from './identity-credential.js';
import { createVerifierKeys } from './issuer-keys.js';
import { issuerSigner, type IssuerSigner } from './issuer-signer.js';
import { certificateTypeCheck, IDENTITY_TYPE, type CredentialTypeCheck } from './presentation-check.js';
import { presentationRequests, type AnsweredRequest, type PresentedCredential, type RequestableType } from './presentation-requests.js';
import { statusListPath, type StatusLists } from './status-lists.js';
import { verifierRoutes } from './verifier.routes.js';
import { starterAuthentication } from './verifier-starters.js';

/**
 * The verifier's client id, which a wallet pre-registers (OpenID4VP §5.9.1: a client id without a
 * prefix): the issuer's host and path. No ':' may appear in it, so no scheme and no port.
 */
export const verifierClientId = (issuer: string): string => {
  const url = new URL(issuer);
  return `${url.hostname}${url.pathname.replace(/\/$/, '')}`.replace(/:/g, '.');
};

export interface VerifierDeps {
  issuer: string;
  db: Database;
  sealer: Sealer;
  Adapter: AdapterConstructor;
  accounts: Accounts;
  provider: () => Provider;
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  /** The credential issuer's signer (its public keys are the trust) and status lists (read locally). */
  issuerSigner: IssuerSigner;
  statusLists: StatusLists;
  /** Issued credentials: sign-in by presentation finds the account through the one presented. */
  store: CredentialStore;
  certificates: CertificateStore;
  lifetimeSeconds: number;
  keys: { retiredKeepSeconds: number; refreshSeconds: number; publishSeconds: number };
  bodyMaxBytes: number;
  audit: AuditLog;
}

/**
 * Yihao's OpenID4VP verifier for its own credentials (docs/credentials.md, "Verifying online").
 * Its status lists are Yihao's own, read from the store on each check: never older than a fetch
 * within their `ttl` would be.
 */
export function createVerifier(deps: VerifierDeps) {
  const { issuer } = deps;
  const keys = createVerifierKeys(deps.db, deps.sealer, { retiredKeepSeconds: deps.keys.retiredKeepSeconds, publishSeconds: deps.keys.publishSeconds });
  const signer = issuerSigner(keys, deps.keys.refreshSeconds);
  const listPrefix = `${issuer}${statusListPath('')}`;

  /** The account a presented credential was issued to, from its status entry and holder key (never from a disclosed claim). */
  async function holderOf(presented: PresentedCredential): Promise<string | undefined> {
    if (!presented.statusList.startsWith(listPrefix)) return undefined;
    const record = await deps.store.findByStatusEntry(presented.statusList.slice(listPrefix.length), presented.statusIndex);
    if (!record || record.holderJkt !== presented.holderJkt) return undefined;
    return (await deps.accounts.findById(record.accountId))?.sub;
  }

  /**
   * Each answered request in the audit log: who asked (a counter staff member or a kiosk), at which
   * counter system or kiosk, for which type and claims, and, once verified, whose credential it was,
   * so that the citizen sees it among their own events. The claims' names, never their values.
   */
  async function audit(a: AnsweredRequest): Promise<void> {
    const accountId = a.credential ? await holderOf(a.credential) : undefined;
    await deps.audit.append({
      action: a.outcome.status === 'verified' ? 'vc.presentation_verified' : 'vc.presentation_refused',
      ...(a.starter.type === 'staff' ? { actorType: 'operator', actorId: a.starter.sub, channel: 'counter' } : { actorType: 'client', actorId: a.starter.clientId, channel: 'kiosk' }),
      clientId: a.starter.clientId,
      ...(accountId ? { accountId } : {}),
      details: { request_id: a.id, type: a.typeId, claims: [...a.claims], ...(a.outcome.status === 'refused' ? { reason: a.outcome.reason } : {}) },
    });
  }

  const requests = presentationRequests({
    issuer,
    clientId: verifierClientId(issuer),
    signer,
    sealer: deps.sealer,
    Adapter: deps.Adapter,
    lifetimeSeconds: deps.lifetimeSeconds,
    trust: async () => ({ issuer, jwks: await deps.issuerSigner.publicJwks() }),
    statusLists: async (uri) => (uri.startsWith(listPrefix) ? deps.statusLists.render(uri.slice(listPrefix.length)) : undefined),
    answered: audit,
  });
  const typePrefix = vctOf(issuer, '');

  /** A certificate type verifiers may ask for: one in force (a pending type has no certificates to show). */
  const inForce = async (id: string) => {
    const type = await deps.certificates.type(id);
    return type && approvedType(type) ? type : undefined;
  };
  const typeById = async (id: string): Promise<RequestableType | undefined> => {
    if (id === 'identity') return { id: 'identity', check: IDENTITY_TYPE, claims: IDENTITY_CLAIMS };
    const type = await inForce(id);
    return type && { id: configurationIdOf(type.id), check: certificateTypeCheck(type.vct, type.claims), claims: [...Object.keys(type.claims), 'issuing_department'] };
  };
  const typeByVct = async (vct: string): Promise<CredentialTypeCheck | undefined> => {
    if (vct === IDENTITY_VCT) return IDENTITY_TYPE;
    return vct.startsWith(typePrefix) ? (await typeById(vct.slice(typePrefix.length)))?.check : undefined;
  };

  return {
    ensureKeys: () => keys.ensure(),
    keys,
    /** Signs the presentation requests; `reload()` after a rotation in this process. */
    signer,
    requests,
    signIn: presentationSignIn({ issuer, requests, store: deps.store, accounts: deps.accounts }),
    router: () =>
      verifierRoutes({
        issuer,
        requests,
        authenticate: starterAuthentication({
          issuer,
          provider: deps.provider,
          verifyAccessToken: accessTokenVerifier({ provider: deps.provider, accounts: deps.accounts }),
          isCounterStaff: deps.isCounterStaff,
          replay: proofReplay(deps.Adapter),
        }),
        typeById,
        typeByVct,
        labels: async (vct, locale) => {
          if (!vct.startsWith(typePrefix)) return undefined;
          const type = await inForce(vct.slice(typePrefix.length));
          return type && Object.fromEntries(Object.entries(type.claims).flatMap(([name, spec]) => (spec.names ? [[name, spec.names[locale]]] : [])));
        },
        verifierSigner: signer,
        bodyMaxBytes: deps.bodyMaxBytes,
      }),
  };
}
export type Verifier = ReturnType<typeof createVerifier>;
