/**
 * The typed model of the rtpproxy control protocol (docs/protocols/rtpproxy.md §1–§3).
 *
 * A parsed command keeps the exact text it came from in `raw`, so that a command forwarded
 * unchanged is byte-identical. Objects built by hand or changed with the `with…` helpers carry
 * no `raw`, and are serialised canonically.
 */

/** Command letters (VF is V with the F "modifier", kept apart because its grammar differs). */
export type RtppCommandKind =
  | 'U'
  | 'L'
  | 'D'
  | 'P'
  | 'S'
  | 'R'
  | 'C'
  | 'N'
  | 'Q'
  | 'V'
  | 'VF'
  | 'I'
  | 'G'
  | 'X';

/** Modifiers of U and L (docs/protocols/rtpproxy.md §2.2), parsed left to right. */
export interface UpdateModifiers {
  /** `a`: asymmetric, lock to the given address instead of latching. */
  readonly asymmetric: boolean;
  /** `s`: symmetric (explicit; clears asymmetric). */
  readonly symmetric: boolean;
  /** `6`: the remote address and local socket are IPv6. */
  readonly ipv6: boolean;
  /** `w`: weak flag. */
  readonly weak: boolean;
  /** `n`: allocate a new port for an existing stream. */
  readonly newPort: boolean;
  /** `e`/`i` letters in the order given (bridging). At most two are valid. */
  readonly bridge: readonly ('e' | 'i')[];
  /** `z<ms>`: re-packetisation ptime, 1..999. */
  readonly ptime?: number;
  /** `c<pt,pt,…>`: payload type list as given (digits and commas). */
  readonly codecs?: readonly number[];
  /** `l<addr>` or `l[v6]`: local address to bind. */
  readonly localAddress?: string;
  /** `l{label}`: a labelled local address. */
  readonly localLabel?: string;
  /** `r<addr>` or `r[v6]`: remote address used to choose the local address. */
  readonly remoteAddress?: string;
  /**
   * Letters the parser did not know, kept verbatim in order (OpenSIPS passes unknown script flags
   * through; rtpproxy answers E35 for them — the server decides, the codec keeps them).
   */
  readonly unknown: string;
}

export interface NotifyTarget {
  /** notify_socket as sent, e.g. `unix:/var/run/kamailio/rtpproxy_timeout.sock` or `tcp:%%CC_SELF%%:9999`. */
  readonly socket: string;
  /** notify_tag, URL-decoded (`%hh`, `+` → space) as rtpproxy does on receipt. */
  readonly tag: string;
}

/** A `&&` sub-command: its word and arguments as tokens (docs/protocols/rtpproxy.md §2.4). */
export interface RtppSubcommand {
  readonly word: string;
  readonly args: readonly string[];
}

interface CommandCommon {
  /** The command text as received (cookie stripped, surrounding blanks trimmed), when unchanged. */
  readonly raw?: string;
  /** The modifier characters after the command letter, verbatim (e.g. `Ac0,8,101Z20`). */
  readonly modifiers: string;
}

/** U (update/create) or L (lookup): one leg of a media session. */
export interface UpdateCommand extends CommandCommon {
  readonly kind: 'U' | 'L';
  readonly mods: UpdateModifiers;
  readonly callId: string;
  /** remote_ip as sent (it may be an unparsable placeholder, which rtpproxy ignores). */
  readonly remoteIp: string;
  /** remote_port as sent. */
  readonly remotePort: string;
  readonly fromTag: string;
  readonly toTag?: string;
  /** Only on U (7 or 8 arguments). */
  readonly notify?: NotifyTarget;
  readonly subcommands: readonly RtppSubcommand[];
}

/** D[w] call_id from_tag [to_tag] */
export interface DeleteCommand extends CommandCommon {
  readonly kind: 'D';
  readonly weak: boolean;
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag?: string;
}

/** P[count] call_id prompt codecs from_tag [to_tag] */
export interface PlayCommand extends CommandCommon {
  readonly kind: 'P';
  readonly count: number;
  readonly callId: string;
  readonly prompt: string;
  /** comma list, or the word `session`. */
  readonly codecs: string;
  readonly fromTag: string;
  readonly toTag?: string;
}

/** S call_id from_tag [to_tag] */
export interface StopPlayCommand extends CommandCommon {
  readonly kind: 'S';
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag?: string;
}

/** R[s] call_id from_tag [to_tag] */
export interface RecordCommand extends CommandCommon {
  readonly kind: 'R';
  readonly single: boolean;
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag?: string;
}

/** C[s][p] call_id target from_tag [to_tag] */
export interface CopyCommand extends CommandCommon {
  readonly kind: 'C';
  readonly single: boolean;
  readonly reportPort: boolean;
  readonly callId: string;
  readonly target: string;
  readonly fromTag: string;
  readonly toTag?: string;
}

/** N[a] call_id from_tag [to_tag] */
export interface NoRecordCommand extends CommandCommon {
  readonly kind: 'N';
  readonly both: boolean;
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag?: string;
}

/** Q[v] call_id from_tag [to_tag [counter …]] */
export interface QueryCommand extends CommandCommon {
  readonly kind: 'Q';
  readonly verbose: boolean;
  readonly callId: string;
  readonly fromTag: string;
  readonly toTag?: string;
  readonly counters: readonly string[];
  readonly subcommands: readonly RtppSubcommand[];
}

export interface VersionCommand extends CommandCommon {
  readonly kind: 'V';
}

export interface VersionFeatureCommand extends CommandCommon {
  readonly kind: 'VF';
  /** yyyymmdd as sent. */
  readonly date: string;
}

/** I[b][l] */
export interface InfoCommand extends CommandCommon {
  readonly kind: 'I';
  readonly brief: boolean;
  readonly load: boolean;
}

/** G[v] [name …] */
export interface StatsCommand extends CommandCommon {
  readonly kind: 'G';
  readonly verbose: boolean;
  readonly names: readonly string[];
}

/** X: delete every session. */
export interface FlushCommand extends CommandCommon {
  readonly kind: 'X';
}

export type RtppCommand =
  | UpdateCommand
  | DeleteCommand
  | PlayCommand
  | StopPlayCommand
  | RecordCommand
  | CopyCommand
  | NoRecordCommand
  | QueryCommand
  | VersionCommand
  | VersionFeatureCommand
  | InfoCommand
  | StatsCommand
  | FlushCommand;

/** Commands that name a session (they carry a call-id). */
export type RtppSessionCommand = Extract<RtppCommand, { readonly callId: string }>;

/** Why a command could not be parsed: the `E<n>` rtpproxy answers, and a reason for logs. */
export interface RtppCommandError {
  readonly code: RtppErrorCode;
  readonly reason: string;
}

export type RtppParseResult =
  | { readonly ok: true; readonly command: RtppCommand }
  | { readonly ok: false; readonly error: RtppCommandError };

/**
 * Error codes of rtpproxy ≥ 2.0 (docs/protocols/rtpproxy.md §2.10), and the balancer's own
 * (E993–E999, §5.6). Numbers not listed are still representable as plain numbers.
 */
export const RtppErrorCode = {
  CMDUNKN: 0,
  PARSE_NARGS: 1,
  PARSE_MODS: 2,
  PARSE_SUBC: 3,
  PARSE_1: 5,
  PARSE_2: 6,
  PARSE_3: 7,
  PARSE_4: 8,
  PARSE_5: 9,
  PARSE_10: 10,
  PARSE_11: 11,
  PARSE_12: 12,
  PARSE_13: 13,
  PARSE_14: 14,
  PARSE_15: 15,
  PARSE_16: 16,
  PARSE_6: 17,
  PARSE_7: 18,
  PARSE_8: 19,
  RTOOBIG_1: 25,
  RTOOBIG_2: 26,
  INVLARG_1: 31,
  INVLARG_2: 32,
  INVLARG_3: 33,
  INVLARG_4: 34,
  INVLARG_5: 35,
  INVLARG_6: 36,
  INVLARG_7: 37,
  SESUNKN: 50,
  PLRFAIL: 60,
  QRYFAIL: 62,
  CPYFAIL: 65,
  STSFAIL: 68,
  LSTFAIL_1: 71,
  LSTFAIL_2: 72,
  NSOFF: 75,
  NOMEM_1: 81,
  NOMEM_9: 89,
  OVERLOAD: 98,
  SLOWSHTDN: 99,
  CLUSTER_STATS_FAILED: 993,
  CLUSTER_STATS_TIMEOUT: 994,
  CLUSTER_AMBIGUOUS: 995,
  CLUSTER_MEMBER_TIMEOUT: 996,
  CLUSTER_BACKEND_TIMEOUT: 997,
  CLUSTER_NO_ELIGIBLE: 998,
  CLUSTER_NO_MEMBER: 999,
} as const;
export type RtppErrorCode = number;

/**
 * A reply body (docs/protocols/rtpproxy.md §1.3, §2.3, §2.7, §2.9). Reply parsing depends on the
 * command it answers (`0` is a port reply to U/L, a success to D); see `parseReply(text, kind)`.
 */
export type RtppReply =
  | RtppPortReply
  | RtppErrorReply
  | RtppValueReply
  | RtppInfoReply
  | RtppListReply;

/** U/L: `<port>[ <addr>[ 6]]`, with `&& r1 && r2` sub-command results. Port 0 = lookup miss. */
export interface RtppPortReply {
  readonly kind: 'port';
  readonly port: number;
  readonly address?: string;
  readonly ipv6: boolean;
  /**
   * A third token other than `6`, kept verbatim: rtpengine answers `37000 127.0.0.1 4`
   * (address family). Serialised back as given.
   */
  readonly family?: string;
  readonly subResults: readonly string[];
}

/** `E<n>` */
export interface RtppErrorReply {
  readonly kind: 'error';
  readonly code: number;
}

/** A single value: `0` (ok), `1`/`0` for VF, `20040107` for V, and the C/P/S/R/N/D/X results. */
export interface RtppValueReply {
  readonly kind: 'value';
  readonly value: string;
}

/** I: `key: value` lines (five for rtpproxy; `average load` with `l`). */
export interface RtppInfoReply {
  readonly kind: 'info';
  readonly entries: readonly (readonly [key: string, value: string])[];
}

/**
 * G and Q: values in order. With the `v` modifier each value carries its name (`name=value`);
 * without it `names` is absent. An empty G answers an empty list.
 */
export interface RtppListReply {
  readonly kind: 'list';
  readonly values: readonly string[];
  readonly names?: readonly string[];
  /** Q replies may carry `&& …` sub-command results too. */
  readonly subResults: readonly string[];
}
