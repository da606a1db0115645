import { StatisticsRegistry } from '@sipedge/mi';
import { describe, expect, it } from 'vitest';
import { statisticsRegistry } from './metrics.js';

describe('statisticsRegistry', () => {
  it('shows counters and gauges at each scrape, including ones registered after it was made', async () => {
    const stats = new StatisticsRegistry();
    const c = stats.counter('sip', 'requests_unhandled', 'SIP requests with no handler yet');
    let load = 3;
    stats.gauge('rtp_cluster', 'calls', { help: 'Calls', read: () => load });
    const prom = statisticsRegistry(stats, { processMetrics: false });
    c.inc(5);
    let text = await prom.metrics();
    expect(text).toMatch(
      /^# HELP sipedge_sip_requests_unhandled_total SIP requests with no handler yet \(MI sip:requests_unhandled\)$/m,
    );
    expect(text).toMatch(/^# TYPE sipedge_sip_requests_unhandled_total counter$/m);
    expect(text).toMatch(/^sipedge_sip_requests_unhandled_total 5$/m);
    expect(text).toMatch(/^# TYPE sipedge_rtp_cluster_calls gauge$/m);
    expect(text).toMatch(/^sipedge_rtp_cluster_calls 3$/m);
    stats.counter('mi', 'late').inc();
    load = 7;
    c.inc();
    text = await prom.metrics();
    expect(text).toMatch(/^sipedge_mi_late_total 1$/m);
    expect(text).toMatch(/^sipedge_rtp_cluster_calls 7$/m);
    expect(text).toMatch(/^sipedge_sip_requests_unhandled_total 6$/m);
    stats.reset(['sip:']);
    expect(await prom.metrics()).toMatch(/^sipedge_sip_requests_unhandled_total 0$/m);
  });

  it('says the build in sipedge_build_info, with the commit only when known', async () => {
    const stats = new StatisticsRegistry();
    const known = statisticsRegistry(stats, {
      processMetrics: false,
      build: { version: '1.2.3', commit: 'abc123' },
    });
    expect(await known.metrics()).toContain(
      `sipedge_build_info{version="1.2.3",node_version="${process.version}",commit="abc123"} 1`,
    );
    const unknown = statisticsRegistry(stats, {
      processMetrics: false,
      build: { version: '1.2.3', commit: undefined },
    });
    expect(await unknown.metrics()).toMatch(
      /^sipedge_build_info\{version="1\.2\.3",node_version="[^"]+"\} 1$/m,
    );
  });

  it('adds Node.js process metrics under their usual names unless told not to', async () => {
    const stats = new StatisticsRegistry();
    const text = await statisticsRegistry(stats).metrics();
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^# TYPE nodejs_active_handles gauge$/m);
    // gauges named like counters are left out
    expect(text).not.toMatch(/^nodejs_active_\w+_total/m);
    expect(await statisticsRegistry(stats, { processMetrics: false }).metrics()).not.toMatch(
      /process_cpu/,
    );
  });
});
