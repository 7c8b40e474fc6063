export { createAuditLog, type AuditLog, type AuditEvent, type AuditEventInput, type ActorType } from './audit-log.js';
