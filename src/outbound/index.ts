export { addressPolicy, type AddressPolicy, type AddressVerdict } from './address-policy.js';
export { parseIp, parseNetwork, type IpAddress, type IpNetwork } from './ip-address.js';
export {
  createOutbound,
  OutboundRefusedError,
  OutboundResponseTooLargeError,
  type Outbound,
  type OutboundFetch,
  type OutboundSettings,
  type PinnedHost,
  type Resolver,
} from './outbound-client.js';
export { specialUseRange } from './special-use-addresses.js';
