import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Account } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { YihaoError } from '../errors.js';
import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import { issueCertificateCredential } from './certificate-credential.js';
import type { Certificate, CertificateStore, CertificateType, ClaimValues } from './certificate-store.js';
import { scopeOf, typeIdOfConfiguration } from './certificate-types.js';
import type { CredentialLink } from './credential-request.js';
import type { CredentialStatus, CredentialStore } from './credential-store.js';
import type { IssuerSigner } from './issuer-signer.js';
import type { StatusLists } from './status-lists.js';
import type { OfferBindings } from './offer-bindings.js';

/** The token a wallet asks with: an offer's token (`gty` pre-authorized_code) is bound to one certificate. */
export interface AskingToken {
  gty?: string | undefined;
  grantId?: string | undefined;
}

const CERTIFICATE_ID = /^[A-Za-z0-9_-]{22}$/;

/** What a wallet is about to get: the certificate, its type, its claims and who issued it. */
export interface HeldCertificate {
  certificate: Certificate;
  type: CertificateType;
  claims: ClaimValues;
  departmentName: string;
}

/** Who revokes a certificate: an operator (the admin API checked their department). */
export interface CertificateRevoker {
  sub: string;
  ip?: string | undefined;
  requestId?: string | undefined;
}

/**
 * Department certificates as verifiable credentials: which configuration a wallet asked for, the
 * citizen's current certificate of that type, one SD-JWT VC per proven wallet key (each its own
 * status entry, linked to the certificate), and revocation of a certificate with every copy.
 */
export function certificateIssuance(deps: { db: Database; certificates: CertificateStore; store: CredentialStore; statusLists: StatusLists; signer: IssuerSigner; audit: AuditLog; issuer: string; bindings: OfferBindings }) {
  /**
   * One operator action on a certificate: `apply` changes the certificate (false: it was not in a
   * state to change), every wallet copy's status entry follows, and the audit event commits with both.
   */
  async function changeStatus(
    certificate: Certificate,
    by: CertificateRevoker,
    accountSub: string | undefined,
    reason: string | undefined,
    change: { action: 'admin.certificate.revoked' | 'admin.certificate.suspended' | 'admin.certificate.resumed'; apply: (trx: Knex.Transaction) => Promise<boolean>; copies: { from: CredentialStatus[]; to: CredentialStatus; at: number } },
  ): Promise<boolean> {
    return deps.db.transaction(async (trx) => {
      if (!(await change.apply(trx))) return false;
      const copies = await deps.certificates.credentialIds(certificate.id, trx);
      await deps.store.setStatus(copies, change.copies.from, change.copies.to, change.copies.at, trx);
      await deps.audit.append(
        {
          action: change.action,
          actorType: 'operator',
          actorId: by.sub,
          accountId: accountSub,
          departmentId: certificate.departmentId,
          ip: by.ip,
          requestId: by.requestId,
          channel: 'web',
          details: { certificate_id: certificate.id, type: certificate.typeId, credential_ids: copies, ...(reason ? { reason } : {}) },
        },
        { trx },
      );
      return true;
    });
  }

  const departmentName = async (id: string) => ((await deps.db('departments').where({ id }).first('name')) as { name: string } | undefined)?.name ?? id;
  return {
    /** The type a configuration id names (`cert_<type>`), with its scope; undefined for other ids. */
    configuration(configurationId: string): { typeId: string; scope: string } | undefined {
      const typeId = typeIdOfConfiguration(configurationId);
      return typeId ? { typeId, scope: scopeOf(typeId) } : undefined;
    },

    /**
     * The citizen's certificate of this type that a wallet gets now, if they hold a valid one: the
     * one its offer named for an offer's token (and nothing if that one is no longer valid), else
     * the newest (the authorization-code flow, where the wallet names only the type).
     */
    async held(account: Pick<Account, 'id'>, typeId: string, now: number, token: AskingToken = {}): Promise<HeldCertificate | undefined> {
      const fromOffer = token.gty === 'pre-authorized_code';
      const bound = fromOffer && token.grantId ? await deps.bindings.certificateOf(token.grantId) : undefined;
      if (fromOffer && !bound) return undefined;
      const [type, certificate] = await Promise.all([deps.certificates.type(typeId), deps.certificates.current(account.id, typeId, now, bound)]);
      if (!type || !certificate) return undefined;
      return { certificate, type, claims: await deps.certificates.claims(certificate), departmentName: await departmentName(certificate.departmentId) };
    },

    async issue(
      held: HeldCertificate,
      ctx: { account: Pick<Account, 'id' | 'sub'>; client: string; keys: JWK[]; now: number; ip?: string | undefined; requestId?: string | undefined; link?: CredentialLink | undefined },
    ): Promise<{ credential: string }[]> {
      const signingKey = await deps.signer.active();
      const credentials: { credential: string }[] = [];
      const ids: string[] = [];
      for (const holderJwk of ctx.keys) {
        // A 2-bit list: a certificate can be suspended (2) and resumed, as well as revoked (1).
        // Linked as it is recorded, only while the certificate is still valid: it was read before the key proofs.
        const row = await deps.store.record({ accountId: ctx.account.id, type: held.type.vct, clientId: ctx.client, holderJkt: await calculateJwkThumbprint(holderJwk), issuedAt: ctx.now, expiresAt: held.certificate.validUntil, bits: 2, certificateId: held.certificate.id, kid: signingKey.kid });
        ids.push(row.id);
        await ctx.link?.(row.id, row.expiresAt);
        credentials.push({
          credential: await issueCertificateCredential({
            type: held.type,
            claims: held.claims,
            issuingDepartment: held.departmentName,
            holderJwk,
            issuer: deps.issuer,
            issuedAt: ctx.now,
            validFrom: held.certificate.validFrom,
            validUntil: held.certificate.validUntil,
            status: { uri: deps.statusLists.uri(row.statusListId), idx: row.statusIndex },
            signingKey,
          }),
        });
      }
      await deps.audit.append({
        action: 'vc.certificate_issued',
        actorType: 'citizen',
        actorId: ctx.account.sub,
        accountId: ctx.account.sub,
        clientId: ctx.client,
        departmentId: held.certificate.departmentId,
        ip: ctx.ip,
        requestId: ctx.requestId,
        details: { type: held.type.id, certificate_id: held.certificate.id, credential_ids: ids },
      });
      return credentials;
    },

    /**
     * Revokes a certificate and every wallet copy of it (their status entries turn invalid), with
     * its audit event, in one transaction. The caller has checked the operator's department.
     */
    async revoke(certificate: Certificate, by: CertificateRevoker, accountSub: string | undefined, reason?: string): Promise<Certificate> {
      if (!CERTIFICATE_ID.test(certificate.id)) throw new YihaoError('invalid_input', 'a certificate id is 22 characters of base64url');
      const at = Date.now();
      const done = await changeStatus(certificate, by, accountSub, reason, {
        action: 'admin.certificate.revoked',
        apply: (trx) => deps.certificates.revoke(certificate.id, at, trx),
        copies: { from: ['valid', 'suspended'], to: 'revoked', at },
      });
      if (!done) throw new YihaoError('invalid_input', 'the certificate is already revoked', 409);
      return { ...certificate, status: 'revoked', revokedAt: at };
    },

    /**
     * Suspends a valid certificate (`suspend: true`) or resumes a suspended one, with every wallet
     * copy: their status entries read "suspended" (2) meanwhile. Audited in the same transaction.
     */
    async suspend(certificate: Certificate, suspend: boolean, by: CertificateRevoker, accountSub: string | undefined, reason?: string): Promise<Certificate> {
      const done = await changeStatus(certificate, by, accountSub, reason, {
        action: suspend ? 'admin.certificate.suspended' : 'admin.certificate.resumed',
        apply: (trx) => deps.certificates.setSuspended(certificate.id, suspend, trx),
        copies: { from: [suspend ? 'valid' : 'suspended'], to: suspend ? 'suspended' : 'valid', at: Date.now() },
      });
      if (!done) throw new YihaoError('invalid_input', suspend ? 'only a valid certificate can be suspended' : 'only a suspended certificate can be resumed', 409);
      return { ...certificate, status: suspend ? 'suspended' : 'valid' };
    },
  };
}
export type CertificateIssuance = ReturnType<typeof certificateIssuance>;
