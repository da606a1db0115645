/**
 * Hand-made commands and edits. Every result carries no `raw`, so it is serialised from its
 * fields; an edit never changes the command it is given.
 */
import type {
  DeleteCommand,
  InfoCommand,
  NotifyTarget,
  QueryCommand,
  RtppCommand,
  StatsCommand,
  UpdateCommand,
  UpdateModifiers,
  VersionCommand,
  VersionFeatureCommand,
} from '../types.js';
import { EMPTY_MODIFIERS, serializeUpdateModifiers } from './modifiers.js';

/** The base protocol version every rtpproxy answers to `V`. */
export const RTPP_BASE_VERSION = '20040107';

/** VF capability dates (digest §3) and what each means. */
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
  '20170313': 'TTL change (OpenSIPS; not in rtpproxy)',
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

export interface UpdateCommandInit {
  kind?: 'U' | 'L';
  mods?: Partial<UpdateModifiers>;
  callId: string;
  remoteIp: string;
  remotePort: string | number;
  fromTag: string;
  toTag?: string;
  notify?: NotifyTarget;
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
    subcommands: [],
  };
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

function withoutRaw<T extends RtppCommand>(cmd: T): T {
  const { raw: _raw, ...rest } = cmd;
  return rest as T;
}

/** The same command with other tags (e.g. swapped for a forced lookup). */
export function withTags<T extends Extract<RtppCommand, { fromTag: string }>>(
  cmd: T,
  fromTag: string,
  toTag: string | undefined,
): T {
  const { toTag: _old, ...rest } = withoutRaw(cmd) as T & { toTag?: string };
  return { ...rest, fromTag, ...(toTag === undefined ? {} : { toTag }) } as T;
}

/** A U as an L or the reverse. */
export function withKind(cmd: UpdateCommand, kind: 'U' | 'L'): UpdateCommand {
  return { ...withoutRaw(cmd), kind };
}

/** The same U without notify arguments. */
export function withoutNotify(cmd: UpdateCommand): UpdateCommand {
  const { notify: _n, ...rest } = withoutRaw(cmd);
  return rest;
}

/** The same U/L with other modifiers. */
export function withModifiers(cmd: UpdateCommand, mods: UpdateModifiers): UpdateCommand {
  return { ...withoutRaw(cmd), mods, modifiers: serializeUpdateModifiers(mods) };
}

/** A tag without its `;N` media-number suffix. */
export function baseTag(tag: string): string {
  const semi = tag.indexOf(';');
  return semi < 0 ? tag : tag.slice(0, semi);
}

/** The `;N` media number of a tag, or undefined. */
export function mediaNumber(tag: string): number | undefined {
  const semi = tag.indexOf(';');
  if (semi < 0) return undefined;
  const n = Number(tag.slice(semi + 1));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
