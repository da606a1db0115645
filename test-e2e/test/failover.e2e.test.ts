/**
 * SIGKILL of the node that owns the service address while sipp registers through it: every
 * registration answered 200 is on the survivors, one survivor owns the sharing tag and the
 * address (it answers SIP there) and sends the NAT pings; the failover time from the kill to
 * the first SIP answer on the service address is reported (asserted only against 5 s).
 */
import { notYet, until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { holdEvery, SipUdpUa, startCluster, startRegisterLoad } from '../src/index.js';
import { activeOwners } from '../src/shtags.js';

describe('failover of the service address', () => {
  it('SIGKILL of the node taking a REGISTER load loses no acknowledged registration', async () => {
    await using cluster = await startCluster({
      nodes: 3,
      ha: { active: 1 },
      logLevel: 'warn',
      configure: (c) => {
        // pings every second to every contact; sipp's contacts do not answer them, and none
        // may be removed for it (removal on lost pings is off by default)
        (c.sip as Record<string, unknown>).nat_ping = {
          interval: 1,
          kind: 'options',
          all_contacts: true,
        };
      },
    });
    onTestFailed(() => console.log(cluster.logs()));
    const sa = cluster.serviceAddress!;
    using probe = await new SipUdpUa().bind();
    await until(
      async () => {
        const owners = await activeOwners(cluster);
        return (
          (owners.join() === '1' && (await probe.options(sa)) !== undefined) ||
          notYet(`owners: ${owners.join()}`)
        );
      },
      { what: 'node 1 to own the service address', timeoutMs: 15_000 },
    );
    // a NATed-looking phone: private Contact, pinged at its source address by the owner
    using phone = await new SipUdpUa().bind();
    const r = await phone.register(sa, 'natphone', { contact: '10.11.12.13:5060' });
    expect(r?.code, r?.text).toBe(200);
    await until(() => phone.requests.some((q) => q.method === 'OPTIONS'), {
      what: 'NAT pings from node 1',
    });

    const load = await startRegisterLoad({
      dir: cluster.dir,
      target: sa,
      count: 2000,
      rate: 200,
      prefix: 'kill',
    });
    try {
      await until(() => load.acknowledged().size >= 500, {
        what: '500 acknowledged registrations',
        timeoutMs: 30_000,
      });
      const killedAt = Date.now();
      await cluster.node(1).kill('SIGKILL');
      let answeredAt = 0;
      await until(
        async () => {
          if ((await probe.options(sa, 100)) === undefined) return false;
          answeredAt = Date.now();
          return true;
        },
        { what: 'the service address to answer again', intervalMs: 10 },
      );
      const failoverMs = answeredAt - killedAt;
      console.log(
        `service address failover: ${failoverMs} ms from SIGKILL to the first SIP answer`,
      );
      expect(failoverMs).toBeLessThan(5000);
      const owners = await activeOwners(cluster);
      expect(owners).toHaveLength(1);
      const pingsAfter = () =>
        phone.requests.filter((q) => q.method === 'OPTIONS' && q.at > answeredAt).length;
      await until(() => pingsAfter() >= 2, { what: 'NAT pings from the new owner' });

      const { ok, output } = await load.done();
      expect(ok.size, output.slice(-2000)).toBeGreaterThan(1000);
      await holdEvery((id) => cluster.node(id), [2, 3], ok);
    } finally {
      await load.stop();
    }
  }, 120_000);
});
