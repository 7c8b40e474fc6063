export { createAuditLog, type AuditLog, type AuditEvent, type AuditEventInput, type ActorType } from './audit-log.js';
export type { ChainReport, BreakReason } from './audit-chain.js';
export type { AuditQuery, AuditPage } from './audit-query.js';
