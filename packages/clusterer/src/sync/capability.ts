/**
 * A local capability as the sync sees it: its status (`enum cap_sr_status`), what the module
 * hands the clusterer to serve and receive a sync, and the state one capability keeps while it
 * asks for, receives or serves its dataset.
 */

/** Status/report values of a capability (`enum cap_sr_status`); readiness is status ≥ 0. */
export const CapStatus = { NOT_SYNCED: -3, PENDING: -2, IN_PROGRESS: -1, SYNCED: 1 } as const;
export type CapStatus = (typeof CapStatus)[keyof typeof CapStatus];

export function capStatusLabel(s: CapStatus): string {
  switch (s) {
    case CapStatus.NOT_SYNCED:
      return 'not synced';
    case CapStatus.PENDING:
      return 'sync pending';
    case CapStatus.IN_PROGRESS:
      return 'sync in progress';
    default:
      return 'synced';
  }
}

/** Which nodes may be donors, by their `sip_addr` compared with mine (`sync_cond`). */
export type SyncCondition = 'any' | 'eq_sip_addr' | 'neq_sip_addr';

export interface SyncMeta {
  clusterId: number;
  srcId: number;
  dataVersion: number;
}

/** Collects the chunks of a sync reply on the donor (`sync_chunk_start` once per item). */
export interface SyncWriter {
  chunk(data: Buffer): void;
}

/**
 * A pull-based sync reply (`openSync`): the donor's clusterer takes chunks from `items` only
 * as fast as the link to the receiver drains, so memory stays bounded whatever the dataset.
 * Items are read over time, interleaved with the node's other work: a module hands out each
 * item as it is when read (changes made meanwhile also reach the receiver as replication
 * packets, which it holds and replays after the sync). `digest`, if given, is read after the
 * last item and must describe exactly the items handed out (the receiver compares it with
 * its own `digest()` in 'replace' mode); without it the module's `digest()` at the end is sent.
 */
export interface SyncSource {
  readonly items: Iterator<Buffer>;
  /**
   * The data version of these items, when this reply is in another layout than the
   * capability's own (a reply to an OpenSIPS node, say); SYNC packets carry it.
   */
  readonly dataVersion?: number;
  digest?(): string;
  /** The stream was abandoned (receiver gone, new request): release what it holds. */
  close?(): void;
}

export interface CapabilityOptions {
  /** Cluster whose sync state this capability keeps (default: the first cluster). */
  clusterId?: number;
  /** Ask a donor for the whole dataset at startup (default false: starts synced). */
  startupSync?: boolean;
  syncCond?: SyncCondition;
  /** The module's own data format version carried in SYNC packets (default 1). */
  dataVersion?: number;
  /**
   * Data versions this node can read in SYNC packets (default: `dataVersion` only). A sync of
   * another version is refused (one log line, `sync_bad_data_version`) and its donor is not
   * asked again until a sync completes.
   */
  readsDataVersions?: readonly number[];
  /**
   * 'replace' (default): the module drops its data on `onSyncStart` and ends with exactly the
   * donor's snapshot, verified against the donor's digest. 'merge': the module keeps its data
   * and merges the snapshot (a resync after a partition); the digest cannot be compared then.
   */
  syncMode?: 'replace' | 'merge';
  /**
   * Merge mode only: when a node comes (back) up and advertises this capability as synced
   * (a healed partition, a restarted node that kept its data), merge a full sync from it
   * (default false). A node that comes up not synced is itself syncing from the cluster: it is
   * not asked (it would send back what it is being sent); whatever it held alone reaches the
   * others through anti-entropy.
   */
  resyncOnNodeUp?: boolean;
}

export interface CapStatusEvent {
  clusterId: number;
  capability: string;
  status: CapStatus;
  report: string;
}

/** A module packet as kept while a capability is not synced. */
export interface HeldPacket {
  deliver(): void;
}

export interface CapHandlersForSync {
  /**
   * Build the whole sync reply at once (OpenSIPS's model). Prefer `openSync`: with this one
   * the donor holds every chunk of the reply in memory until it is sent.
   */
  onSyncRequest?(target: { clusterId: number; nodeId: number }, out: SyncWriter): void;
  /** A sync reply streamed with backpressure (used instead of `onSyncRequest` when present). */
  openSync?(target: { clusterId: number; nodeId: number }): SyncSource;
  onSyncStart?(meta: SyncMeta): void;
  /** One chunk: a view into the received packet (never written again; no copy is made). */
  onSyncChunk?(chunk: Buffer, meta: SyncMeta): void;
  onSyncDone?(meta: SyncMeta): void;
  digest?(): string;
  /**
   * How new the data held is (merge mode): the nodes of a majority that find no donor agree on
   * the one with the highest stamp (then the seed, then the lowest node id) to declare its
   * data synced. A last-change time in ms suits most modules; without it the stamp is 0.
   */
  stamp?(): number;
}

/** Sync state of one local capability in one cluster. */
export class LocalCapability {
  status: CapStatus;
  enabled = true;
  /** A full sync is wanted (until it succeeds or the capability is disabled). */
  wantSync = false;
  /** SYNC_REQ sent to `donor` and not failed yet. */
  requestOut = false;
  donor: number | undefined;
  pendingSince = 0;
  requestedAt = 0;
  lastSyncPacket = 0;
  chunks = 0;
  endCount: number | undefined;
  expectedDigest: string | undefined;
  attempt = 0;
  nextRetryAt = 0;
  readonly failedDonors = new Map<number, number>();
  readonly held: HeldPacket[] = [];
  overflowed = false;
  lastReport = '';
  syncsCompleted = 0;
  syncsFailed = 0;
  /** Receiving SYNC data now (status -1, or a background merge while synced). */
  inProgress = false;
  /** A merge resync of a synced capability: it stays synced (and a donor) meanwhile. */
  background = false;
  aeNext = 0;
  /** Donor asked for by requestSync(name, from), used first when it qualifies. */
  preferDonor: number | undefined;
  /**
   * A donor was found and asked since the last completed sync. A seed node falls back to
   * "synced" only when this is false: a sync that broke part way (donor gone, timeout, bad
   * data) left partial data, which must never be called synced.
   */
  hadDonor = false;
  /** A stream start from the donor arrived for the current request (sipedge donors). */
  streamOpen = false;
  /** Donors whose data this node cannot read (a data version it does not know), until synced. */
  readonly unreadableDonors = new Set<number>();
  /** Data versions readable in SYNC packets. */
  readsDataVersions: readonly number[] = [];
  /** Nodes that came up while this capability was synced: resync from each once it says synced. */
  readonly resyncWait = new Set<number>();
  /**
   * Nodes that came up not synced while this one was: once they say synced, their digest is
   * compared with ours (what they held alone reaches us then, not a round later).
   */
  readonly compareWait = new Set<number>();
  /** Since when no reachable node could be a donor (undefined: one could, or none is wanted). */
  noDonorSince: number | undefined;
  /** The module's stamp when this wait for a donor began, as told to the other waiting nodes. */
  standingStamp = 0;
  /** When this node last told the others it is waiting. */
  lastStanding = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    readonly clusterId: number,
    readonly handlers: CapHandlersForSync,
    readonly startupSync: boolean,
    readonly syncCond: SyncCondition,
    readonly dataVersion: number,
    readonly syncMode: 'replace' | 'merge' = 'replace',
    readonly resyncOnNodeUp = false,
  ) {
    this.status = startupSync ? CapStatus.NOT_SYNCED : CapStatus.SYNCED;
  }

  get ok(): boolean {
    return this.enabled && this.status === CapStatus.SYNCED;
  }
}
