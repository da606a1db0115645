import type { MiRegistry } from '@sipedge/mi';

/** In `allow`: every command whose registry entry is marked read-only. */
export const REMOTE_MI_READ_ONLY = 'read_only';
/** In `allow`: every command (what OpenSIPS does). */
export const REMOTE_MI_ALL = 'all';

/**
 * Which MI commands other nodes may run here with MI_CMD (`clusterer.remote_mi`): command
 * names plus `read_only` and `all`; and, when `from` is given, only from those node ids.
 */
export interface RemoteMiPolicy {
  readonly allow: readonly string[];
  readonly from?: readonly number[] | undefined;
}

/** The default: read-only commands, from any node of the cluster. */
export const DEFAULT_REMOTE_MI: RemoteMiPolicy = Object.freeze({
  allow: Object.freeze([REMOTE_MI_READ_ONLY]),
});

/** Why an MI_CMD is refused under `policy`, or undefined when it may run. */
export function remoteMiRefusal(
  policy: RemoteMiPolicy,
  registry: MiRegistry | undefined,
  srcId: number,
  command: string,
): 'mi_node_not_allowed' | 'mi_not_allowed' | undefined {
  if (policy.from !== undefined && !policy.from.includes(srcId)) return 'mi_node_not_allowed';
  // an unknown command runs nothing: it gets the registry's "Method not found"
  if (registry !== undefined && !registry.has(command)) return undefined;
  const { allow } = policy;
  if (allow.includes(REMOTE_MI_ALL) || allow.includes(command)) return undefined;
  if (allow.includes(REMOTE_MI_READ_ONLY) && registry?.get(command)?.readOnly === true)
    return undefined;
  return 'mi_not_allowed';
}
