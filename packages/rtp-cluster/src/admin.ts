/**
 * The rtp_cluster admin protocol (docs/protocols/rtpproxy.md §5.8): one command per line; a
 * successful command ends with a line `OK`, an error is one `ERROR: …` line. Output layouts are
 * rtp_cluster's, to the byte, so scripts written for `rtp_cluster_client.py` keep working (member
 * and cluster addresses print as rtp_cluster prints them: `('127.0.0.1', 22222)` for network
 * sockets, the path for unix ones). Unlike rtp_cluster, a bad `modify … add` answers an ERROR line
 * instead of dropping the connection.
 */
import type { RtpBalancer } from './balancer.js';
import type { RtpCluster } from './cluster/cluster.js';
import { memberConfigSchema, splitHostPort } from './config/schema.js';
import type { Member } from './member.js';

export interface AdminReply {
  /** Text to send back, every line ending in `\n`. */
  readonly text: string;
  /** The client asked to quit: close the connection after sending `text`. */
  readonly close: boolean;
}

export interface AdminContext {
  readonly balancer: RtpBalancer;
  /** Re-reads the configuration file for `reload`; absent when there is no file. */
  readonly reload?: () => Promise<{ clusters: number; members: number }>;
}

const ok = (text = ''): AdminReply => ({ text: `${text}OK\n`, close: false });
const fail = (message: string): AdminReply => ({ text: `ERROR: ${message}\n`, close: false });

export const ADMIN_HELP =
  'Supported commands:\n' +
  '\tls [CLUSTER_NAME]\n' +
  '\tmodify CLUSTER_NAME [add|remove|delete|pause|resume] ARGS\n' +
  '\treload\n' +
  '\tquit\n';

/** How rtp_cluster prints an address: a Python (host, port) tuple, or a unix path. */
export function formatAdminAddress(protocol: string, address: string): string {
  if (protocol === 'unix' || protocol === 'cunix') return address;
  const hp = splitHostPort(address);
  if (hp === undefined) return address;
  const host = hp.host.includes(':') ? `[${hp.host}]` : hp.host;
  return `('${host}', ${hp.port})`;
}

/** `%f` of C and Python: six decimals. */
const f6 = (n: number): string => n.toFixed(6);

function memberBlock(m: Member, index: number, online: boolean): string {
  const c = m.config;
  let out = `    RTPproxy: #${index}\n`;
  out += `        name = ${m.name}\n`;
  out += `        address = ${formatAdminAddress(c.protocol, c.address)}\n`;
  if (c.wan_address !== undefined) out += `        wan_address = ${c.wan_address}\n`;
  if (c.lan_address !== undefined) out += `        lan_address = ${c.lan_address}\n`;
  if (c.cmd_out_address !== undefined) out += `        cmd_out_address = ${c.cmd_out_address}\n`;
  out += `        weight = ${c.weight}\n`;
  out += `        capacity = ${c.capacity}\n`;
  if (online) {
    out += '        state = online\n';
    const sessions = m.reportedSessions;
    out += `        active sessions = ${sessions === undefined ? 'UNKNOWN' : sessions}\n`;
    out += `        capacity utilization = ${f6((m.activeSessions / c.capacity) * 100)}%\n`;
    out += `        average rtpc delay = ${f6(m.rttMs / 1000)} sec\n`;
    out += `        status = ${m.status}\n`;
  } else {
    out += '        state = offline\n';
  }
  return out;
}

function listClusters(clusters: readonly RtpCluster[]): string {
  let out = '';
  clusters.forEach((cluster, idx) => {
    const online = cluster.members.filter((m) => m.online);
    const suspended = online.filter((m) => m.status === 'SUSPENDED').length;
    const draining = online.filter((m) => m.status === 'DRAINING').length;
    if (idx > 0) out += '\n';
    out += `Cluster: #${idx}\n`;
    out += `    name = ${cluster.name}\n`;
    out += `    address = ${formatAdminAddress(cluster.config.protocol, cluster.config.address)}\n`;
    out += `    online members = ${online.length} (${online.length - suspended - draining} active, ${suspended} suspended, ${draining} draining)\n`;
    out += `    offline members = ${cluster.members.length - online.length}\n`;
  });
  return out;
}

function listMembers(cluster: RtpCluster, idx: number): string {
  const online = cluster.members
    .filter((m) => m.online)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const offline = cluster.members.filter((m) => !m.online);
  let out = `Online members of the cluster #${idx}:\n`;
  online.forEach((m, i) => {
    if (i > 0) out += '\n';
    out += memberBlock(m, i, true);
  });
  out += `\nOffline members of the cluster #${idx}:\n`;
  offline.forEach((m, i) => {
    if (i > 0) out += '\n';
    out += memberBlock(m, i, false);
  });
  if (offline.length === 0) out += '\n';
  return out;
}

function parseMemberArgs(text: string): Record<string, string> | string {
  const fields: Record<string, string> = {};
  for (const kv of text.split(',')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) return `bad argument "${kv}", expected key=value`;
    fields[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return fields;
}

/** Runs one admin command line. Never throws. */
export async function adminCommand(ctx: AdminContext, line: string): Promise<AdminReply> {
  const cmd = line.trim();
  const words = cmd.split(/\s+/).filter((w) => w !== '');
  const verb = words[0] ?? '';
  const clusters = ctx.balancer.clusters;
  const findCluster = (name: string | undefined) => {
    const idx = clusters.findIndex((c) => c.name === name);
    return idx < 0 ? undefined : { cluster: clusters[idx]!, idx };
  };

  if (verb === 'q' || verb === 'quit' || verb === 'exit') return { text: '', close: true };
  if (verb === 'h' || verb === 'help') return { text: ADMIN_HELP, close: false };

  if (verb === 'ls') {
    if (words.length === 1) return ok(listClusters(clusters));
    const found = findCluster(words[1]);
    if (found === undefined) return fail(`${words[1]}: cluster not found`);
    return ok(listMembers(found.cluster, found.idx));
  }

  if (verb === 'modify') {
    const found = findCluster(words[1]);
    if (found === undefined) return fail(`${words[1] ?? ''}: cluster not found`);
    const action = words[2];
    const cluster = found.cluster;
    if (action === 'add') {
      const fields = parseMemberArgs(words.slice(3).join(''));
      if (typeof fields === 'string') return fail(fields);
      if (fields.name !== undefined && cluster.member(fields.name) !== undefined) {
        return fail(`${fields.name}: RTPproxy already exists`);
      }
      const parsed = memberConfigSchema.safeParse({ status: 'ACTIVE', ...fields });
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return fail(`${issue.path.join('.') || 'rtpproxy'}: ${issue.message}`);
      }
      cluster.addMember(parsed.data);
      return ok();
    }
    if (action === 'remove' || action === 'delete' || action === 'pause' || action === 'resume') {
      const name = words[3] ?? '';
      if (cluster.member(name) === undefined) return fail(`${name}: RTPproxy not found`);
      if (action === 'pause') cluster.pauseMember(name);
      else if (action === 'resume') cluster.resumeMember(name);
      else cluster.drainMember(name);
      return ok();
    }
    return fail(`unsupported action: "${action ?? ''}"`);
  }

  if (verb === 'reload') {
    if (ctx.reload === undefined) return fail('no configuration file to reload');
    try {
      const r = await ctx.reload();
      return ok(`Loaded ${r.clusters} clusters and ${r.members} RTP proxies\n`);
    } catch (err) {
      return fail(`reload failed: ${(err as Error).message.replaceAll('\n', ' ')}`);
    }
  }

  return fail('unknown command');
}
