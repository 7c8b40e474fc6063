import type { Knex } from 'knex';
import * as initial from './20261130_001_initial.js';
import * as auditEvents from './20261130_002_audit_events.js';
import * as smsCodes from './20261130_003_sms_codes.js';
import * as lockout from './20261130_004_lockout.js';
import * as accountIndex from './20261130_005_account_index.js';
import * as mfa from './20261130_006_mfa.js';
import * as passkeys from './20261130_007_passkeys.js';
import * as federation from './20261130_008_federation.js';
import * as admin from './20261130_009_admin.js';
import * as mobileChannel from './20261130_010_mobile_channel.js';
import * as kioskCounter from './20261130_011_kiosk_counter.js';
import * as federationSignOut from './20261130_012_federation_sign_out.js';
import * as auditSealer from './20261204_013_audit_sealer.js';
import * as guessThrottle from './20261205_014_guess_throttle.js';
import * as operatorReview from './20261205_015_operator_review.js';
import * as auditDashboardIndex from './20261206_016_audit_dashboard_index.js';
import * as credentials from './20261206_017_credentials.js';
import * as certificates from './20261206_019_certificates.js';
import * as verifierKeys from './20261207_020_verifier_keys.js';
import * as certificateTypeVersions from './20261207_030_certificate_type_versions.js';
import * as accountStatus from './20261207_050_account_status.js';
import * as accountIndexClient from './20261208_060_account_index_client.js';
import * as clientCitizenIdConsent from './20261208_070_client_citizen_id_consent.js';
import * as accountNotBefore from './20261208_080_account_not_before.js';
import * as accountRecoveredAt from './20261208_090_account_recovered_at.js';
import * as certificateTypeApproval from './20261208_100_certificate_type_approval.js';
import * as certificateTypeVersionApproval from './20261208_110_certificate_type_version_approval.js';
import * as auditRowIds from './20261208_120_audit_row_ids.js';
import * as issuedCredentialsKid from './20261208_130_issued_credentials_kid.js';

/** Every migration, in order. Landed entries never change: add a new file instead. */
export const migrations: ReadonlyArray<readonly [string, Knex.Migration]> = [
  ['20261130_001_initial', initial],
  ['20261130_002_audit_events', auditEvents],
  ['20261130_003_sms_codes', smsCodes],
  ['20261130_004_lockout', lockout],
  ['20261130_005_account_index', accountIndex],
  ['20261130_006_mfa', mfa],
  ['20261130_007_passkeys', passkeys],
  ['20261130_008_federation', federation],
  ['20261130_009_admin', admin],
  ['20261130_010_mobile_channel', mobileChannel],
  ['20261130_011_kiosk_counter', kioskCounter],
  ['20261130_012_federation_sign_out', federationSignOut],
  ['20261204_013_audit_sealer', auditSealer],
  ['20261205_014_guess_throttle', guessThrottle],
  ['20261205_015_operator_review', operatorReview],
  ['20261206_016_audit_dashboard_index', auditDashboardIndex],
  ['20261206_017_credentials', credentials],
  ['20261206_019_certificates', certificates],
  ['20261207_020_verifier_keys', verifierKeys],
  ['20261207_030_certificate_type_versions', certificateTypeVersions],
  ['20261207_050_account_status', accountStatus],
  ['20261208_060_account_index_client', accountIndexClient],
  ['20261208_070_client_citizen_id_consent', clientCitizenIdConsent],
  ['20261208_080_account_not_before', accountNotBefore],
  ['20261208_090_account_recovered_at', accountRecoveredAt],
  ['20261208_100_certificate_type_approval', certificateTypeApproval],
  ['20261208_110_certificate_type_version_approval', certificateTypeVersionApproval],
  ['20261208_120_audit_row_ids', auditRowIds],
  ['20261208_130_issued_credentials_kid', issuedCredentialsKid],
];
