/**
 * Every action an audit event can record. `AuditEventInput.action` takes only these, so a new
 * event is added here first, and the portal's labels test then asks for its words in each locale.
 */
export const AUDIT_ACTIONS = [
  'account.created',
  'account.disabled',
  'account.enabled',
  'account.locked',
  'account.registered',
  'admin.denied',
  'approval.approved',
  'approval.denied',
  'authorization.granted',
  'ciba.requested',
  'ciba.withheld',
  'consent.declined',
  'consent.granted',
  'consent.revoked',
  'counter.assist_refused',
  'counter.assisted_login',
  'credential.add_failed',
  'credential.added',
  'credential.removed',
  'federation.linked',
  'federation.logout',
  'federation.logout_refused',
  'federation.refused',
  'federation.sign_out_sent',
  'federation.sign_out_skipped',
  'federation.unavailable',
  'federation.unlinked',
  'grant.revoked',
  'identity.proofing_confirm_refused',
  'identity.proofing_confirmed',
  'identity.proofing_raised',
  'identity.proofing_recorded',
  'keys.rotated',
  'login.failed',
  'login.locked',
  'login.step_up',
  'login.succeeded',
  'password.reset',
  'password.reset_failed',
  'password.reset_requested',
  'ratelimit.refused',
  'registration.refused',
  'session.ended',
  'vc.issued',
  'vc.issuer_key_rotated',
  'vc.verifier_key_rotated',
  'vc.revoked',
  'vc.revoked_with_account',
  'vc.offer_created',
  'vc.offer_redeemed',
  'vc.offer_refused',
  'vc.offer_unsent',
  'vc.certificate_pushed',
  'vc.certificate_issued',
  'vc.presentation_verified',
  'vc.presentation_refused',
] as const;

/**
 * Operators' actions are named by the admin route table (`admin.client.created`, ...), and the
 * CLI's acts with the server's authority by the same family (`admin.upstream.added`): one family.
 */
export type AdminAction = `admin.${string}`;

export type AuditAction = (typeof AUDIT_ACTIONS)[number] | AdminAction;
