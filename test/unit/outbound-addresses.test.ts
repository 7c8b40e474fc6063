import { describe, expect, it } from 'vitest';
import { addressPolicy, parseIp, parseNetwork, specialUseRange } from '../../src/outbound/index.js';

const range = (address: string) => specialUseRange(parseIp(address)!);

describe('special-use addresses', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.10', 'private'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'shared address space (CGNAT)'],
    ['0.0.0.0', 'this network'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fd00::1', 'unique local'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback (IPv4 inside IPv6)'],
    ['::ffff:7f00:1', 'loopback (IPv4 inside IPv6)'],
    ['[::ffff:a9fe:a9fe]', 'link-local (IPv4 inside IPv6)'],
    ['64:ff9b::10.0.0.1', 'private (IPv4 inside IPv6)'],
    ['::127.0.0.1', 'IPv4-compatible (deprecated)'],
    ['2002:7f00:1::', '6to4'],
    ['2001:0:4136:e378::1', 'IETF protocol assignments (Teredo, ORCHID, ...)'],
  ])('classes %s as %s', (address, name) => {
    expect(range(address)).toBe(name);
  });

  it.each(['8.8.8.8', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808'])('classes %s as public', (address) => {
    expect(range(address)).toBeUndefined();
  });

  it('reads only IP literals and CIDR networks', () => {
    expect(parseIp('localhost')).toBeUndefined();
    expect(parseIp('1.2.3')).toBeUndefined();
    expect(parseNetwork('10.0.0.0/33')).toBeUndefined();
    expect(parseNetwork('10.0.0.0/8/1')).toBeUndefined();
    expect(parseNetwork('example.gov.cn/8')).toBeUndefined();
  });
});

describe('the outbound address policy', () => {
  it('lets a special-use address through only inside an allowed network, mapped IPv6 forms included', () => {
    const verdict = addressPolicy(['10.20.0.0/16', '127.0.0.1']);
    expect(verdict(parseIp('10.20.1.1')!)).toEqual({ allowed: true, internal: 'private' });
    expect(verdict(parseIp('::ffff:10.20.1.1')!)).toMatchObject({ allowed: true });
    expect(verdict(parseIp('10.21.1.1')!)).toEqual({ allowed: false, range: 'private' });
    expect(verdict(parseIp('127.0.0.2')!)).toEqual({ allowed: false, range: 'loopback' });
    expect(verdict(parseIp('::1')!)).toEqual({ allowed: false, range: 'loopback' });
    expect(verdict(parseIp('169.254.169.254')!)).toEqual({ allowed: false, range: 'link-local' });
    expect(verdict(parseIp('8.8.8.8')!)).toEqual({ allowed: true });
  });

  it('refuses a configuration that names something other than a network', () => {
    expect(() => addressPolicy(['intranet.gov.cn'])).toThrow('outbound.allowedNetworks');
  });
});
