/**
 * The balancer's configuration: clusters, each on its own control socket, each with members.
 * The shape and the rules follow sippy rtp_cluster's `rtp_cluster.xml`
 * (docs/protocols/rtpproxy.md §5.2) so that its file converts one to one; `xml.ts` reads that file
 * into this shape.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { RtpClusterError } from '../errors.js';

/** Control-socket protocols a cluster answers on (rtp_cluster has udp, udp6 and unix). */
export const CLUSTER_PROTOCOLS = ['udp', 'udp6', 'unix', 'cunix', 'tcp', 'tcp6'] as const;
/** Protocols a member is reached over (any @sipedge/rtpp client transport). */
export const MEMBER_PROTOCOLS = ['udp', 'udp6', 'unix', 'cunix', 'tcp', 'tcp6'] as const;

export type ClusterProtocol = (typeof CLUSTER_PROTOCOLS)[number];
export type MemberProtocol = (typeof MEMBER_PROTOCOLS)[number];

const DEFAULT_PORT = 22222;

/** `host[:port]` / `[v6]:port` / a unix path, checked for the given protocol. */
function addressIssue(protocol: string, address: string): string | undefined {
  if (protocol === 'unix' || protocol === 'cunix') {
    return address.startsWith('/') || address.startsWith('.')
      ? undefined
      : `a ${protocol} address must be a socket path, got "${address}"`;
  }
  const parsed = splitHostPort(address);
  if (parsed === undefined) return `"${address}" is not host[:port]`;
  // port 0 asks the OS for a free port (the daemon prints the one it bound)
  if (parsed.port > 65535) return `port ${parsed.port} is out of range`;
  if ((protocol === 'udp' || protocol === 'tcp') && isIP(parsed.host) === 6) {
    return `"${parsed.host}" is an IPv6 address: use ${protocol}6`;
  }
  return undefined;
}

/** Splits `host[:port]`, `[v6]` or `[v6]:port` (the default port is rtpproxy's 22222). */
export function splitHostPort(address: string): { host: string; port: number } | undefined {
  let host: string;
  let portText: string | undefined;
  if (address.startsWith('[')) {
    const close = address.indexOf(']');
    if (close < 0) return undefined;
    host = address.slice(1, close);
    const rest = address.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return undefined;
    portText = rest === '' ? undefined : rest.slice(1);
    if (isIP(host) !== 6) return undefined;
  } else {
    const colons = address.split(':').length - 1;
    if (colons > 1) {
      // a bare IPv6 address without a port, as rtp_cluster's udp6 config allows
      if (isIP(address) !== 6) return undefined;
      return { host: address, port: DEFAULT_PORT };
    }
    const colon = address.lastIndexOf(':');
    host = colon < 0 ? address : address.slice(0, colon);
    portText = colon < 0 ? undefined : address.slice(colon + 1);
  }
  if (host === '' || /[\s/]/.test(host)) return undefined;
  if (portText === undefined) return { host, port: DEFAULT_PORT };
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  return { host, port: Number(portText) };
}

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'must be an IP address' });

const lowerEnum = <T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.toLowerCase() : v), z.enum(values));

/**
 * Adds an issue at `[key, i, 'name']` for every item of a list whose name an earlier item
 * already has (members of a cluster, relays of a node).
 */
export function refineUniqueNames(
  ctx: z.RefinementCtx,
  key: string,
  items: readonly { name: string }[],
  message: (name: string) => string,
): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.name)) {
      ctx.addIssue({ code: 'custom', path: [key, i, 'name'], message: message(item.name) });
    }
    seen.add(item.name);
  });
}

export const memberConfigSchema = z
  .object({
    name: z.string().min(1, 'must not be empty'),
    protocol: lowerEnum(MEMBER_PROTOCOLS),
    address: z.string().min(1, 'must not be empty'),
    weight: z.coerce.number().int('must be an integer').positive('must be > 0'),
    capacity: z.coerce.number().int('must be an integer').positive('must be > 0'),
    status: z.preprocess(
      (v) => (typeof v === 'string' ? v.toUpperCase() : v),
      z.enum(['ACTIVE', 'SUSPENDED']),
    ),
    wan_address: ipAddress.optional(),
    lan_address: ipAddress.optional(),
    cmd_out_address: ipAddress.optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    const issue = addressIssue(m.protocol, m.address);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', path: ['address'], message: issue });
  });

export const clusterConfigSchema = z
  .object({
    name: z.string().min(1, 'must not be empty'),
    protocol: lowerEnum(CLUSTER_PROTOCOLS),
    address: z.string().min(1, 'must not be empty'),
    disconnect_notify: z
      .object({
        inbound_address: z.string().refine((s) => splitHostPort(s) !== undefined, {
          message: 'must be ip:port',
        }),
        dest_socket_prefix: z.string().min(1),
      })
      .strict()
      .optional(),
    capacity_limit: lowerEnum(['soft', 'hard'] as const).default('soft'),
    rtpproxies: z.array(memberConfigSchema).min(1, 'a cluster needs at least one rtpproxy'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = addressIssue(c.protocol, c.address);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', path: ['address'], message: issue });
    refineUniqueNames(
      ctx,
      'rtpproxies',
      c.rtpproxies,
      (name) => `rtpproxy name "${name}" is not unique within the cluster`,
    );
  });

export const rtpClusterConfigSchema = z
  .object({ clusters: z.array(clusterConfigSchema).min(1, 'at least one rtp_cluster is needed') })
  .strict()
  .superRefine((cfg, ctx) => {
    const names = new Set<string>();
    const sockets = new Set<string>();
    cfg.clusters.forEach((c, i) => {
      if (names.has(c.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', i, 'name'],
          message: `rtp_cluster name "${c.name}" is not unique`,
        });
      }
      names.add(c.name);
      const socket = `${c.protocol}:${c.address}`;
      if (sockets.has(socket)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clusters', i, 'address'],
          message: `control socket ${socket} is used by two clusters`,
        });
      }
      sockets.add(socket);
    });
  });

export type MemberConfig = z.output<typeof memberConfigSchema>;
export type ClusterConfig = z.output<typeof clusterConfigSchema>;
export type RtpClusterConfig = z.output<typeof rtpClusterConfigSchema>;

/** The rtpp socket spec of a cluster's control socket or a member, e.g. `udp:127.0.0.1:22222`. */
export function socketSpec(protocol: string, address: string): string {
  return `${protocol}:${address}`;
}

/** Names a zod issue path the way an operator reads a config: `rtp_cluster "a" › rtpproxy "b" › weight`. */
function describePath(input: unknown, path: readonly PropertyKey[]): string {
  const parts: string[] = [];
  let node: unknown = input;
  for (let i = 0; i < path.length; i++) {
    const key = path[i];
    const next =
      node !== null && typeof node === 'object'
        ? (node as Record<PropertyKey, unknown>)[key as PropertyKey]
        : undefined;
    if (typeof key === 'number') {
      const parent = path[i - 1];
      const element = parent === 'clusters' ? 'rtp_cluster' : 'rtpproxy';
      const name =
        next !== null && typeof next === 'object' ? (next as { name?: unknown }).name : undefined;
      parts.pop();
      parts.push(typeof name === 'string' ? `${element} "${name}"` : `${element} #${key + 1}`);
    } else {
      parts.push(String(key));
    }
    node = next;
  }
  return parts.join(' › ');
}

/**
 * Validates a configuration object (from JSON, YAML or the XML adapter), fills defaults and
 * returns it frozen. Throws RtpClusterConfigError naming every bad element.
 */
export function parseRtpClusterConfig(input: unknown): RtpClusterConfig {
  const result = rtpClusterConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `${describePath(input, issue.path) || 'config'}: ${issue.message}`,
    );
    throw new RtpClusterConfigError(lines);
  }
  return deepFreeze(result.data);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export class RtpClusterConfigError extends RtpClusterError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('RTP_CLUSTER_CONFIG', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}
