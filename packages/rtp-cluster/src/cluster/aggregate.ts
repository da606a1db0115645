/**
 * The commands a cluster answers over all its members rather than through one: VF (what every
 * online member claims), I (sums over online members), G (sums over members that keep counters)
 * and X (sent to every online member).
 */
import type { RtppCommand, RtppReply } from '@sipedge/rtpp';
import type { CallTable } from '../calls/call-table.js';
import type { ClusterConfig } from '../config/schema.js';
import { BASE_VERSION, type Member } from '../member.js';
import { error, value } from './replies.js';
import { canNotify, edited } from './rewrite.js';

function online(members: readonly Member[]): Member[] {
  return members.filter((m) => m.online);
}

/** True when every online member claims the capability (and notifications can be delivered). */
export function supports(
  members: readonly Member[],
  date: string,
  config: ClusterConfig,
  relay: boolean,
): boolean {
  if (date === BASE_VERSION) return true;
  const up = online(members);
  const pool = up.length > 0 ? up : members.filter((m) => m.capabilities.size > 0);
  if (pool.length === 0) return false;
  return pool.every((m) => {
    if (m.capabilities.get(date) !== true) return false;
    if (date === '20081224') return canNotify(m, config, relay);
    return true;
  });
}

/** `I` (`Ib` with `withLoad`): the members' own figures summed, and the average load. */
export function info(members: readonly Member[], withLoad: boolean): RtppReply {
  const sum = {
    created: 0,
    active: 0,
    streams: 0,
    received: 0,
    transmitted: 0,
  };
  let load = 0;
  const up = online(members);
  for (const m of up) {
    const hb = m.heartbeat;
    sum.created += hb?.sessionsCreated ?? m.counters.sessions;
    sum.active += m.reportedSessions ?? m.activeSessions;
    sum.streams += hb?.activeStreams ?? 0;
    sum.received += hb?.packetsReceived ?? 0;
    sum.transmitted += hb?.packetsTransmitted ?? 0;
    load += m.activeSessions / m.config.capacity;
  }
  const entries: [string, string][] = [
    ['sessions created', String(sum.created)],
    ['active sessions', String(sum.active)],
    ['active streams', String(sum.streams)],
    ['packets received', String(sum.received)],
    ['packets transmitted', String(sum.transmitted)],
  ];
  if (withLoad) {
    entries.push(['average load', (up.length > 0 ? load / up.length : 0).toFixed(6)]);
  }
  return { kind: 'info', entries };
}

/** `G`: each counter summed over the online members that keep counters (20141004). */
export async function stats(
  members: readonly Member[],
  cmd: Extract<RtppCommand, { kind: 'G' }>,
): Promise<RtppReply> {
  if (cmd.names.length === 0) {
    return cmd.verbose
      ? { kind: 'list', values: [], names: [], subResults: [] }
      : { kind: 'list', values: [], subResults: [] };
  }
  const up = online(members).filter((m) => m.capabilities.get('20141004') === true);
  if (up.length === 0) return error(993);
  const plain = edited(cmd, { verbose: false, modifiers: '' });
  const results = await Promise.allSettled(up.map((m) => m.send(plain)));
  const sums = cmd.names.map(() => 0);
  const isFloat = cmd.names.map(() => false);
  let answered = 0;
  for (const r of results) {
    if (r.status !== 'fulfilled') continue;
    const reply = r.value;
    if (reply.kind === 'error') {
      if (reply.code === 68) return error(68);
      continue;
    }
    if (reply.kind !== 'list' || reply.values.length !== cmd.names.length) continue;
    answered++;
    reply.values.forEach((v, i) => {
      if (v.includes('.')) isFloat[i] = true;
      sums[i] = (sums[i] ?? 0) + (Number(v) || 0);
    });
  }
  if (answered === 0) return error(993);
  const values = sums.map((s, i) => (isFloat[i] ? s.toFixed(6) : String(s)));
  return cmd.verbose
    ? { kind: 'list', values, names: cmd.names, subResults: [] }
    : { kind: 'list', values, subResults: [] };
}

/** `X`: every online member flushes, and the call table forgets their calls. */
export async function flush(
  members: readonly Member[],
  callTable: CallTable,
  cmd: RtppCommand,
): Promise<RtppReply> {
  const up = online(members);
  const results = await Promise.allSettled(up.map((m) => m.send(cmd)));
  for (const m of up) callTable.forgetMember(m.name);
  const failed = results.some((r) => r.status === 'rejected' || r.value.kind === 'error');
  return failed ? error(997) : value('0');
}
