/**
 * Media through the cluster's embedded rtp-cluster balancer at the rtpproxy level: calls set up
 * over a node's control socket really relay RTP through a sipedge-rtp-relay; a relay killed
 * mid-test is taken offline, new calls go to the other relay, and the cluster keeps answering.
 */
import { describe, expect, it, onTestFailed } from 'vitest';
import { relayOffline, relaysOnline } from '../src/balancer.js';
import { exchangeRtp, openRtpCall, RtpEndpoint, RtppClient, startCluster } from '../src/index.js';

describe('media through the cluster balancer', () => {
  it('relays RTP both ways; after a relay is killed, new calls use the survivor', async () => {
    await using cluster = await startCluster({ nodes: 2, relays: 2, rtpControl: true });
    onTestFailed(() => console.log(cluster.logs()));
    const node = cluster.node(1);
    await relaysOnline(node);
    const control = new RtppClient({ socket: node.rtpControl ?? '', timeoutMs: 3000 });
    using caller = await new RtpEndpoint().bind();
    using callee = await new RtpEndpoint().bind();
    try {
      const first = await openRtpCall(control, 'e2e-call-1', caller, callee);
      const carrier = cluster.relays.find((r) => r.owns(first.calleeSendsTo));
      const other = cluster.relays.find((r) => r !== carrier);
      if (carrier === undefined || other === undefined) {
        throw new Error(`port ${first.calleeSendsTo} is in no relay's range`);
      }
      expect(carrier.owns(first.callerSendsTo)).toBe(true);
      await exchangeRtp(first, caller, callee, 20);
      // the relay itself counts what it relayed for this call
      const q = await carrier.rtpp.send(`Q e2e-call-1 ${first.fromTag} ${first.toTag}`);
      expect(q.kind).toBe('list');
      const relayed = q.kind === 'list' ? Number(q.values[3]) : 0;
      expect(relayed).toBeGreaterThanOrEqual(40);

      await carrier.kill();
      await relayOffline(node, carrier.name);
      for (let i = 2; i <= 6; i++) {
        const call = await openRtpCall(control, `e2e-call-${i}`, caller, callee);
        expect(other.owns(call.calleeSendsTo), `call ${i} on port ${call.calleeSendsTo}`).toBe(
          true,
        );
        await exchangeRtp(call, caller, callee, 5);
      }
      // the cluster keeps answering: MI on both nodes, links up
      await cluster.waitLinked([1, 2]);
      const info = await cluster.node(2).call<{ node_id: number }>('node_info');
      expect(info.node_id).toBe(2);
    } finally {
      control.destroy();
    }
  }, 90_000);
});
