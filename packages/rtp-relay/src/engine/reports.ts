/**
 * The commands that report rather than change: Q (one session's counters), I (the engine's
 * totals) and G (named counters).
 */
import {
  RtppErrorCode as E,
  type InfoCommand,
  type QueryCommand,
  type RtppReply,
  type StatsCommand,
} from '@sipedge/rtpp';
import { type EngineStats, QUERY_NAMES, STAT_NAMES, type StatName } from './capabilities.js';
import type { Session } from './session.js';
import type { SessionTable } from './session-table.js';

const err = (code: number): RtppReply => ({ kind: 'error', code });

/** Whole seconds a session has left before it times out. */
export function ttlLeft(s: Session, now: number, ttlMs: number): number {
  const last = s.active ? now : s.lastActivity;
  return Math.max(0, Math.ceil((ttlMs - (now - last)) / 1000));
}

/** `Q`: the RTP counters of the session the command names, seen from its from-tag's side. */
export function queryReply(
  cmd: QueryCommand,
  sessions: SessionTable,
  now: number,
  ttlMs: number,
): RtppReply {
  if (cmd.subcommands.length > 0) return err(E.PARSE_SUBC);
  const found = sessions.find(cmd.callId, cmd.fromTag, cmd.toTag);
  if (found === undefined) return err(E.SESUNKN);
  const { session, fromSide } = found;
  const a = session.legs[fromSide ? 0 : 1];
  const o = session.legs[fromSide ? 1 : 0];
  const all: Record<(typeof QUERY_NAMES)[number], string> = {
    ttl: String(ttlLeft(session, now, ttlMs)),
    npkts_ina: String(a.rtp.received),
    npkts_ino: String(o.rtp.received),
    nrelayed: String(a.rtp.relayed + o.rtp.relayed),
    ndropped: String(a.rtp.dropped + o.rtp.dropped),
  };
  const names = cmd.counters.length > 0 ? cmd.counters : QUERY_NAMES;
  const values: string[] = [];
  for (const n of names) {
    const v = (all as Record<string, string>)[n];
    if (v === undefined || !Object.hasOwn(all, n)) return err(E.QRYFAIL);
    values.push(v);
  }
  return { kind: 'list', values, ...(cmd.verbose ? { names: [...names] } : {}), subResults: [] };
}

/** `I` (`Il` adds the load, always 0 here). */
export function infoReply(
  cmd: InfoCommand,
  sessions: number,
  stats: EngineStats,
  packetsOut: number,
): RtppReply {
  const entries: [string, string][] = [
    ['sessions created', String(stats.nsess_created)],
    ['active sessions', String(sessions)],
    ['active streams', String(sessions * 2)],
    ['packets received', String(stats.npkts_rcvd)],
    ['packets transmitted', String(packetsOut)],
  ];
  if (cmd.load) entries.push(['average load', '0.000000']);
  return { kind: 'info', entries };
}

/** `G`: the named counters; a name the engine does not keep answers E68. */
export function statsReply(cmd: StatsCommand, stats: EngineStats): RtppReply {
  const values: string[] = [];
  for (const n of cmd.names) {
    if (!(STAT_NAMES as readonly string[]).includes(n)) return err(E.STSFAIL);
    const v = stats[n as StatName];
    values.push(n === 'total_duration' ? v.toFixed(6) : String(v));
  }
  if (values.join(' ').length > 1000) return err(E.RTOOBIG_1);
  return {
    kind: 'list',
    values,
    ...(cmd.verbose ? { names: [...cmd.names] } : {}),
    subResults: [],
  };
}
