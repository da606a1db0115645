/**
 * A federation of two sites of two nodes each, with presence in a six-instance Redis Cluster:
 * a phone registered at site A is reached by a sipp call placed at site B, with the media
 * anchored on site B's relay; unregistered at A, a call from B gets 404 within a bound; the
 * Redis master holding the AoR's slot is killed and the next call completes after the
 * failover; with every Redis instance stopped calls within a site still complete; restarted
 * (empty), Redis holds the sites' presence again within a bound.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { presenceKey } from '@sipedge/federation';
import { until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { relaysOnline } from '../src/balancer.js';
import { type Address, RtpEndpoint, SipUdpUa, startSippCall, startSites } from '../src/index.js';

const AOR = 'uas@127.0.0.1';

describe('federation of two sites', () => {
  it('calls cross sites with media anchored, survive a Redis failover and a Redis outage', async () => {
    await using sites = await startSites({ tune: { lookup_cache: 0.5, negative_cache: 0.2 } });
    onTestFailed(() => console.log(sites.logs()));
    const { a, b, redis } = sites;
    const relayB = b.cluster.relays[0]!;
    await relaysOnline(b.cluster.node(1));
    await relaysOnline(b.cluster.node(2));

    // the UAS registers at site A (through node 2: node 1, the writer, learns it by sync)
    let uasPort: number;
    {
      using ua = await SipUdpUa.outsideEphemeral();
      uasPort = ua.port;
      const reg = await ua.register(a.cluster.node(2).sipUdp!, 'uas', {
        domain: '127.0.0.1',
        expires: 600,
      });
      expect(reg?.code, reg?.text).toBe(200);
    }
    await until(async () => (await sites.sitesOf(AOR)).includes('A'), {
      what: `${AOR} at site A in Redis`,
      timeoutMs: 10_000,
    });

    let calls = 0;
    const call = async (proxy: Address, anchoredBy = relayB): Promise<void> => {
      const dir = join(b.cluster.dir, `call${++calls}`);
      mkdirSync(dir);
      using caller = await new RtpEndpoint().bind();
      using callee = await new RtpEndpoint().bind();
      const c = await startSippCall({
        dir,
        proxy,
        uasPort,
        uacRtpPort: caller.port,
        uasRtpPort: callee.port,
      });
      try {
        const toCallee = await c.answerPort();
        const toCaller = await c.offerPort();
        expect(anchoredBy.owns(toCallee), `answer port ${toCallee}`).toBe(true);
        expect(anchoredBy.owns(toCaller), `offer port ${toCaller}`).toBe(true);
        await caller.send(toCallee, 10);
        await callee.waitReceived(10);
        await callee.send(toCaller, 10);
        await caller.waitReceived(10);
        const r = await c.done();
        expect(r.uac, r.output).toBe(0);
        expect(r.uas, r.output).toBe(0);
      } finally {
        await c.stop();
      }
    };

    // 1. a call placed at site B (its node 2) reaches the UAS at site A; B anchors the media
    await call(b.cluster.node(2).sipUdp!);

    // 2. the master holding the AoR's slot dies: after Redis's failover the next call works
    const master = await redis.masterOf(presenceKey(AOR));
    await redis.kill(master);
    await redis.waitOk(30_000);
    expect(await redis.masterOf(presenceKey(AOR))).not.toBe(master);
    await call(b.cluster.node(1).sipUdp!);
    await redis.restart(master);
    await redis.waitOk(30_000);

    // 3. unregistered at A: a call from B gets 404 within a bound
    {
      // (un)registered from uasPort itself (a Contact naming another port than the source
      // counts as behind NAT); the INVITE goes from a port of its own: site B retransmits its
      // 404 (nothing ACKs it here), and that must not reach the sipp UAS on uasPort later
      using again = await new SipUdpUa().bind('127.0.0.1', uasPort);
      using probe = await new SipUdpUa().bind();
      const unreg = await again.register(a.cluster.node(2).sipUdp!, 'uas', {
        domain: '127.0.0.1',
        expires: 0,
      });
      expect(unreg?.code, unreg?.text).toBe(200);
      const t0 = Date.now();
      await until(
        async () => {
          const r = await probe.request(b.address, (via, callId) => ({
            cseq: '1 INVITE',
            text: [
              `INVITE sip:uas@127.0.0.1:${b.address.port} SIP/2.0`,
              `Via: ${via}`,
              'Max-Forwards: 70',
              `From: <sip:caller@127.0.0.1>;tag=e2e404`,
              `To: <sip:uas@127.0.0.1>`,
              `Call-ID: ${callId}`,
              'CSeq: 1 INVITE',
              'Contact: <sip:caller@127.0.0.1>',
              'Content-Length: 0',
              '',
              '',
            ].join('\r\n'),
          }));
          return r?.code === 404;
        },
        { what: 'a call from site B to get 404', timeoutMs: 5000, intervalMs: 200 },
      );
      expect(Date.now() - t0).toBeLessThan(5000);
      // registered again for what follows
      const reg = await again.register(a.cluster.node(2).sipUdp!, 'uas', {
        domain: '127.0.0.1',
        expires: 600,
      });
      expect(reg?.code, reg?.text).toBe(200);
    }
    await until(async () => (await sites.sitesOf(AOR)).includes('A'), {
      what: `${AOR} at site A in Redis again`,
      timeoutMs: 10_000,
    });

    // 4. every Redis instance stops: calls within site A still complete (anchored at A)
    for (const port of redis.ports) await redis.kill(port);
    await until(
      async () =>
        (await a.cluster.node(1).call<{ degraded: boolean }>('ul_federation_status')).degraded,
      { what: 'site A to say the federation is degraded' },
    );
    await relaysOnline(a.cluster.node(1));
    // (to a node's own address: the Request-URI sipp makes names it, and the AoR's domain is
    // 127.0.0.1)
    await call(a.cluster.node(1).sipUdp!, a.cluster.relays[0]!);

    // 5. Redis restarts empty: site A's writer publishes the AoR again within a bound
    for (const port of redis.ports) await redis.restart(port);
    await redis.waitOk(30_000);
    const t1 = Date.now();
    await until(async () => (await sites.sitesOf(AOR)).includes('A'), {
      what: `${AOR} back at site A in Redis`,
      timeoutMs: 15_000,
    });
    expect(Date.now() - t1).toBeLessThan(15_000);
    await call(b.cluster.node(1).sipUdp!);
  }, 240_000);
});
