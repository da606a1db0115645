import type { CapabilityEntry } from '../bin/packet.js';
import { ClustererConfigError } from '../errors.js';
import type { NodeStateEvent } from '../events.js';
import type { ClusterState } from '../nodes/clusters.js';
import { type CapabilityOptions, LocalCapability } from '../sync/capability.js';
import type { SyncEngine } from '../sync/engine.js';
import { SIPEDGE_SYNC_CAP } from '../sync/wire.js';
import type { CapabilityHandlers } from './messages.js';

/** What registering capabilities needs: the clusters and the sync that keeps their state. */
export interface CapabilitiesHost {
  readonly myNodeId: number;
  readonly clusters: ReadonlyMap<number, ClusterState>;
  readonly sync: Pick<SyncEngine, 'add' | 'get'>;
  /** Advertise the `sipedge-sync` mark (ClustererOptions.sipedgeMark). */
  readonly mark: boolean;
}

/**
 * The module capabilities registered on this node: the handlers their packets and node events
 * go to, and what this node advertises for them in CAP_UPDATE.
 */
export class Capabilities {
  readonly #host: CapabilitiesHost;
  readonly #handlers = new Map<string, CapabilityHandlers>();

  constructor(host: CapabilitiesHost) {
    this.#host = host;
  }

  /** Register a capability (its sync state in `options.clusterId`); returns that cluster. */
  register(name: string, handlers: CapabilityHandlers, options: CapabilityOptions): number {
    if (
      name === 'clusterer-internal' ||
      name === 'clusterer-extra' ||
      name === SIPEDGE_SYNC_CAP ||
      name === '' ||
      Buffer.byteLength(name) > 255
    ) {
      throw new ClustererConfigError(`reserved or bad capability name "${name}"`);
    }
    if (this.#handlers.has(name))
      throw new ClustererConfigError(`capability "${name}" already registered`);
    const clusterId = options.clusterId ?? this.#host.clusters.keys().next().value;
    if (clusterId === undefined || !this.#host.clusters.has(clusterId))
      throw new ClustererConfigError(`capability "${name}": unknown cluster ${clusterId}`);
    this.#handlers.set(name, handlers);
    const cap = new LocalCapability(
      name,
      clusterId,
      handlers,
      options.startupSync ?? false,
      options.syncCond ?? 'any',
      options.dataVersion ?? 1,
      options.syncMode ?? 'replace',
      options.resyncOnNodeUp ?? false,
    );
    cap.readsDataVersions = options.readsDataVersions ?? [cap.dataVersion];
    this.#host.sync.add(cap);
    return clusterId;
  }

  get(name: string): CapabilityHandlers | undefined {
    return this.#handlers.get(name);
  }

  /** Names of the registered capabilities, in registration order. */
  names(): string[] {
    return [...this.#handlers.keys()];
  }

  /**
   * My CAP_UPDATE entry: every capability, OK unless its sync state in the cluster says not,
   * then `sipedge-sync` (always OK): the mark by which sipedge nodes know each other, so that
   * sipedge-only packets go to them and never to OpenSIPS nodes (which keep it as a capability
   * they do not have, and ignore it).
   */
  entry(cl: ClusterState): CapabilityEntry {
    const caps = [...this.#handlers.keys()].map((name) => {
      const c = this.#host.sync.get(name, cl.id);
      return { name, ok: c === undefined ? true : c.ok };
    });
    if (this.#host.mark) caps.push({ name: SIPEDGE_SYNC_CAP, ok: true });
    return { nodeId: this.#host.myNodeId, caps };
  }

  /** NODE_UP / NODE_DOWN to every module. */
  nodeEvent(ev: NodeStateEvent): void {
    for (const cap of this.#handlers.values()) cap.onEvent?.(ev);
  }
}
