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

  it('counters kept elsewhere: read when shown, reset by a baseline', () => {
    const s = new StatisticsRegistry();
    let kept = 7;
    const c = s.counter('bin', 'sent', { help: 'Packets sent', read: () => kept });
    expect(c.value()).toBe(7);
    expect(s.kinds(['bin:'])).toEqual({ 'bin:sent': 'incremental' });
    expect(s.reset(['bin:sent'])).toBe(1);
    kept = 10;
    expect(s.get('bin:sent')).toBe(3);
    kept = 2; // the source went back (restarted): shown as it is
    expect(s.get('bin:sent')).toBe(2);
  });

  it('labelled statistics: MI shows the sum and each series flattened', () => {
    const s = new StatisticsRegistry();
    const nodes = new Map([
      ['1', 3],
      ['2', 1],
    ]);
    s.labelledGauge('clusterer', 'nodes', {
      help: 'Nodes',
      labels: ['cluster'],
      series: () => [...nodes].map(([k, v]) => [[k], v] as const),
    });
    s.labelledGauge('rtp', 'rtt', {
      labels: ['relay'],
      series: () => [[['r1'], 0.5]],
      summable: false,
    });
    expect(s.values(['clusterer:nodes'])).toEqual({
      'clusterer:nodes': 4,
      'clusterer:nodes{cluster=1}': 3,
      'clusterer:nodes{cluster=2}': 1,
    });
    expect(s.values(['clusterer:nodes{cluster=2}'])).toEqual({ 'clusterer:nodes{cluster=2}': 1 });
    expect(s.values(['rtp:'])).toEqual({ 'rtp:rtt{relay=r1}': 0.5 });
    expect(s.get('clusterer:nodes')).toBe(4);
    expect(s.get('rtp:rtt')).toBeUndefined();
    expect(() => s.gauge('clusterer', 'nodes')).toThrow(MiDefinitionError);
    expect(() => s.labelledGauge('x', 'y', { labels: ['Bad-Label'], series: () => [] })).toThrow(
      MiDefinitionError,
    );
    expect(() => s.labelledGauge('x', 'z', { labels: [], series: () => [] })).toThrow(
      MiDefinitionError,
    );
  });

  it('labelled counters reset per series; series past the cap are summed as _other', () => {
    const s = new StatisticsRegistry();
    const counts = new Map([
      ['a', 5],
      ['b', 6],
      ['c', 7],
    ]);
    s.labelledCounter('sip', 'requests', {
      labels: ['listener'],
      series: () => [...counts].map(([k, v]) => [[k], v] as const),
      maxSeries: 2,
    });
    expect(s.values(['sip:requests'])).toEqual({
      'sip:requests': 18,
      'sip:requests{listener=a}': 5,
      'sip:requests{listener=b}': 6,
      'sip:requests{listener=_other}': 7,
    });
    s.reset(['sip:']);
    counts.set('a', 6);
    expect(s.values(['sip:requests'])).toMatchObject({
      'sip:requests': 1,
      'sip:requests{listener=a}': 1,
    });
  });

  it('renders the Prometheus text format with HELP, TYPE and labels', () => {
    const s = new StatisticsRegistry();
    s.counter('mi', 'requests', 'JSON-RPC requests').inc(4);
    s.gauge('usrloc', 'contacts-v2').set(2);
    s.gauge('clusterer', 'clusterer_nodes', { help: 'Known nodes', read: () => 3 });
    s.counter('x', 'bytes_total', { help: 'Bytes', unit: 'bytes' });
    s.labelledGauge('shtag', 'active', {
      help: 'Whether this node is active for the tag',
      labels: ['cluster', 'tag'],
      series: () => [[['1', 'v"ip\\'], 1]],
    });
    expect(s.toPrometheus()).toBe(
      [
        '# HELP sipedge_mi_requests_total JSON-RPC requests (MI mi:requests)',
        '# TYPE sipedge_mi_requests_total counter',
        'sipedge_mi_requests_total 4',
        '# HELP sipedge_usrloc_contacts_v2 MI statistic usrloc:contacts-v2 (no description)',
        '# TYPE sipedge_usrloc_contacts_v2 gauge',
        'sipedge_usrloc_contacts_v2 2',
        '# HELP sipedge_clusterer_nodes Known nodes (MI clusterer:clusterer_nodes)',
        '# TYPE sipedge_clusterer_nodes gauge',
        'sipedge_clusterer_nodes 3',
        '# HELP sipedge_x_bytes_total Bytes (MI x:bytes_total)',
        '# TYPE sipedge_x_bytes_total counter',
        'sipedge_x_bytes_total 0',
        '# HELP sipedge_shtag_active Whether this node is active for the tag (MI shtag:active)',
        '# TYPE sipedge_shtag_active gauge',
        'sipedge_shtag_active{cluster="1",tag="v\\"ip\\\\"} 1',
        '',
      ].join('\n'),
    );
    expect(new StatisticsRegistry().toPrometheus()).toBe('');
  });
});
