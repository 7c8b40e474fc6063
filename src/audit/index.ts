export { createAuditLog, type AuditLog, type AuditEvent, type AuditEventInput, type ActorType, type AppendOptions, type HeadAcceptance } from './audit-log.js';
export type { ChainReport, BreakReason, AnchorStatus } from './audit-chain.js';
export type { AuditQuery, AuditPage } from './audit-query.js';
export { createAuditSealer, type AuditSealer, type SealPass, type SealRefusal } from './audit-sealer.js';
export { checkpointExporter } from './audit-export.js';
export { generateAuditKey, parseAuditKey, parseAuditPublicKey, publicKeyText, verifyKeys, type AuditSigningKey } from './audit-key.js';
export { AUDIT_ACTIONS, type AuditAction, type AdminAction } from './audit-actions.js';
export { auditStats, SIGN_IN_ACTIONS, FAILURE_ACTIONS, LOCKOUT_ACTIONS, type AuditStats, type BucketCount, type ClientCount, type StatsQuery } from './audit-stats.js';
export { auditActionLabel, NAMED_OPERATOR_ACTIONS } from './audit-labels.js';
