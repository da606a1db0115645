/**
 * A sipp call into node 1 for a sipp UAS registered through node 2 (lookup, then the Path back
 * through node 2), with media anchored on the relays
 * behind the node (both SDPs rewritten to a relay, the relay sees the session and the BYE ends
 * it). A relay killed mid-test: the next call is anchored on the other, the cluster answers.
 * And RTP really flows: with both SDPs naming sockets the test owns, packets sent to the relay
 * ports the SDPs were rewritten to arrive at the other side, both ways.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { runSippCall, until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { relayOffline, relaysOnline } from '../src/balancer.js';
import { locations, RtpEndpoint, SipUdpUa, startCluster, startSippCall } from '../src/index.js';

describe('calls through the cluster', () => {
  it('anchors media on a relay; after that relay dies the next call uses the other', async () => {
    await using cluster = await startCluster({ nodes: 2, relays: 2 });
    onTestFailed(() => console.log(cluster.logs()));
    const node = cluster.node(1);
    await relaysOnline(node);
    // the UAS registers from the port it will answer on (so no NAT fix-up applies): our UA
    // binds a port outside the ephemeral range (no concurrent bind(0) can take it), registers
    // sip:uas@127.0.0.1 through node 2, and hands the port to sipp
    let uasPort: number;
    {
      using ua = await SipUdpUa.outsideEphemeral();
      uasPort = ua.port;
      const reg = await ua.register(cluster.node(2).sipUdp!, 'uas', { domain: '127.0.0.1' });
      expect(reg?.code, reg?.text).toBe(200);
    }
    await until(async () => (await locations(node)).has('uas'), {
      what: 'node 1 to know the UAS (replicated from node 2)',
    });

    const call = async (name: string) => {
      const dir = join(cluster.dir, name);
      mkdirSync(dir);
      const r = await runSippCall({
        dir,
        proxyPort: node.sipUdp!.port,
        uasPort,
        callIdPrefix: name,
      });
      expect(r.uacCode, r.diagnostics).toBe(0);
      expect(r.uasCode, r.diagnostics).toBe(0);
      const offer = Number(/INVITE-SDP c=127\.0\.0\.1 m=(\d+)/.exec(r.uasLog)?.[1]);
      const answer = Number(/200-SDP c=127\.0\.0\.1 m=(\d+)/.exec(r.uacLog)?.[1]);
      const relay = cluster.relays.find((x) => x.owns(offer));
      expect(relay, `offer port ${offer}\n${r.uasLog}`).toBeDefined();
      expect(relay?.owns(answer), `answer port ${answer}`).toBe(true);
      return relay!;
    };

    const first = await call('call1');
    const info = await first.rtpp.send('I');
    const entry = (k: string) =>
      info.kind === 'info' ? info.entries.find(([key]) => key === k)?.[1] : undefined;
    expect(entry('sessions created')).toBe('1');
    expect(entry('active sessions')).toBe('0');

    await first.kill();
    await relayOffline(node, first.name);
    const second = await call('call2');
    expect(second.name).not.toBe(first.name);
    await cluster.waitLinked([1, 2]);
  }, 120_000);

  it('RTP flows end to end through the relay both SDPs were rewritten to', async () => {
    await using cluster = await startCluster({ nodes: 2, relays: 1 });
    onTestFailed(() => console.log(cluster.logs()));
    const relay = cluster.relays[0]!;
    let uasPort: number;
    {
      using ua = await SipUdpUa.outsideEphemeral();
      uasPort = ua.port;
      const reg = await ua.register(cluster.node(2).sipUdp!, 'uas', { domain: '127.0.0.1' });
      expect(reg?.code, reg?.text).toBe(200);
    }
    await until(async () => (await locations(cluster.node(1))).has('uas'), {
      what: 'node 1 to know the UAS',
    });
    // the media sockets the two SDPs name: the UAC's and the UAS's
    using caller = await new RtpEndpoint().bind();
    using callee = await new RtpEndpoint().bind();
    const call = await startSippCall({
      dir: cluster.dir,
      proxy: cluster.node(1).sipUdp!,
      uasPort,
      uacRtpPort: caller.port,
      uasRtpPort: callee.port,
    });
    try {
      const toCallee = await call.answerPort(); // where the caller sends (200 OK SDP)
      const toCaller = await call.offerPort(); // where the callee sends (INVITE SDP)
      expect(relay.owns(toCallee), `answer port ${toCallee}`).toBe(true);
      expect(relay.owns(toCaller), `offer port ${toCaller}`).toBe(true);
      await caller.send(toCallee, 20);
      await callee.waitReceived(20);
      await callee.send(toCaller, 20);
      await caller.waitReceived(20);
      const r = await call.done();
      expect(r.uac, r.output).toBe(0);
      expect(r.uas, r.output).toBe(0);
    } finally {
      await call.stop();
    }
  }, 90_000);
});
