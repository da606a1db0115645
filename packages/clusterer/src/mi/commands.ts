import { type Clock, systemClock } from '@sipedge/core';
import {
  callCommand,
  defineCommand,
  type EventBus,
  type MiCommand,
  MiCommandError,
  type MiRegistry,
  MiRpcError,
  type StatisticsRegistry,
  type StatusReportRegistry,
} from '@sipedge/mi';
import { z } from 'zod';
import { Clusterer } from '../clusterer.js';
import { ClustererConfigError } from '../errors.js';
import type { GenericMessageEvent, MiCommandEvent, NodeStateEvent } from '../events.js';
import { SendResult } from '../messaging/router.js';
import { LinkState } from '../nodes/remote-node.js';
import { type CapStatusEvent, capStatusLabel } from '../sync/capability.js';
import type { DonorlessSyncEvent } from '../sync/donorless.js';
import { parseTagKey, type ShtagChangeEvent } from '../tags/sharing-tags.js';
import { DEFAULT_REMOTE_MI, type RemoteMiPolicy, remoteMiRefusal } from './remote-policy.js';
import { type RemoteMiResult, RemoteMiResults } from './remote-results.js';
import { registerStatistics, type TransportStatistics } from './statistics.js';

/** GENERIC_MSG tag sipedge nodes use to carry an MI_CMD's result back to the sender. */
export const MI_RESULT_TAG = 'sipedge-mi-result';

export const NODE_STATE_EVENT = 'E_CLUSTERER_NODE_STATE_CHANGED';
export const REQ_RECEIVED_EVENT = 'E_CLUSTERER_REQ_RECEIVED';
export const RPL_RECEIVED_EVENT = 'E_CLUSTERER_RPL_RECEIVED';
export const SHTAG_CHANGED_EVENT = 'E_CLUSTERER_SHARING_TAG_CHANGED';
/** sipedge only: this node declared a capability's data synced with no donor. */
export const DONORLESS_SYNC_EVENT = 'E_CLUSTERER_DONORLESS_SYNC';

export interface ClustererMiOptions {
  /** Registry used to run MI_CMD packets received from other nodes (and local broadcasts). */
  registry?: MiRegistry;
  events?: EventBus;
  status?: StatusReportRegistry;
  stats?: StatisticsRegistry;
  /** How long cluster_send_mi / cluster_broadcast_mi wait for remote results (default 2000 ms). */
  remoteTimeoutMs?: number;
  /** Timers for that wait (default: the system clock). */
  clock?: Clock;
  /**
   * Which MI_CMD packets from other nodes are run (`clusterer.remote_mi`; default: read-only
   * commands from any node). Others are answered with a 403 error and counted.
   */
  remoteMi?: RemoteMiPolicy;
  /** The BIN transport, for its connection counters as statistics. */
  transport?: TransportStatistics;
}

/**
 * The clusterer's MI side: commands (layouts as OpenSIPS 3.x), the node state event,
 * the `clusterer/node_states` status/report identifier, statistics, and execution of MI_CMD
 * packets from other nodes (whose results sipedge sends back).
 */
export class ClustererMi {
  readonly #results: RemoteMiResults;
  readonly #detach: (() => void)[] = [];

  constructor(
    readonly clusterer: Clusterer,
    readonly options: ClustererMiOptions = {},
  ) {
    this.#results = new RemoteMiResults(
      options.clock ?? systemClock,
      options.remoteTimeoutMs ?? 2000,
    );
    const { events, status, stats } = options;
    events?.register(NODE_STATE_EVENT);
    events?.register(REQ_RECEIVED_EVENT);
    events?.register(RPL_RECEIVED_EVENT);
    events?.register(SHTAG_CHANGED_EVENT);
    const group = status?.group('clusterer');
    const capId = (name: string) =>
      group?.identifier(`cap:${name}`, { status: -3, details: 'not synced', maxReports: 200 });
    for (const name of clusterer.capabilityNames()) {
      const st = clusterer.capabilityStatus(name);
      if (st !== undefined) capId(name)?.setStatus(st.status, capStatusLabel(st.status));
    }
    const onCap = (e: CapStatusEvent): void => {
      const id = capId(e.capability);
      id?.setStatus(e.status, capStatusLabel(e.status));
      id?.report(e.report);
    };
    const tagsSr = group?.identifier('sharing_tags', { status: 1, details: 'ok', maxReports: 200 });
    const onTag = (e: ShtagChangeEvent): void => {
      events?.raise(SHTAG_CHANGED_EVENT, {
        name: e.name,
        cluster: e.clusterId,
        state: e.state,
        reason: e.reason,
      });
      tagsSr?.report(`TAG ${e.name}, cluster ${e.clusterId}, became ${e.state} due to ${e.reason}`);
    };
    const onDonorless = (e: DonorlessSyncEvent): void => {
      events?.raise(DONORLESS_SYNC_EVENT, {
        cluster_id: e.clusterId,
        capability: e.capability,
        reason: e.reason,
        peers: e.peers,
        stamp: e.stamp,
        // unix seconds, as the clock reads them
        time: Math.floor(e.at / 1000),
        no_donor_since: Math.floor(e.since / 1000),
      });
      capId(e.capability)?.report(
        `Declared synced without a donor (${e.reason}) after no donor since ${new Date(e.since).toISOString()}`,
      );
    };
    clusterer.on('cap_status', onCap);
    clusterer.on('shtag_changed', onTag);
    clusterer.on('donorless_sync', onDonorless);
    this.#detach.push(() => {
      clusterer.off('cap_status', onCap);
      clusterer.off('shtag_changed', onTag);
      clusterer.off('donorless_sync', onDonorless);
    });
    const sr = status
      ?.group('clusterer')
      .identifier('node_states', { status: 1, details: 'ok', maxReports: 200 });
    const onState = (e: NodeStateEvent): void => {
      events?.raise(NODE_STATE_EVENT, {
        cluster_id: e.clusterId,
        node_id: e.nodeId,
        new_state: e.up ? 1 : 0,
      });
      sr?.report(`Node [${e.nodeId}], cluster [${e.clusterId}] is ${e.up ? 'UP' : 'DOWN'}`);
    };
    const onRequest = (e: GenericMessageEvent): void => {
      events?.raise(REQ_RECEIVED_EVENT, {
        cluster_id: e.clusterId,
        src_id: e.srcId,
        msg: e.msg,
        tag: e.tag,
      });
    };
    const onReply = (e: GenericMessageEvent): void => {
      if (e.tag === MI_RESULT_TAG) this.#results.onResult(e.srcId, e.msg);
      else
        events?.raise(RPL_RECEIVED_EVENT, {
          cluster_id: e.clusterId,
          src_id: e.srcId,
          msg: e.msg,
          tag: e.tag,
        });
    };
    const onMi = (e: MiCommandEvent): void => {
      void this.#runRemote(e.clusterId, e.srcId, e.command, e.params);
    };
    clusterer.on('node_state', onState);
    clusterer.on('request', onRequest);
    clusterer.on('reply', onReply);
    clusterer.on('mi_cmd', onMi);
    this.#detach.push(() => {
      clusterer.off('node_state', onState);
      clusterer.off('request', onRequest);
      clusterer.off('reply', onReply);
      clusterer.off('mi_cmd', onMi);
    });
    if (stats !== undefined) registerStatistics(stats, clusterer, options.transport);
  }

  close(): void {
    for (const d of this.#detach.splice(0)) d();
    this.#results.close();
  }

  async #runLocal(
    command: string,
    params: string[],
  ): Promise<RemoteMiResult['result'] | RemoteMiResult['error']> {
    const registry = this.options.registry;
    if (registry === undefined) throw new MiCommandError(500, 'No MI registry');
    return await callCommand(registry, command, params);
  }

  async #runRemote(
    clusterId: number,
    srcId: number,
    command: string,
    params: string[],
  ): Promise<void> {
    let msg: string;
    const policy = this.options.remoteMi ?? DEFAULT_REMOTE_MI;
    const refusal = remoteMiRefusal(policy, this.options.registry, srcId, command);
    if (refusal !== undefined) {
      this.clusterer.refusals.refuse(refusal, `node ${srcId}`, { cluster: clusterId, command });
      const message =
        refusal === 'mi_node_not_allowed'
          ? `MI commands from node ${srcId} are not allowed (clusterer.remote_mi)`
          : `MI command '${command}' is not allowed from other nodes (clusterer.remote_mi)`;
      msg = JSON.stringify({ cmd: command, error: { code: 403, message } });
      this.#reply(clusterId, srcId, msg);
      return;
    }
    try {
      const result = await this.#runLocal(command, params);
      msg = JSON.stringify({ cmd: command, result });
    } catch (e) {
      const code =
        e instanceof MiRpcError ? e.rpcCode : e instanceof MiCommandError ? e.status : 500;
      msg = JSON.stringify({
        cmd: command,
        error: { code, message: e instanceof Error ? e.message : String(e) },
      });
    }
    this.#reply(clusterId, srcId, msg);
  }

  /**
   * The result of an MI_CMD goes back only to a sipedge node: OpenSIPS sends none, and would
   * raise an unsolicited GENERIC_MSG reply as `E_CLUSTERER_RPL_RECEIVED`.
   */
  #reply(clusterId: number, srcId: number, msg: string): void {
    if (this.clusterer.speaksSipedge(clusterId, srcId))
      this.clusterer.sendReply(clusterId, srcId, MI_RESULT_TAG, msg);
    else this.clusterer.count('mi_results_not_sent');
  }

  #cluster(id: number): NonNullable<ReturnType<Clusterer['clusters']['get']>> {
    const cl = this.clusterer.clusters.get(id);
    if (cl === undefined) throw new MiCommandError(404, 'Cluster id not found');
    return cl;
  }

  /** The commands, ready for an MiRegistry. */
  commands(): MiCommand[] {
    const c = this.clusterer;
    const id = z.coerce.number().int();
    const cmdParams = z.array(z.coerce.string()).max(10).optional();
    return [
      defineCommand({
        name: 'clusterer_reload',
        module: 'clusterer',
        description: 'Reload the clusterer table (db_mode=1)',
        handler: () => {
          if (c.dbMode !== 1) throw new MiCommandError(400, 'Non-DB mode');
          try {
            c.reload();
          } catch (e) {
            throw new MiCommandError(500, 'Failed to reload', { cause: e });
          }
          return 'OK';
        },
      }),
      defineCommand({
        name: 'clusterer_list',
        readOnly: true,
        module: 'clusterer',
        description: 'List the other nodes of every cluster with their link state',
        handler: () => ({
          Clusters: [...c.clusters.values()].map((cl) => ({
            cluster_id: cl.id,
            Nodes: [...cl.nodes.values()].map((n) => ({
              node_id: n.id,
              db_id: n.dbId,
              url: n.url,
              link_state: Clusterer.linkLabel(n.link),
              state: n.enabled ? 'enabled' : 'disabled',
              next_hop: n.nextHop === undefined ? 'none' : String(n.nextHop),
              description: n.description === '' ? 'none' : n.description,
            })),
          })),
        }),
      }),
      defineCommand({
        name: 'clusterer_list_topology',
        readOnly: true,
        module: 'clusterer',
        description: 'List the adjacency of every node as known here',
        handler: () => ({
          Clusters: [...c.clusters.values()].map((cl) => ({
            cluster_id: cl.id,
            Nodes: [
              { node_id: c.myNodeId, Neighbours: [...cl.direct] },
              ...[...cl.nodes.values()].map((n) => ({
                node_id: n.id,
                Neighbours: [...n.neighbours, ...(n.link === LinkState.UP ? [c.myNodeId] : [])],
              })),
            ],
          })),
        }),
      }),
      defineCommand({
        name: 'clusterer_list_cap',
        readOnly: true,
        module: 'clusterer',
        description:
          'List the local capabilities of every cluster (detail=1 adds sipedge sync_state)',
        params: z.object({ detail: z.coerce.number().int().min(0).max(1).optional() }),
        // without `detail` the answer is OpenSIPS's, key for key: "state" carries only the OK
        // bit; `detail: 1` (sipedge) adds "sync_state" with the stage
        handler: ({ detail }) => ({
          Clusters: [...c.clusters.values()].map((cl) => ({
            cluster_id: cl.id,
            Capabilities: c.capabilityNames().flatMap((name) => {
              const st = c.capabilityStatus(name);
              if (st === undefined || st.clusterId !== cl.id) return [];
              const shown = {
                name,
                state: st.status === 1 && st.enabled ? 'Ok' : 'not synced',
                enabled: st.enabled ? 'yes' : 'no',
              };
              return [detail === 1 ? { ...shown, sync_state: capStatusLabel(st.status) } : shown];
            }),
          })),
        }),
      }),
      defineCommand({
        name: 'clusterer_set_cap_status',
        module: 'clusterer',
        description: 'Enable (1) or disable (0) a local capability',
        params: z.object({
          cluster_id: id,
          capability: z.string(),
          status: z.coerce.number().int(),
        }),
        handler: ({ cluster_id, capability, status }) => {
          if (status !== 0 && status !== 1) throw new MiCommandError(400, 'Bad value for status');
          try {
            c.setCapabilityEnabled(cluster_id, capability, status === 1);
          } catch (e) {
            if (e instanceof ClustererConfigError) throw new MiCommandError(404, e.message);
            throw e;
          }
          return 'OK';
        },
      }),
      defineCommand({
        name: 'clusterer_list_shtags',
        readOnly: true,
        module: 'clusterer',
        description: 'List the sharing tags and their states',
        handler: () =>
          c.shtags.list().map((t) => ({ Tag: t.name, Cluster: t.clusterId, State: t.state })),
      }),
      defineCommand({
        name: 'clusterer_shtag_set_active',
        module: 'clusterer',
        description: 'Make this node the active owner of a sharing tag "name/cluster_id"',
        params: z.object({ tag: z.string() }),
        handler: ({ tag }) => {
          let key: { name: string; clusterId: number };
          try {
            key = parseTagKey(tag);
          } catch (e) {
            throw new MiCommandError(400, e instanceof Error ? e.message : 'Bad tag format');
          }
          if (!c.clusters.has(key.clusterId)) throw new MiCommandError(404, 'Cluster id not found');
          c.shtagSetActive(tag, 'MI command');
          return 'OK';
        },
      }),
      defineCommand({
        name: 'clusterer_set_status',
        module: 'clusterer',
        description: 'Enable (1) or disable (0) the local node or a remote node',
        params: z.object({
          cluster_id: id,
          node_id: id.optional(),
          status: z.coerce.number().int(),
        }),
        recipes: [
          ['cluster_id', 'status'],
          ['cluster_id', 'node_id', 'status'],
        ],
        handler: ({ cluster_id, node_id, status }) => {
          if (status !== 0 && status !== 1) throw new MiCommandError(400, 'Bad value for status');
          const cl = this.#cluster(cluster_id);
          if (node_id !== undefined && node_id !== c.myNodeId && !cl.nodes.has(node_id)) {
            throw new MiCommandError(404, 'Node id not found');
          }
          c.setState(cluster_id, status === 1, node_id);
          return 'OK';
        },
      }),
      defineCommand({
        name: 'clusterer_remove_node',
        module: 'clusterer',
        description: 'Remove a node from a cluster on every node (db_mode=0)',
        params: z.object({ cluster_id: id, node_id: id }),
        handler: ({ cluster_id, node_id }) => {
          if (c.dbMode !== 0) throw new MiCommandError(400, 'Running in DB mode');
          const cl = c.clusters.get(cluster_id);
          if (cl === undefined) throw new MiCommandError(400, 'Unknown cluster id');
          if (!cl.nodes.has(node_id)) throw new MiCommandError(400, 'Unknown node id');
          try {
            c.removeNode(cluster_id, node_id);
          } catch (e) {
            if (e instanceof ClustererConfigError) throw new MiCommandError(400, e.message);
            throw e;
          }
          return 'OK';
        },
      }),
      defineCommand({
        name: 'cluster_send_mi',
        module: 'clusterer',
        description: 'Run an MI command on another node; returns that node’s result',
        params: z.object({
          cluster_id: id,
          destination: id,
          cmd_name: z.string().min(1),
          cmd_params: cmdParams,
        }),
        handler: async ({ cluster_id, destination, cmd_name, cmd_params }) => {
          const cl = this.#cluster(cluster_id);
          if (!cl.enabled) return 'Local node disabled';
          if (destination === c.myNodeId)
            throw new MiCommandError(400, 'Local node specified as destination');
          const waiting = this.#results.await(destination, cmd_name);
          const r = c.sendMiCommand(cluster_id, destination, cmd_name, cmd_params ?? []);
          if (r !== SendResult.SENT) {
            this.#results.cancel(destination, cmd_name);
            throw new MiCommandError(
              400,
              r === SendResult.UNREACHABLE ? 'Destination down' : 'Send error',
            );
          }
          return await waiting;
        },
      }),
      defineCommand({
        name: 'cluster_broadcast_mi',
        module: 'clusterer',
        description: 'Run an MI command on every node; returns the local and the remote results',
        params: z.object({ cluster_id: id, cmd_name: z.string().min(1), cmd_params: cmdParams }),
        handler: async ({ cluster_id, cmd_name, cmd_params }) => {
          const cl = this.#cluster(cluster_id);
          if (!cl.enabled) return 'Local node disabled';
          const params = cmd_params ?? [];
          const waits: Promise<RemoteMiResult>[] = [];
          for (const n of cl.nodes.values()) {
            if (!n.enabled) continue;
            const w = this.#results.await(n.id, cmd_name);
            const r = c.sendMiCommand(cluster_id, n.id, cmd_name, params);
            if (r === SendResult.SENT) waits.push(w);
            else {
              this.#results.cancel(n.id, cmd_name);
              waits.push(
                Promise.resolve({
                  node_id: n.id,
                  error: {
                    code: 400,
                    message: r === SendResult.UNREACHABLE ? 'Destination down' : 'Send error',
                  },
                }),
              );
            }
          }
          let local: unknown;
          try {
            local = await this.#runLocal(cmd_name, params);
          } catch (e) {
            const code =
              e instanceof MiRpcError ? e.rpcCode : e instanceof MiCommandError ? e.status : 500;
            local = { error: { code, message: e instanceof Error ? e.message : String(e) } };
          }
          return { result: local, Nodes: await Promise.all(waits) };
        },
      }),
    ];
  }
}

/** Convenience: the clusterer's MI commands as data, for an app to register. */
export function miCommands(clusterer: Clusterer, options: ClustererMiOptions = {}): MiCommand[] {
  return new ClustererMi(clusterer, options).commands();
}
