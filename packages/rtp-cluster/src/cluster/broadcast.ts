/**
 * Commands for a call the call table does not hold: asked of every online member, and the call
 * bound to the one positive responder (rtp_cluster bound the last). A U with to_tag becomes a
 * forced lookup (an L with the tags swapped, notify dropped), as the answer side of a call whose
 * binding was lost.
 */
import type { RtppReply, RtppSessionCommand, UpdateCommand } from '@sipedge/rtpp';
import type { Member } from '../member.js';
import type { ClusterView } from './options.js';
import { error, isPositive, missPort, value } from './replies.js';
import { commandForMember, edited, replyFromMember } from './rewrite.js';

/**
 * The client's reply to `cmd` after asking every online member, or undefined when `cmd` is a U
 * that nobody holds: the caller then creates the session, as rtpproxy's U does.
 */
export async function lookupByBroadcast(
  cluster: ClusterView,
  cmd: RtppSessionCommand,
  relay: boolean,
): Promise<RtppReply | undefined> {
  cluster.counters.broadcasts++;
  const online = cluster.members.filter((m) => m.online);
  if (online.length === 0) return error(999);
  const forced = cmd.kind === 'U';
  const probe: RtppSessionCommand = forced
    ? (() => {
        const { notify: _n, ...rest } = cmd as UpdateCommand;
        return edited(rest as UpdateCommand, {
          kind: 'L',
          fromTag: cmd.toTag!,
          toTag: cmd.fromTag,
        });
      })()
    : cmd;
  const targets =
    probe.kind === 'Q' ? online.filter((m) => m.capabilities.get('20080403') === true) : online;
  const results = await Promise.allSettled(
    targets.map((m) => m.send(commandForMember(probe, m, cluster.config, relay))),
  );
  const positive: { m: Member; reply: RtppReply }[] = [];
  const codes = new Set<number>();
  results.forEach((r, i) => {
    if (r.status !== 'fulfilled') return;
    if (isPositive(r.value)) positive.push({ m: targets[i]!, reply: r.value });
    else if (r.value.kind === 'error') codes.add(r.value.code);
  });
  if (cmd.kind === 'D') {
    return positive.length > 0 ? value('0') : error(50);
  }
  if (positive.length === 1) {
    const { m, reply } = positive[0]!;
    cluster.callTable.bind(cmd.callId, m.name);
    return replyFromMember(reply, m, cluster.counters);
  }
  if (positive.length === 0) {
    if (forced) return undefined;
    if (cmd.kind === 'L') return missPort;
    if (codes.size === 1)
      return replyFromMember(error([...codes][0]!), targets[0]!, cluster.counters);
    return error(50);
  }
  return cmd.kind === 'L' ? missPort : error(995);
}
