/**
 * A node frozen by SIGSTOP (a hung process: its sockets stay open, nothing is read) is seen
 * down by the others; registrations taken meanwhile reach it after SIGCONT, and every node
 * ends with the same locations.
 */
import { notYet, until } from '@sipedge/test-utils';
import { describe, expect, it, onTestFailed } from 'vitest';
import { aors, locationDigest, missing, SipUdpUa, startCluster } from '../src/index.js';

describe('a frozen node', () => {
  it('is seen down while stopped and catches up with the registrations it missed', async () => {
    await using cluster = await startCluster({ nodes: 3 });
    onTestFailed(() => console.log(cluster.logs()));
    cluster.node(3).pause();
    await cluster.waitLinkState(1, [3], 'Down');
    await cluster.waitLinkState(2, [3], 'Down');
    using ua = await new SipUdpUa().bind();
    const users = Array.from({ length: 50 }, (_, i) => `frozen${i}`);
    for (const u of users) {
      const r = await ua.register(cluster.node(1).sipUdp!, u);
      expect(r?.code, r?.text).toBe(200);
    }
    cluster.node(3).resume();
    await cluster.waitLinked([1, 2, 3]);
    // a node coming back is merged at once (usrloc resyncOnNodeUp); if that is lost in a link
    // flap, anti-entropy (every 30 s) still converges it: allow both
    await until(
      async () => {
        const lost = missing(users, await aors(cluster.node(3)));
        return lost.length === 0 || notYet(`${lost.length} missing`);
      },
      { what: 'node 3 to hold what it missed', timeoutMs: 45_000 },
    );
    const digests = await Promise.all(cluster.nodes.map((n) => locationDigest(n)));
    expect(new Set(digests).size).toBe(1);
  }, 90_000);
});
