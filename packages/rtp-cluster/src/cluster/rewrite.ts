/**
 * A command as a member should see it and a member's reply as the client should see it:
 * `lan_address` binds the member's sessions locally and drops the remote-address hint, notify
 * arguments go through the disconnect relay (or are dropped where they cannot be delivered),
 * `wan_address` goes into replies with the IPv6 flag kept right, and a member's E7–E10 become
 * E997.
 */
import { isIP } from 'node:net';
import type {
  NotifyTarget,
  RtppCommand,
  RtppReply,
  RtppSessionCommand,
  UpdateCommand,
} from '@sipedge/rtpp';
import { type ClusterConfig, splitHostPort } from '../config/schema.js';
import type { Member } from '../member.js';
import type { ClusterCounters } from './options.js';
import { error } from './replies.js';

/** A copy of a command without its original text, so it is serialised from its fields. */
export function edited<T extends RtppCommand>(cmd: T, changes: Partial<T>): T {
  const { raw: _raw, ...rest } = cmd;
  return { ...rest, ...changes } as T;
}

/**
 * The disconnect relay's port when one runs for this cluster (`relay`: the owner runs one on
 * each cluster's `disconnect_notify` address).
 */
export function disconnectRelayPort(config: ClusterConfig, relay: boolean): number | undefined {
  const dn = config.disconnect_notify;
  if (!relay || dn === undefined) return undefined;
  return splitHostPort(dn.inbound_address)?.port;
}

/** Whether a timeout notification from this member can reach the client. */
export function canNotify(m: Member, config: ClusterConfig, relay: boolean): boolean {
  const local = m.config.protocol === 'unix' || m.config.protocol === 'cunix';
  return local || disconnectRelayPort(config, relay) !== undefined;
}

/** The command as this member should see it (lan_address binding, notify rewriting). */
export function commandForMember<T extends RtppSessionCommand>(
  cmd: T,
  m: Member,
  config: ClusterConfig,
  relay: boolean,
): T {
  if (cmd.kind !== 'U' && cmd.kind !== 'L') return cmd;
  let out = cmd as UpdateCommand;
  const lan = m.config.lan_address;
  if (lan !== undefined) {
    const { remoteAddress: _r, ...mods } = out.mods;
    out = edited(out, { mods: { ...mods, localAddress: lan } });
  }
  if (out.notify !== undefined) {
    const notify = notifyFor(out.notify, m, config, relay);
    if (notify !== out.notify) {
      const { notify: _n, ...rest } = out;
      out = notify === undefined ? edited(rest as UpdateCommand, {}) : edited(out, { notify });
    }
  }
  return out as T;
}

function notifyFor(
  notify: NotifyTarget,
  m: Member,
  config: ClusterConfig,
  relay: boolean,
): NotifyTarget | undefined {
  if (m.config.protocol === 'unix' || m.config.protocol === 'cunix') return notify;
  const dn = config.disconnect_notify;
  const port = disconnectRelayPort(config, relay);
  if (
    dn === undefined ||
    port === undefined ||
    m.capabilities.get('20150617') !== true ||
    !notify.socket.startsWith(dn.dest_socket_prefix)
  ) {
    return undefined;
  }
  const suffix = notify.socket.slice(dn.dest_socket_prefix.length);
  return { socket: `tcp:%%CC_SELF%%:${port}`, tag: `${suffix} ${notify.tag}` };
}

/** The reply as the client should see it (wan_address rewriting, IPv6 flag kept right). */
export function replyFromMember(reply: RtppReply, m: Member, counters: ClusterCounters): RtppReply {
  if (reply.kind === 'error' && reply.code >= 7 && reply.code <= 10) {
    // a member's E7–E10 must not make the client disable the balancer: the member failed
    counters.memberFailures++;
    return error(997);
  }
  const wan = m.config.wan_address;
  if (wan === undefined || reply.kind !== 'port' || reply.port === 0) return reply;
  const { family: _f, ...rest } = reply;
  return { ...rest, address: wan, ipv6: isIP(wan) === 6 };
}
