import { describe, expect, it } from 'vitest';
import { LOCAL_SOURCE, parseHostPort, plainAddress, SourceCounts, sourceOf } from './source.js';

describe('source addresses', () => {
  it('an IPv4 peer on a dual-stack socket is its IPv4 address', () => {
    expect(plainAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(plainAddress('10.0.0.1')).toBe('10.0.0.1');
    expect(plainAddress('::1')).toBe('::1');
    expect(plainAddress('::ffff:a00:1')).toBe('::ffff:a00:1');
    expect(plainAddress('fd00::ffff:1')).toBe('fd00::ffff:1');
  });

  it('a sender with no address is local', () => {
    expect(sourceOf(undefined)).toBe(LOCAL_SOURCE);
    expect(sourceOf('::ffff:192.0.2.7')).toBe('192.0.2.7');
  });
});

describe('SourceCounts', () => {
  it('counts per source and forgets a source that holds none', () => {
    const held = new SourceCounts();
    held.add('10.0.0.1');
    held.add('10.0.0.1');
    held.add('10.0.0.2');
    expect([held.of('10.0.0.1'), held.of('10.0.0.2'), held.of('10.0.0.3')]).toEqual([2, 1, 0]);
    expect([held.total, held.sources]).toEqual([3, 2]);
    held.remove('10.0.0.1');
    held.remove('10.0.0.2');
    expect([held.of('10.0.0.1'), held.total, held.sources]).toEqual([1, 1, 1]);
  });

  it('a remove for a source that holds none changes nothing', () => {
    const held = new SourceCounts();
    held.remove('10.0.0.1');
    held.add('10.0.0.2');
    held.remove('10.0.0.1');
    expect([held.of('10.0.0.1'), held.total, held.sources]).toEqual([0, 1, 1]);
  });
});

describe('parseHostPort', () => {
  it('splits host:port and [v6]:port, and refuses the rest', () => {
    expect(parseHostPort('127.0.0.1:5060')).toEqual({ host: '127.0.0.1', port: 5060 });
    expect(parseHostPort('[::1]:7001')).toEqual({ host: '::1', port: 7001 });
    expect(parseHostPort('redis.example:6379')).toEqual({ host: 'redis.example', port: 6379 });
    for (const bad of ['127.0.0.1', '1.2.3.4:65536', '[nohost]:1', '::1:80', 'a b:1', ':80'])
      expect(parseHostPort(bad)).toBeUndefined();
  });
});
