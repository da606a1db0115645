import { describe, expect, it } from 'vitest';
import { MiDefinitionError } from '../errors.js';
import { StatisticsRegistry } from './registry.js';

describe('StatisticsRegistry', () => {
  it('registering again returns the same statistic; another kind throws', () => {
    const s = new StatisticsRegistry();
    const a = s.counter('usrloc', 'expires');
    a.inc();
    expect(s.counter('usrloc', 'expires')).toBe(a);
    expect(() => s.gauge('usrloc', 'expires')).toThrow(MiDefinitionError);
    expect(() => s.counter('bad group', 'x')).toThrow(MiDefinitionError);
    expect(() => s.counter('g', 'a:b')).toThrow(MiDefinitionError);
  });

  it('computed gauges read on demand', () => {
    const s = new StatisticsRegistry();
    const m = new Map<string, number>();
    s.gauge('usrloc', 'contacts', () => m.size);
    m.set('a', 1).set('b', 2);
    expect(s.get('usrloc:contacts')).toBe(2);
  });

  it('selectors: all, group:, group:name, bare name across groups, no duplicates', () => {
    const s = new StatisticsRegistry();
    s.counter('a', 'x').inc(1);
    s.counter('b', 'x').inc(2);
    s.gauge('b', 'y').set(3);
    expect(s.values(['all'])).toEqual({ 'a:x': 1, 'b:x': 2, 'b:y': 3 });
    expect(s.values(['b:'])).toEqual({ 'b:x': 2, 'b:y': 3 });
    expect(s.values(['x'])).toEqual({ 'a:x': 1, 'b:x': 2 });
    expect(s.match(['x', 'a:x', 'all'])).toEqual(['a:x', 'b:x', 'b:y']);
    expect(s.values(['c:', 'z'])).toEqual({});
    expect(s.groups()).toEqual(['a', 'b']);
  });

  it('reset zeroes counters only', () => {
    const s = new StatisticsRegistry();
    const c = s.counter('g', 'c');
    const g = s.gauge('g', 'v');
    c.inc(5);
    g.set(9);
    expect(s.reset(['g:'])).toBe(1);
    expect(c.value()).toBe(0);
    expect(g.value()).toBe(9);
  });

  it('renders the Prometheus text format', () => {
    const s = new StatisticsRegistry();
    s.counter('mi', 'requests').inc(4);
    s.gauge('usrloc', 'contacts-v2').set(2);
    expect(s.toPrometheus()).toBe(
      '# TYPE sipedge_mi_requests_total counter\nsipedge_mi_requests_total 4\n' +
        '# TYPE sipedge_usrloc_contacts_v2 gauge\nsipedge_usrloc_contacts_v2 2\n',
    );
    expect(new StatisticsRegistry().toPrometheus()).toBe('');
  });
});
