import pino from 'pino';
import { createOutbound, type Outbound } from '../../src/outbound/index.js';

/** The guarded outbound client as a deployment that allows its loopback test servers would have it. */
export const loopbackOutbound = (): Outbound => createOutbound({ allowedNetworks: ['127.0.0.0/8', '::1/128'] }, { logger: pino({ level: 'silent' }) });
