import { StatisticsRegistry } from '@sipedge/mi';
import { describe, expect, it } from 'vitest';
import { promName, statisticsRegistry } from './metrics.js';

describe('promName', () => {
  it('follows sipedge_<group>_<name>[_total]', () => {
    expect(promName('clusterer:bin_packets_sent', true)).toBe(
      'sipedge_clusterer_bin_packets_sent_total',
    );
    expect(promName('rtp_cluster:calls', false)).toBe('sipedge_rtp_cluster_calls');
  });
});

describe('statisticsRegistry', () => {
  it('mirrors counters and gauges, including ones registered after it was made', async () => {
    const stats = new StatisticsRegistry();
    const c = stats.counter('sip', 'requests_received');
    let load = 3;
    stats.gauge('rtp_cluster', 'calls', () => load);
    const prom = statisticsRegistry(stats, { processMetrics: false });
    c.inc(5);
    let text = await prom.metrics();
    expect(text).toMatch(/^# TYPE sipedge_sip_requests_received_total counter$/m);
    expect(text).toMatch(/^sipedge_sip_requests_received_total 5$/m);
    expect(text).toMatch(/^# TYPE sipedge_rtp_cluster_calls gauge$/m);
    expect(text).toMatch(/^sipedge_rtp_cluster_calls 3$/m);
    stats.counter('mi', 'late').inc();
    load = 7;
    c.inc();
    text = await prom.metrics();
    expect(text).toMatch(/^sipedge_mi_late_total 1$/m);
    expect(text).toMatch(/^sipedge_rtp_cluster_calls 7$/m);
    expect(text).toMatch(/^sipedge_sip_requests_received_total 6$/m);
    stats.reset(['sip:']);
    expect(await prom.metrics()).toMatch(/^sipedge_sip_requests_received_total 0$/m);
  });

  it('adds Node.js process metrics unless told not to', async () => {
    const stats = new StatisticsRegistry();
    expect(await statisticsRegistry(stats).metrics()).toMatch(
      /^sipedge_node_process_cpu_user_seconds_total /m,
    );
    expect(await statisticsRegistry(stats, { processMetrics: false }).metrics()).not.toMatch(
      /process_cpu/,
    );
  });
});
