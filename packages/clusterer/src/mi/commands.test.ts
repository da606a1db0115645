import { callCommand, createMiCore, type MiCore } from '@sipedge/mi';
import { describe, expect, it } from 'vitest';
import { Clusterer } from '../clusterer.js';
import { VirtualClock } from '../sim/clock.js';
import { SimNetwork } from '../sim/network.js';
import { SeededRandom } from '../sim/random.js';
import { ClustererMi } from './commands.js';
import type { RemoteMiPolicy } from './remote-policy.js';

/** Let async MI handlers run and the virtual network deliver, alternately. */
async function pump(clock: VirtualClock): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(10);
  }
}

function setup(remoteMi?: (id: number) => RemoteMiPolicy | undefined): {
  clock: VirtualClock;
  nodes: Clusterer[];
  mi: MiCore[];
  net: SimNetwork;
} {
  const clock = new VirtualClock();
  const net = new SimNetwork(clock, new SeededRandom(3));
  net.cut('10.0.0.1', '10.0.0.3');
  const nodes: Clusterer[] = [];
  const mi: MiCore[] = [];
  for (const id of [1, 2, 3]) {
    const n = new Clusterer({
      transport: net.transport(`10.0.0.${id}`),
      clock,
      dbMode: 0,
      myNodeInfo: [`cluster_id=1,node_id=${id},url=bin:10.0.0.${id}:5566`],
      neighborNodeInfo: [1, 2, 3]
        .filter((x) => x !== id)
        .map((x) => `cluster_id=1,node_id=${x},url=bin:10.0.0.${x}:5566,description=box${x}`),
      pingInterval: 1,
      pingTimeout: 300,
      nodeTimeout: 60,
    });
    const core = createMiCore({ eventSockets: false });
    const policy = remoteMi?.(id);
    const cmi = new ClustererMi(n, {
      registry: core.registry,
      events: core.events,
      status: core.status,
      stats: core.stats,
      clock,
      ...(policy === undefined ? {} : { remoteMi: policy }),
    });
    core.registry.register(...cmi.commands());
    n.start();
    nodes.push(n);
    mi.push(core);
  }
  clock.runUntil(() => nodes.every((n) => n.getNodes(1).length === 2), 20_000);
  clock.advance(5000);
  return { clock, nodes, mi, net };
}

describe('clusterer MI commands (layouts as OpenSIPS 3.x)', () => {
  it('clusterer_list shows only the other nodes, next_hop as a string', async () => {
    const { mi } = setup();
    const r = await callCommand(mi[0]!.registry, 'clusterer_list');
    expect(r).toEqual({
      Clusters: [
        {
          cluster_id: 1,
          Nodes: [
            {
              node_id: 2,
              db_id: -1,
              url: 'bin:10.0.0.2:5566',
              link_state: 'Up',
              state: 'enabled',
              next_hop: '2',
              description: 'box2',
            },
            {
              node_id: 3,
              db_id: -1,
              url: 'bin:10.0.0.3:5566',
              link_state: 'Down',
              state: 'enabled',
              next_hop: '2',
              description: 'box3',
            },
          ],
        },
      ],
    });
    expect(JSON.stringify(r)).toContain(
      '"node_id":2,"db_id":-1,"url":"bin:10.0.0.2:5566","link_state":"Up"',
    );
  });

  it('clusterer_list_cap shows registered capabilities with their real sync state', async () => {
    const { mi, nodes, clock } = setup();
    nodes[0]!.registerCapability('usrloc-contact-repl', { onPacket: () => {} });
    nodes[0]!.registerCapability('dialog-dlg-repl', { onPacket: () => {} }, { startupSync: true });
    // OpenSIPS's keys exactly, unless sipedge's detail is asked for
    expect(await callCommand(mi[0]!.registry, 'clusterer_list_cap')).toEqual({
      Clusters: [
        {
          cluster_id: 1,
          Capabilities: [
            { name: 'usrloc-contact-repl', state: 'Ok', enabled: 'yes' },
            { name: 'dialog-dlg-repl', state: 'not synced', enabled: 'yes' },
          ],
        },
      ],
    });
    expect(await callCommand(mi[0]!.registry, 'clusterer_list_cap', { detail: 1 })).toEqual({
      Clusters: [
        {
          cluster_id: 1,
          Capabilities: [
            { name: 'usrloc-contact-repl', state: 'Ok', enabled: 'yes', sync_state: 'synced' },
            {
              name: 'dialog-dlg-repl',
              state: 'not synced',
              enabled: 'yes',
              sync_state: 'sync pending',
            },
          ],
        },
      ],
    });
    const st = mi[0]!.status.group('clusterer').identifier('cap:dialog-dlg-repl');
    expect(st.toStatus()).toEqual({ Readiness: false, Status: -2, Details: 'sync pending' });
    expect(st.reports().map((r) => r.Log)).toEqual([
      'Sync request postponed! (no donor available)',
    ]);
    // disable, then enable: enabling never advertises OK before the data is there
    expect(
      await callCommand(mi[0]!.registry, 'clusterer_set_cap_status', [1, 'usrloc-contact-repl', 0]),
    ).toBe('OK');
    await pump(clock);
    expect(nodes[1]!.clusters.get(1)?.nodes.get(1)?.caps.get('usrloc-contact-repl')).toBe(false);
    await callCommand(mi[0]!.registry, 'clusterer_set_cap_status', [1, 'usrloc-contact-repl', 1]);
    await pump(clock);
    expect(nodes[1]!.clusters.get(1)?.nodes.get(1)?.caps.get('usrloc-contact-repl')).toBe(true);
    await expect(
      callCommand(mi[0]!.registry, 'clusterer_set_cap_status', [1, 'nope', 1]),
    ).rejects.toMatchObject({ rpcCode: 404 });
    await expect(
      callCommand(mi[0]!.registry, 'clusterer_set_cap_status', [9, 'dialog-dlg-repl', 1]),
    ).rejects.toMatchObject({ rpcCode: 404 });
  });

  it('sharing tags: set_active tells the others, list_shtags, event and report', async () => {
    const { mi, nodes, clock } = setup();
    const seen: unknown[] = [];
    mi[1]!.events.on('E_CLUSTERER_SHARING_TAG_CHANGED', (p) => seen.push(p));
    expect(nodes[1]!.shtagState('vip/1')).toBe('backup');
    expect(await callCommand(mi[1]!.registry, 'clusterer_shtag_set_active', ['vip/1'])).toBe('OK');
    expect(await callCommand(mi[1]!.registry, 'clusterer_list_shtags')).toEqual([
      { Tag: 'vip', Cluster: 1, State: 'active' },
    ]);
    await pump(clock);
    expect(nodes[0]!.shtagState('vip/1')).toBe('backup');
    await callCommand(mi[0]!.registry, 'clusterer_shtag_set_active', ['vip/1']);
    await pump(clock);
    expect(nodes[1]!.shtagState('vip/1')).toBe('backup');
    expect(nodes[2]!.shtagState('vip/1')).toBe('backup');
    expect(nodes[0]!.shtagState('vip/1')).toBe('active');
    const logs = mi[1]!.status
      .group('clusterer')
      .identifier('sharing_tags')
      .reports()
      .map((r) => r.Log);
    expect(seen).toEqual([
      { name: 'vip', cluster: 1, state: 'active', reason: 'MI command' },
      { name: 'vip', cluster: 1, state: 'backup', reason: 'cluster broadcast from 1' },
    ]);
    expect(logs).toEqual([
      'TAG vip, cluster 1, became active due to MI command',
      'TAG vip, cluster 1, became backup due to cluster broadcast from 1',
    ]);
    for (const bad of ['vip', 'vip/', '/1', 'vip/x', 'v i p/1', 'vip/0'])
      await expect(
        callCommand(mi[0]!.registry, 'clusterer_shtag_set_active', [bad]),
      ).rejects.toMatchObject({ rpcCode: 400 });
    await expect(
      callCommand(mi[0]!.registry, 'clusterer_shtag_set_active', ['vip/7']),
    ).rejects.toMatchObject({ rpcCode: 404 });
  });

  it('clusterer_list_topology puts the local node first', async () => {
    const { mi } = setup();
    const r = (await callCommand(mi[0]!.registry, 'clusterer_list_topology')) as {
      Clusters: { Nodes: { node_id: number; Neighbours: number[] }[] }[];
    };
    const nodes = r.Clusters[0]!.Nodes.map((n) => ({ ...n, Neighbours: [...n.Neighbours].sort() }));
    expect(nodes).toEqual([
      { node_id: 1, Neighbours: [2] },
      { node_id: 2, Neighbours: [1, 3] },
      { node_id: 3, Neighbours: [2] },
    ]);
  });

  it('clusterer_set_status validates and disables a node; the event and report follow', async () => {
    const { mi, clock } = setup();
    const core = mi[0]!;
    const raised: unknown[] = [];
    core.events.on('E_CLUSTERER_NODE_STATE_CHANGED', (p) => raised.push(p));
    await expect(callCommand(core.registry, 'clusterer_set_status', [1, 2])).rejects.toMatchObject({
      rpcCode: 400,
    });
    await expect(callCommand(core.registry, 'clusterer_set_status', [9, 1])).rejects.toMatchObject({
      rpcCode: 404,
    });
    await expect(
      callCommand(core.registry, 'clusterer_set_status', [1, 7, 0]),
    ).rejects.toMatchObject({ rpcCode: 404 });
    expect(await callCommand(core.registry, 'clusterer_set_status', [1, 2, 0])).toBe('OK');
    clock.advance(100);
    expect(raised).toContainEqual({ cluster_id: 1, node_id: 2, new_state: 0 });
    expect(raised).toContainEqual({ cluster_id: 1, node_id: 3, new_state: 0 });
    const reports = core.status.group('clusterer').get('node_states')?.reports() ?? [];
    expect(reports.map((r) => r.Log)).toContain('Node [2], cluster [1] is DOWN');
    expect(
      await callCommand(core.registry, 'get_statistics', [['clusterer:clusterer_nodes_down']]),
    ).toEqual({
      'clusterer:clusterer_nodes_down': 2,
      'clusterer:clusterer_nodes_down{cluster=1}': 2,
    });
  });

  it('statistics by node and by tag: link, reachability through a neighbour, tag owner', async () => {
    const { mi, nodes, clock } = setup();
    nodes[0]!.shtags.configure(['vip/1=active', 'spare/1=backup']);
    clock.advance(100);
    const stats = mi[0]!.stats;
    // node 1 has no link to node 3 (cut) but reaches it through node 2
    expect(stats.values(['node_link_up', 'node_reachable'])).toEqual({
      'clusterer:node_link_up': 1,
      'clusterer:node_link_up{cluster=1,node=2}': 1,
      'clusterer:node_link_up{cluster=1,node=3}': 0,
      'clusterer:node_reachable': 2,
      'clusterer:node_reachable{cluster=1,node=2}': 1,
      'clusterer:node_reachable{cluster=1,node=3}': 1,
    });
    expect(stats.values(['shtag:active'])).toEqual({
      'shtag:active': 1,
      'shtag:active{cluster=1,tag=vip}': 1,
      'shtag:active{cluster=1,tag=spare}': 0,
    });
    const text = stats.toPrometheus();
    expect(text).toContain('sipedge_clusterer_nodes{cluster="1"} 2');
    expect(text).toContain('# TYPE sipedge_clusterer_bin_packets_sent_total counter');
    expect(text).toContain('sipedge_shtag_active{cluster="1",tag="vip"} 1');
  });

  it('clusterer_reload refuses script mode; remove_node checks its arguments', async () => {
    const { mi } = setup();
    await expect(callCommand(mi[0]!.registry, 'clusterer_reload')).rejects.toMatchObject({
      rpcCode: 400,
      message: 'Non-DB mode',
    });
    await expect(
      callCommand(mi[0]!.registry, 'clusterer_remove_node', [1, 9]),
    ).rejects.toMatchObject({ rpcCode: 400 });
    expect(await callCommand(mi[0]!.registry, 'clusterer_remove_node', [1, 3])).toBe('OK');
  });

  it('cluster_send_mi returns the remote result, routed through node 2', async () => {
    const { mi, clock } = setup();
    const pending = callCommand(mi[0]!.registry, 'cluster_send_mi', [
      1,
      3,
      'clusterer_list_topology',
    ]);
    await pump(clock);
    const r = (await pending) as {
      node_id: number;
      result: { Clusters: { Nodes: { node_id: number }[] }[] };
    };
    expect(r.node_id).toBe(3);
    expect(r.result.Clusters[0]!.Nodes[0]!.node_id).toBe(3);
    const bad = callCommand(mi[0]!.registry, 'cluster_send_mi', [1, 2, 'no_such_command']);
    await pump(clock);
    expect(await bad).toEqual({ node_id: 2, error: { code: -32601, message: 'Method not found' } });
    await expect(
      callCommand(mi[0]!.registry, 'cluster_send_mi', [1, 1, 'clusterer_list']),
    ).rejects.toMatchObject({
      rpcCode: 400,
    });
  });

  it('a node that runs MI_CMD without answering (as OpenSIPS) gives a 408 entry', async () => {
    const { mi, clock, nodes } = setup();
    nodes[1]!.removeAllListeners('mi_cmd');
    const pending = callCommand(mi[0]!.registry, 'cluster_send_mi', [1, 2, 'clusterer_list']);
    await pump(clock);
    clock.advance(2500);
    expect(await pending).toEqual({
      node_id: 2,
      error: { code: 408, message: 'No result from node (timeout)' },
    });
  });

  it('cluster_broadcast_mi returns the local result and every node’s', async () => {
    const { mi, clock } = setup();
    const pending = callCommand(mi[1]!.registry, 'cluster_broadcast_mi', {
      cluster_id: 1,
      cmd_name: 'clusterer_list_topology',
    });
    await pump(clock);
    type Top = { Clusters: { Nodes: { node_id: number }[] }[] };
    const r = (await pending) as { result: Top; Nodes: { node_id: number; result?: Top }[] };
    expect(r.result.Clusters[0]!.Nodes[0]!.node_id).toBe(2);
    expect(
      r.Nodes.map((n) => [n.node_id, n.result?.Clusters[0]?.Nodes[0]?.node_id]).sort(),
    ).toEqual([
      [1, 1],
      [3, 3],
    ]);
  });
});

describe('remote_mi: which MI_CMD packets other nodes may run', () => {
  const send = async (
    from: MiCore,
    clock: VirtualClock,
    dst: number,
    cmd: string,
    params: string[] = [],
  ): Promise<unknown> => {
    const pending = callCommand(from.registry, 'cluster_send_mi', [1, dst, cmd, params]);
    await pump(clock);
    return await pending;
  };

  it('by default runs read-only commands and refuses the others with a 403 the sender sees', async () => {
    const { mi, clock, nodes } = setup();
    const r = (await send(mi[0]!, clock, 2, 'clusterer_list')) as { result?: unknown };
    expect(r.result).toBeDefined();
    expect(await send(mi[0]!, clock, 2, 'clusterer_set_status', ['1', '1', '0'])).toEqual({
      node_id: 2,
      error: {
        code: 403,
        message:
          "MI command 'clusterer_set_status' is not allowed from other nodes (clusterer.remote_mi)",
      },
    });
    // nothing ran: node 2 still holds node 1 enabled
    expect(nodes[1]!.clusters.get(1)?.nodes.get(1)?.enabled).toBe(true);
    expect(nodes[1]!.counters.get('refused_mi_not_allowed')).toBe(1);
    expect(
      await callCommand(mi[1]!.registry, 'get_statistics', [
        ['clusterer:bin_refused_mi_not_allowed'],
      ]),
    ).toEqual({ 'clusterer:bin_refused_mi_not_allowed': 1 });
    // an unknown command is still "not found", not "not allowed"
    expect(await send(mi[0]!, clock, 2, 'no_such_command')).toMatchObject({
      error: { code: -32601 },
    });
  });

  it('runs the commands it lists, only from the nodes it lists', async () => {
    const { mi, clock, nodes } = setup((id) =>
      id === 2 ? { allow: ['read_only', 'clusterer_set_status'], from: [3] } : undefined,
    );
    expect(await send(mi[0]!, clock, 2, 'clusterer_list')).toMatchObject({
      error: {
        code: 403,
        message: 'MI commands from node 1 are not allowed (clusterer.remote_mi)',
      },
    });
    expect(nodes[1]!.counters.get('refused_mi_node_not_allowed')).toBe(1);
    expect(await send(mi[2]!, clock, 2, 'clusterer_set_status', ['1', '1', '0'])).toEqual({
      node_id: 2,
      result: 'OK',
    });
    expect(nodes[1]!.clusters.get(1)?.nodes.get(1)?.enabled).toBe(false);
  });

  it('`all` runs every command, as OpenSIPS does', async () => {
    const { mi, clock } = setup(() => ({ allow: ['all'] }));
    expect(await send(mi[0]!, clock, 2, 'clusterer_set_status', ['1', '3', '0'])).toEqual({
      node_id: 2,
      result: 'OK',
    });
  });
});
