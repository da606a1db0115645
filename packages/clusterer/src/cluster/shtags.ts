import type { RoutedPacket } from '../bin/packet.js';
import { ClustererConfigError } from '../errors.js';
import type { Logger } from '../runtime.js';

export type ShtagState = 'active' | 'backup';

export interface ShtagChangeEvent {
  name: string;
  clusterId: number;
  state: ShtagState;
  reason: string;
}

export interface ShtagView {
  name: string;
  clusterId: number;
  state: ShtagState;
}

/** Tags kept at most (received SHTAG_ACTIVE for unknown names create tags, as OpenSIPS). */
export const MAX_SHTAGS = 1024;
const TAG_NAME = /^[A-Za-z0-9_.:@+-]{1,64}$/;

/** Parse `name/cluster_id` (the MI and `$cluster.sh_tag` form). */
export function parseTagKey(key: string): { name: string; clusterId: number } {
  const i = key.lastIndexOf('/');
  const name = i > 0 ? key.slice(0, i) : '';
  const cid = i > 0 ? key.slice(i + 1) : '';
  if (!TAG_NAME.test(name)) throw new ClustererConfigError(`bad sharing tag "${key}"`);
  if (!/^\d{1,9}$/.test(cid) || Number(cid) <= 0)
    throw new ClustererConfigError(`bad cluster id in sharing tag "${key}"`);
  return { name, clusterId: Number(cid) };
}

/** Parse the `sharing_tag` modparam `name/cluster_id=active|backup`. */
export function parseSharingTag(s: string): {
  name: string;
  clusterId: number;
  state: ShtagState;
} {
  const eq = s.lastIndexOf('=');
  if (eq < 0) throw new ClustererConfigError(`sharing_tag "${s}" needs =active or =backup`);
  const state = s
    .slice(eq + 1)
    .trim()
    .toLowerCase();
  if (state !== 'active' && state !== 'backup')
    throw new ClustererConfigError(`bad state in sharing_tag "${s}"`);
  return { ...parseTagKey(s.slice(0, eq).trim()), state };
}

interface Tag {
  name: string;
  clusterId: number;
  active: boolean;
  /** Announce to nodes as they come UP (configured active, or a send failed). */
  sendActive: boolean;
  told: Set<number>;
  created: number;
}

export interface ShtagHost {
  readonly myNodeId: number;
  count(name: string, n?: number): void;
  hasCluster(clusterId: number): boolean;
  /** Enabled remote nodes of the cluster. */
  nodeIds(clusterId: number): number[];
  sendRouted(clusterId: number, dst: number, p: RoutedPacket): number;
  emitChange(e: ShtagChangeEvent): void;
}

/** Sharing tags (digest §7): one ACTIVE owner per (name, cluster), announced by SHTAG_ACTIVE. */
export class SharingTags {
  private readonly tags = new Map<string, Tag>();
  private created = 0;

  constructor(
    private readonly host: ShtagHost,
    private readonly log: Logger,
  ) {}

  private key(name: string, clusterId: number): string {
    return `${name}/${clusterId}`;
  }

  private ensure(name: string, clusterId: number): Tag | undefined {
    const k = this.key(name, clusterId);
    let t = this.tags.get(k);
    if (t === undefined) {
      if (this.tags.size >= MAX_SHTAGS) {
        this.host.count('drop_shtag_limit');
        return undefined;
      }
      t = {
        name,
        clusterId,
        active: false,
        sendActive: false,
        told: new Set(),
        created: this.created++,
      };
      this.tags.set(k, t);
    }
    return t;
  }

  /** Configure tags from `sharing_tag` values; tags of clusters I am not in are skipped. */
  configure(values: string[]): void {
    for (const v of values) {
      const s = parseSharingTag(v);
      if (!this.host.hasCluster(s.clusterId)) {
        this.log.warn({ tag: v }, 'sharing tag for an unknown cluster ignored');
        continue;
      }
      const t = this.ensure(s.name, s.clusterId);
      if (t === undefined) continue;
      t.active = s.state === 'active';
      t.sendActive = t.active;
    }
  }

  /** Read a tag's state; an unknown tag is created as backup (as OpenSIPS). */
  get(name: string, clusterId: number): ShtagState {
    if (!TAG_NAME.test(name) || !this.host.hasCluster(clusterId))
      throw new ClustererConfigError(`bad sharing tag "${name}/${clusterId}"`);
    return this.ensure(name, clusterId)?.active === true ? 'active' : 'backup';
  }

  list(): ShtagView[] {
    return [...this.tags.values()]
      .sort((a, b) => b.created - a.created)
      .map((t) => ({
        name: t.name,
        clusterId: t.clusterId,
        state: t.active ? 'active' : 'backup',
      }));
  }

  private change(t: Tag, active: boolean, reason: string): void {
    if (t.active === active) return;
    t.active = active;
    const state: ShtagState = active ? 'active' : 'backup';
    this.log.info({ tag: t.name, cluster: t.clusterId, state }, reason);
    this.host.emitChange({ name: t.name, clusterId: t.clusterId, state, reason });
  }

  /** Make this node the active owner and tell every node (`shtag_activate`). */
  activate(name: string, clusterId: number, reason: string): void {
    if (!TAG_NAME.test(name)) throw new ClustererConfigError(`bad sharing tag name "${name}"`);
    if (!this.host.hasCluster(clusterId)) throw new ClustererConfigError('Cluster id not found');
    const t = this.ensure(name, clusterId);
    if (t === undefined) throw new ClustererConfigError('too many sharing tags');
    t.told.clear();
    t.sendActive = false;
    for (const id of this.host.nodeIds(clusterId)) this.announce(t, id);
    this.change(t, true, reason);
  }

  private announce(t: Tag, dst: number): void {
    const r = this.host.sendRouted(t.clusterId, dst, {
      kind: 'shtag_active',
      cluster: t.clusterId,
      src: this.host.myNodeId,
      dst,
      tag: t.name,
    });
    if (r === 1) {
      t.told.add(dst);
      this.host.count('shtag_active_sent');
    } else t.sendActive = true;
  }

  /** SHTAG_ACTIVE from another node: it is the owner now, this node is backup. */
  onActive(clusterId: number, src: number, name: string): void {
    if (!TAG_NAME.test(name)) return void this.host.count('drop_bad_shtag_name');
    const t = this.ensure(name, clusterId);
    if (t === undefined) return;
    this.host.count('shtag_active_recv');
    t.sendActive = false;
    t.told.clear();
    this.change(t, false, `cluster broadcast from ${src}`);
  }

  /** A node became reachable: announce the tags still to be announced to it. */
  nodeUp(clusterId: number, nodeId: number): void {
    for (const t of this.tags.values()) {
      if (t.clusterId !== clusterId || !t.active || !t.sendActive || t.told.has(nodeId)) continue;
      this.announce(t, nodeId);
    }
  }
}
