/**
 * Kamailio 5.6 (Debian) in front of the cluster: its rtpproxy module uses a cluster-node's
 * rtp-cluster control socket as its rtpproxy. A sipp call through Kamailio gets its media
 * anchored on the relay behind the node. Fails when kamailio or sipp is missing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  kamailioRtpproxyConfig,
  peerPort,
  runSippCall,
  startKamailio,
  waitUdpBound,
} from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { relaysOnline } from '../src/balancer.js';
import { startCluster, stopOnExit } from '../src/index.js';

describe('Kamailio using the cluster as its rtpproxy', () => {
  it('anchors a sipp call on the relay behind the node', async () => {
    await using cluster = await startCluster({ nodes: 2, relays: 1, rtpControl: true });
    const node = cluster.node(1);
    const relay = cluster.relays[0];
    if (relay === undefined || node.rtpControl === undefined) throw new Error('no relay/socket');
    await relaysOnline(node);
    // Kamailio and the sipp UAS cannot listen on port 0
    const sipPort = await peerPort();
    const uasPort = await peerPort();
    const cfg = join(cluster.dir, 'kamailio.cfg');
    writeFileSync(cfg, kamailioRtpproxyConfig({ sipPort, rtpproxySock: node.rtpControl, uasPort }));
    const kamailio = startKamailio(cluster.dir, cfg);
    stopOnExit(kamailio, true);
    onTestFailed(() => console.log(`${cluster.logs()}\n--- kamailio ---\n${kamailio.output()}`));
    try {
      await waitUdpBound(sipPort, 15_000);
      const callDir = join(cluster.dir, 'call');
      mkdirSync(callDir);
      const r = await runSippCall({
        dir: callDir,
        proxyPort: sipPort,
        uasPort,
        callIdPrefix: 'kam',
      });
      expect(r.uacCode, r.diagnostics).toBe(0);
      expect(r.uasCode, r.diagnostics).toBe(0);
      // the SDP on both sides names the relay's media address and a port of its range
      const m = /INVITE-SDP c=127\.0\.0\.1 m=(\d+)/.exec(r.uasLog);
      expect(m, r.uasLog).not.toBeNull();
      expect(relay.owns(Number(m?.[1]))).toBe(true);
      const a = /200-SDP c=127\.0\.0\.1 m=(\d+)/.exec(r.uacLog);
      expect(relay.owns(Number(a?.[1])), r.uacLog).toBe(true);
      // the relay saw the session, and the BYE deleted it
      const info = await relay.rtpp.send('I');
      const entry = (k: string) =>
        info.kind === 'info' ? info.entries.find(([key]) => key === k)?.[1] : undefined;
      expect(entry('sessions created')).toBe('1');
      expect(entry('active sessions')).toBe('0');
    } finally {
      await kamailio.stop();
    }
  }, 90_000);
});
