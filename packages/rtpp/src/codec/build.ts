/**
 * Hand-made commands and edits. Every result carries no `raw`, so it is serialised from its
 * fields; an edit never changes the command it is given.
 */
import type {
  CopyCommand,
  DeleteCommand,
  FlushCommand,
  InfoCommand,
  NoRecordCommand,
  NotifyTarget,
  PlayCommand,
  QueryCommand,
  RecordCommand,
  RtppCommand,
  RtppSessionCommand,
  RtppSubcommand,
  StatsCommand,
  StopPlayCommand,
  UpdateCommand,
  UpdateModifiers,
  VersionCommand,
  VersionFeatureCommand,
} from '../types.js';
import { EMPTY_MODIFIERS, serializeUpdateModifiers } from './modifiers.js';

/** The base protocol version every rtpproxy answers to `V`. */
export const RTPP_BASE_VERSION = '20040107';

/** VF capability dates (docs/protocols/rtpproxy.md §3) and what each means. */
export const RTPP_CAPABILITIES: Readonly<Record<string, string>> = Object.freeze({
  '20040107': 'base protocol',
  '20050322': 'multiple RTP streams per call (;N tags), P/S',
  '20060704': 'extended V command (VF)',
  '20071116': 'RTP re-packetization (z)',
  '20071218': 'copy/fork of RTP (C)',
  '20080403': 'per-session statistics (Q)',
  '20081102': 'codec list in U/L (c)',
  '20081224': 'session-timeout notifications',
  '20090810': 'automatic bridging',
  '20140323': 'load reporting (Il)',
  '20140617': 'session connect-time anchoring',
  '20141004': 'extendable performance counters (G)',
  '20150330': 'new-port allocation (n)',
  '20150420': 'SEQ tracking, rtpa_* counters, Q with counter names',
  '20150617': 'tcp:%%CC_SELF%%:port notify target',
  '20191015': '&& sub-commands',
  '20200226': 'N (stop recording)',
  '20230205': 'rtpa_nlost counter; catch_dtmf h modifier',
  '20230314': 'fused query+delete (Q … && D)',
  '20230424': 'longest_ipi, rtpa_jlast/jmax/javg counters',
  '20250523': 'p modifier on C',
  '20251015': 'TTL/TOS change via S sub-command',
  '20260306': 'address labels l{label}',
  '20260308': 'one-shot two-leg setup U … && L …',
  '20260309': 'C sub-command forking both streams',
});

/**
 * Dates clients probe that sippy rtpproxy does not know (it answers 0): OpenSIPS's "TTL change"
 * (`T<n>` modifier). Kept apart so that nobody claims them by iterating RTPP_CAPABILITIES.
 */
export const FOREIGN_CAPABILITIES: Readonly<Record<string, string>> = Object.freeze({
  '20170313': 'TTL change via T<n> modifier (OpenSIPS only; not in rtpproxy)',
});

/**
 * The VF dates each client asks about at start-up and on every re-enable
 * (docs/protocols/rtpproxy.md §3).
 */
export const CLIENT_PROBES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  kamailio: Object.freeze(['20050322', '20071116', '20081102']),
  opensips: Object.freeze([
    '20050322',
    '20071116',
    '20081102',
    '20090810',
    '20081224',
    '20080403',
    '20150617',
    '20150420',
    '20170313',
    '20071218',
    '20191015',
  ]),
  rtpCluster: Object.freeze(['20071218', '20080403', '20081224', '20090810', '20150617']),
});

/**
 * Counter names `G` knows at rtpproxy HEAD (docs/protocols/rtpproxy.md §2.9); `total_duration`,
 * `pps_in` are floats.
 */
export const RTPP_STATS_NAMES: readonly string[] = Object.freeze([
  'nsess_created',
  'nsess_destroyed',
  'nsess_timeout',
  'nsess_complete',
  'nsess_nortp',
  'nsess_owrtp',
  'nsess_nortcp',
  'nsess_owrtcp',
  'nplrs_created',
  'nplrs_destroyed',
  'npkts_rcvd',
  'npkts_played',
  'npkts_relayed',
  'npkts_resizer_in',
  'npkts_resizer_out',
  'npkts_resizer_discard',
  'npkts_discard',
  'total_duration',
  'ncmds_rcvd',
  'ncmds_rcvd_ndups',
  'ncmds_succd',
  'ncmds_errs',
  'ncmds_repld',
  'rtpa_nsent',
  'rtpa_nrcvd',
  'rtpa_ndups',
  'rtpa_nlost',
  'rtpa_perrs',
  'pps_in',
]);

/** Counter names `Q` knows (docs/protocols/rtpproxy.md §2.7); at most 11 per query. */
export const RTPP_QUERY_COUNTERS: readonly string[] = Object.freeze([
  'ttl',
  'npkts_ina',
  'npkts_ino',
  'longest_ipi',
  'rtpa_jlast',
  'rtpa_jmax',
  'rtpa_javg',
  'nrelayed',
  'ndropped',
  'rtpa_nsent',
  'rtpa_nrcvd',
  'rtpa_ndups',
  'rtpa_nlost',
  'rtpa_perrs',
]);

export interface UpdateCommandInit {
  kind?: 'U' | 'L';
  mods?: Partial<UpdateModifiers>;
  callId: string;
  remoteIp: string;
  remotePort: string | number;
  fromTag: string;
  toTag?: string;
  notify?: NotifyTarget;
  subcommands?: readonly RtppSubcommand[];
}

export function updateCommand(init: UpdateCommandInit): UpdateCommand {
  const mods: UpdateModifiers = { ...EMPTY_MODIFIERS, ...init.mods };
  return {
    kind: init.kind ?? 'U',
    modifiers: serializeUpdateModifiers(mods),
    mods,
    callId: init.callId,
    remoteIp: init.remoteIp,
    remotePort: String(init.remotePort),
    fromTag: init.fromTag,
    ...(init.toTag === undefined ? {} : { toTag: init.toTag }),
    ...(init.notify === undefined ? {} : { notify: init.notify }),
    subcommands: init.subcommands ?? [],
  };
}

/** An L: `updateCommand` with kind L (no notify arguments). */
export function lookupCommand(init: Omit<UpdateCommandInit, 'kind' | 'notify'>): UpdateCommand {
  return updateCommand({ ...init, kind: 'L' });
}

export function deleteCommand(
  callId: string,
  fromTag: string,
  toTag?: string,
  weak = false,
): DeleteCommand {
  return {
    kind: 'D',
    modifiers: weak ? 'w' : '',
    weak,
    callId,
    fromTag,
    ...(toTag === undefined ? {} : { toTag }),
  };
}

export function queryCommand(
  callId: string,
  fromTag: string,
  toTag?: string,
  counters: readonly string[] = [],
  verbose = false,
): QueryCommand {
  return {
    kind: 'Q',
    modifiers: verbose ? 'v' : '',
    verbose,
    callId,
    fromTag,
    ...(toTag === undefined ? {} : { toTag }),
    counters,
    subcommands: [],
  };
}

export function versionCommand(): VersionCommand {
  return { kind: 'V', modifiers: '' };
}

export function versionFeatureCommand(date: string): VersionFeatureCommand {
  return { kind: 'VF', modifiers: '', date };
}

export function infoCommand(brief = false, load = false): InfoCommand {
  return { kind: 'I', modifiers: `${brief ? 'b' : ''}${load ? 'l' : ''}`, brief, load };
}

export function statsCommand(names: readonly string[] = [], verbose = false): StatsCommand {
  return { kind: 'G', modifiers: verbose ? 'v' : '', verbose, names };
}

export function playCommand(
  callId: string,
  prompt: string,
  codecs: string,
  fromTag: string,
  toTag?: string,
  count = 1,
): PlayCommand {
  return {
    kind: 'P',
    modifiers: count === 1 ? '' : String(count),
    count,
    callId,
    prompt,
    codecs,
    fromTag,
    ...(toTag === undefined ? {} : { toTag }),
  };
}

export function stopPlayCommand(callId: string, fromTag: string, toTag?: string): StopPlayCommand {
  return { kind: 'S', modifiers: '', callId, fromTag, ...(toTag === undefined ? {} : { toTag }) };
}

export function recordCommand(
  callId: string,
  fromTag: string,
  toTag?: string,
  single = false,
): RecordCommand {
  return {
    kind: 'R',
    modifiers: single ? 's' : '',
    single,
    callId,
    fromTag,
    ...(toTag === undefined ? {} : { toTag }),
  };
}

export function copyCommand(
  callId: string,
  target: string,
  fromTag: string,
  toTag?: string,
  options: { single?: boolean; reportPort?: boolean } = {},
): CopyCommand {
  const single = options.single ?? false;
  const reportPort = options.reportPort ?? false;
  return {
    kind: 'C',
    modifiers: `${single ? 's' : ''}${reportPort ? 'p' : ''}`,
    single,
    reportPort,
    callId,
    target,
    fromTag,
    ...(toTag === undefined ? {} : { toTag }),
  };
}

export function noRecordCommand(
  callId: string,
  fromTag: string,
  toTag?: string,
  both = false,
): NoRecordCommand {
  return {
    kind: 'N',
    modifiers: both ? 'a' : '',
    both,
    callId,
    fromTag,
    ...(toTag === undefined ? {} : { toTag }),
  };
}

export function flushCommand(): FlushCommand {
  return { kind: 'X', modifiers: '' };
}

function withoutRaw<T extends RtppCommand>(cmd: T): T {
  const { raw: _raw, ...rest } = cmd;
  return rest as T;
}

interface UpdateChanges {
  kind?: 'U' | 'L';
  fromTag?: string;
  /** `null` removes the to_tag. */
  toTag?: string | null;
  /** `null` removes the notify arguments. */
  notify?: NotifyTarget | null;
  mods?: UpdateModifiers;
  subcommands?: readonly RtppSubcommand[];
}

/** A changed copy of a U/L without `raw`, built field by field (the balancer's hot path). */
function copyUpdate(cmd: UpdateCommand, ch: UpdateChanges): UpdateCommand {
  const mods = ch.mods ?? cmd.mods;
  const out: { -readonly [K in keyof UpdateCommand]: UpdateCommand[K] } = {
    kind: ch.kind ?? cmd.kind,
    modifiers: ch.mods === undefined ? cmd.modifiers : serializeUpdateModifiers(mods),
    mods,
    callId: cmd.callId,
    remoteIp: cmd.remoteIp,
    remotePort: cmd.remotePort,
    fromTag: ch.fromTag ?? cmd.fromTag,
    subcommands: ch.subcommands ?? cmd.subcommands,
  };
  const toTag = ch.toTag === undefined ? cmd.toTag : ch.toTag;
  if (toTag !== undefined && toTag !== null) out.toTag = toTag;
  const notify = ch.notify === undefined ? cmd.notify : ch.notify;
  if (notify !== undefined && notify !== null) out.notify = notify;
  return out;
}

/** The same command with other tags (e.g. swapped for a forced lookup); `undefined` drops to_tag. */
export function withTags<T extends Extract<RtppCommand, { fromTag: string }>>(
  cmd: T,
  fromTag: string,
  toTag: string | undefined,
): T {
  if (cmd.kind === 'U' || cmd.kind === 'L') {
    return copyUpdate(cmd, { fromTag, toTag: toTag ?? null }) as T;
  }
  const { toTag: _old, ...rest } = withoutRaw(cmd) as T & { toTag?: string };
  return { ...rest, fromTag, ...(toTag === undefined ? {} : { toTag }) } as T;
}

/** A U as an L or the reverse. An L carries no notify arguments, so they are dropped. */
export function withKind(cmd: UpdateCommand, kind: 'U' | 'L'): UpdateCommand {
  return copyUpdate(cmd, kind === 'L' ? { kind, notify: null } : { kind });
}

/** The same U without notify arguments. */
export function withoutNotify(cmd: UpdateCommand): UpdateCommand {
  return copyUpdate(cmd, { notify: null });
}

/** The same U with other notify arguments. */
export function withNotify(cmd: UpdateCommand, notify: NotifyTarget): UpdateCommand {
  return copyUpdate(cmd, { notify });
}

/** The same U/L/Q with other `&&` sub-commands (none: `[]`). */
export function withSubcommands<T extends UpdateCommand | QueryCommand>(
  cmd: T,
  subcommands: readonly RtppSubcommand[],
): T {
  if (cmd.kind === 'Q') return { ...withoutRaw(cmd), subcommands };
  return copyUpdate(cmd, { subcommands }) as T;
}

/** The same U/L with other modifiers (written canonically). */
export function withModifiers(cmd: UpdateCommand, mods: UpdateModifiers): UpdateCommand {
  return copyUpdate(cmd, { mods });
}

/**
 * The same U/L bound to `address` (`l<address>`), without any `r` remote address or `l{label}`:
 * rtp_cluster's lan_address rewriting (docs/protocols/rtpproxy.md §5.5). The rest of the modifiers
 * stay as they were.
 */
export function withLocalAddress(cmd: UpdateCommand, address: string): UpdateCommand {
  const { remoteAddress: _r, localLabel: _l, ...rest } = cmd.mods;
  return copyUpdate(cmd, { mods: { ...rest, localAddress: address } });
}

/** Commands that name a session: U, L, D, P, S, R, C, N, Q (they carry a call-id). */
export function isSessionCommand(cmd: RtppCommand): cmd is RtppSessionCommand {
  return 'callId' in cmd;
}

/**
 * The key a balancer routes a command by: its call-id, the opaque token exactly as sent
 * (it may carry `;branch` or `-N` suffixes); never the tags (docs/protocols/rtpproxy.md §2.8).
 * Undefined for V, VF, I, G, X.
 */
export function sessionKey(cmd: RtppCommand): string | undefined {
  return 'callId' in cmd ? cmd.callId : undefined;
}

/** A tag without its `;N` media-number suffix. */
export function baseTag(tag: string): string {
  const semi = tag.indexOf(';');
  return semi < 0 ? tag : tag.slice(0, semi);
}

/**
 * A tag with the `;N` media-number suffix Kamailio and OpenSIPS add
 * (docs/protocols/rtpproxy.md §2.8).
 */
export function mediaTag(tag: string, n: number): string {
  return `${baseTag(tag)};${n}`;
}

/** The `;N` media number of a tag, or undefined. */
export function mediaNumber(tag: string): number | undefined {
  const semi = tag.indexOf(';');
  if (semi < 0) return undefined;
  const n = Number(tag.slice(semi + 1));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
