import Router from '@koa/router';
import { z } from 'zod';
import { ACR, type Accounts, type Authentication } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { ChannelApiError, channelApiErrors } from '../http/api-error.js';
import type { ProofReplay } from '../http/request-proofs.js';
import { staffCall } from '../channels/counter/staff-token.js';
import { COUNTER_AMR } from '../channels/counter/token-exchange.js';
import type { IdentityProofing } from '../channels/kiosk/identity-proofing.js';
import { parseCitizenId } from '../identity/index.js';
import { qrCodeDataUrl } from '../mfa/totp.js';
import type { VerifyAccessToken } from '../oidc/access-token-verifier.js';
import type { CredentialOffers } from './credential-offers.js';
import { issuable } from './certificate-offers.js';
import type { Certificate, CertificateStore } from './certificate-store.js';
import { configurationIdOf } from './certificate-types.js';
import { IDENTITY_CONFIGURATION_ID } from './identity-credential.js';
import { CREDENTIAL_PATHS } from './issuer-metadata.js';
import { offerCodeText, SmsDeliveryError, type OtpService } from '../sms/index.js';
import { maskPhone } from '../accounts/phone.js';

const COUNTER_OFFERS_PATH = `${CREDENTIAL_PATHS.offers}/counter`;

const request = z.object({
  citizen_id: z.string().max(64),
  /** The staff member attests that they checked the citizen's ID document in person, as token exchange asks. */
  document_check: z.literal('in_person'),
  /** One of the citizen's certificates of the counter's own department, instead of the identity credential. */
  certificate_id: z.string().regex(/^[A-Za-z0-9_-]{22}$/).optional(),
}).strict();

export interface CounterOfferDeps {
  issuer: string;
  offers: CredentialOffers;
  accounts: Pick<Accounts, 'findByIdentifier'>;
  verifyAccessToken: VerifyAccessToken;
  isCounterStaff: (accountId: string, clientId: string) => Promise<boolean>;
  replay: ProofReplay;
  audit: AuditLog;
  bodyMaxBytes: number;
  /** Where the staff member's document check is kept as evidence, as token exchange keeps it. */
  proofing: Pick<IdentityProofing, 'record'>;
  certificates: Pick<CertificateStore, 'find'>;
  /** The department a counter system is registered in (the console's registry), if any. */
  departmentOf: (clientId: string) => Promise<string | undefined>;
  /** Where the transaction code goes (`credentials.counterTxCode`): by SMS to the citizen's phone, or in the answer for the counter screen. */
  txCode: { by: 'sms'; sms: Pick<OtpService, 'offerCodeSlot'>; validMinutes: number } | { by: 'counter_screen' };
}

/**
 * `POST /credentials/offers/counter`: counter staff hand the identity credential to the phone of the
 * citizen in front of them (docs/credentials.md). The counter system calls it with the staff
 * member's own access token (a live session at loa:2 or above, with a DPoP proof when bound), and
 * the staff member must hold `counter-staff` over that counter system, as token exchange checks.
 * The answer carries the QR code for the citizen's phone. The transaction code goes by SMS to the
 * phone bound to the citizen's account, never to the counter: the staff member who made the offer
 * holds only its QR code, which redeems nothing without the code (with `counterTxCode:
 * counter_screen`, the answer carries it for the counter screen instead). The offer states the
 * counter's check (channel `counter`, loa:3, the staff member as actor).
 */
export function counterOfferRoutes(deps: CounterOfferDeps): Router {
  const router = new Router();
  const staffCallOf = staffCall(deps);
  router.post(COUNTER_OFFERS_PATH, channelApiErrors, async (ctx) => {
    const { json, staff, client, where } = await staffCallOf(ctx, COUNTER_OFFERS_PATH);
    if (!(await deps.isCounterStaff(staff.id, client.clientId))) {
      await deps.audit.append({ action: 'vc.offer_refused', actorType: 'operator', actorId: staff.sub, details: { reason: 'not_counter_staff' }, ...where });
      throw new ChannelApiError(403, 'insufficient_scope', 'the staff member is not counter staff of the department over this counter');
    }
    const body = request.safeParse(json);
    if (!body.success) throw new ChannelApiError(400, 'invalid_request', 'the body must be { "citizen_id": …, "document_check": "in_person" } with an optional "certificate_id", and nothing else');
    let citizen;
    try {
      citizen = await deps.accounts.findByIdentifier(parseCitizenId(body.data.citizen_id));
    } catch {
      throw new ChannelApiError(400, 'invalid_request', 'citizen_id is not a valid citizen ID number');
    }
    // A staff member's look-ups are on record, misses too: a counter that tries ID numbers to learn
    // who has an account leaves a trail (never the number itself).
    const refused = (reason: string) => deps.audit.append({ action: 'vc.offer_refused', actorType: 'operator', actorId: staff.sub, details: { reason }, ...where });
    if (citizen?.status !== 'active') {
      await refused('no_active_account');
      throw new ChannelApiError(404, 'not_found', 'there is no active account for this citizen ID number');
    }
    if (citizen.id === staff.id) {
      await refused('own_identity');
      throw new ChannelApiError(403, 'insufficient_scope', 'staff cannot hand a credential to themselves');
    }
    // A certificate only of the counter's own department: a counter hands out what its department
    // issued. Not the citizen's, not valid, or another department's: one answer, so that a counter
    // learns nothing about certificates it may not hand out.
    let certificate: Certificate | undefined;
    if (body.data.certificate_id) {
      const [found, counterDepartment] = await Promise.all([deps.certificates.find(body.data.certificate_id), deps.departmentOf(client.clientId)]);
      if (!issuable(found, citizen.id, Date.now()) || found.departmentId !== counterDepartment) {
        await refused('certificate_not_found');
        throw new ChannelApiError(404, 'not_found', "there is no valid certificate with this id of this citizen's from this counter's department");
      }
      certificate = found;
    }
    const configurationIds = certificate ? [configurationIdOf(certificate.typeId)] : [IDENTITY_CONFIGURATION_ID];

    // The code's SMS slot before anything is kept: with no phone to send it to, or past the
    // number's (or this staff member's) offer limits, there is no offer to make.
    const { txCode } = deps;
    const unsent = (reason: string) => deps.audit.append({ action: 'vc.offer_unsent', actorType: 'operator', actorId: staff.sub, accountId: citizen.sub, details: { reason, configurations: configurationIds }, ...where });
    let sms: Extract<Awaited<ReturnType<OtpService['offerCodeSlot']>>, { ok: true }> | undefined;
    if (txCode.by === 'sms') {
      if (!citizen.phone) {
        await unsent('no_phone');
        throw new ChannelApiError(409, 'no_phone', 'the account has no mobile number to send the transaction code to; the citizen can bind one in the portal, or receive the credential there');
      }
      const slot = await txCode.sms.offerCodeSlot({ phone: citizen.phone, by: staff.sub });
      if (!slot.ok) {
        await unsent('too_many_codes');
        ctx.set('retry-after', String(slot.retryAfterSeconds));
        throw new ChannelApiError(429, 'too_many_codes', 'too many offer codes were sent to this citizen’s phone, or by this staff member, lately; try again later');
      }
      sms = slot;
    }

    // The check is evidence about the citizen's identity whatever becomes of the offer: kept as token
    // exchange keeps it (who, which counter, when, which document; never the number), pending until confirmed.
    const { evidenceId, raised } = await deps.proofing.record({
      account: citizen,
      method: 'in_person',
      channel: 'counter',
      clientId: client.clientId,
      actor: { type: 'staff', id: staff.sub },
      documentType: 'idcard',
      ip: where.ip,
      requestId: where.requestId,
    });
    const authentication: Authentication = { accountId: citizen.sub, channel: 'counter', amr: COUNTER_AMR, acr: ACR.document, at: Math.floor(Date.now() / 1000) };
    const offer = await deps.offers.create({
      authentication,
      sub: citizen.sub,
      configurationIds,
      ...(certificate ? { certificateId: certificate.id } : {}),
      creator: { type: 'staff', sub: staff.sub, clientId: client.clientId },
      ...(txCode.by === 'sms' ? { txCodeBy: 'sms' as const } : {}),
    });
    // Recorded before the code is sent: a send that fails after the gateway took it may still reach
    // the phone, and then the offer can be redeemed.
    await deps.audit.append({
      action: 'vc.offer_created',
      actorType: 'operator',
      actorId: staff.sub,
      accountId: citizen.sub,
      ...(certificate ? { departmentId: certificate.departmentId } : {}),
      details: {
        configurations: configurationIds,
        ...(certificate ? { certificate_id: certificate.id } : {}),
        acr: authentication.acr,
        documentCheck: 'in_person',
        expires_at: offer.expiresAt,
        proofing_evidence_id: evidenceId,
        tx_code_by: txCode.by,
      },
      ...where,
    });
    if (sms && txCode.by === 'sms') {
      try {
        await sms.send(offerCodeText(offer.txCode, txCode.validMinutes, client.clientName ?? ''));
      } catch (e) {
        if (!(e instanceof SmsDeliveryError)) throw e;
        await unsent('sms_unavailable');
        throw new ChannelApiError(503, 'sms_unavailable', 'the transaction code could not be sent by SMS; try again later');
      }
    }
    ctx.set('cache-control', 'no-store');
    ctx.body = {
      credential_offer: offer.offerUri,
      qr_code: await qrCodeDataUrl(offer.offerUri),
      ...(txCode.by === 'sms' ? { tx_code_sent_to: maskPhone(citizen.phone!) } : { tx_code: offer.txCode }),
      expires_at: Math.floor(offer.expiresAt / 1000),
      // For a second staff member to confirm the check (POST /counter/proofing/{id}/confirm), as after token exchange.
      ...(raised ? {} : { proofing_evidence_id: evidenceId }),
    };
  });
  return router;
}
