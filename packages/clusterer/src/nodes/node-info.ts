import { ClustererConfigError } from '../errors.js';

/** A BIN listener address parsed from `bin:IP[:port]` / `bins:IP[:port]`. */
export interface BinAddress {
  proto: 'bin' | 'bins';
  host: string;
  port: number;
}

/** Parse a node URL. A URL without a protocol is BIN; any other protocol is rejected. */
export function parseBinUrl(url: string): BinAddress {
  let rest = url.trim();
  let proto: 'bin' | 'bins' = 'bin';
  const m = /^([a-zA-Z]+):(.*)$/.exec(rest);
  if (m !== null && !/^\d+$/.test(m[2] ?? '')) {
    const p = (m[1] ?? '').toLowerCase();
    if (p !== 'bin' && p !== 'bins')
      throw new ClustererConfigError(`unsupported protocol in node url "${url}"`);
    proto = p;
    rest = m[2] ?? '';
  }
  let host = rest;
  let port = proto === 'bins' ? 5556 : 5555;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest);
  if (v6 !== null) {
    host = v6[1] ?? '';
    if (v6[2] !== undefined) port = Number(v6[2]);
  } else {
    const i = rest.lastIndexOf(':');
    if (i > 0 && rest.indexOf(':') === i) {
      host = rest.slice(0, i);
      port = Number(rest.slice(i + 1));
    }
  }
  if (host === '' || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new ClustererConfigError(`bad node url "${url}"`);
  }
  return { proto, host, port };
}

export function addressKey(a: BinAddress): string {
  return `${a.proto}:${a.host}:${a.port}`;
}

/** One node as configured (script strings or a `clusterer` table row). */
export interface NodeConfig {
  clusterId: number;
  nodeId: number;
  url: string;
  /** -1 for nodes from script or discovery. */
  dbId: number;
  enabled: boolean;
  noPingRetries: number;
  priority: number;
  sipAddr: string;
  seed: boolean;
  description: string;
}

const INT_PROPS = ['cluster_id', 'node_id', 'no_ping_retries', 'priority', 'state'] as const;

/**
 * Parse a `my_node_info` / `neighbor_node_info` string:
 * `cluster_id=1,node_id=2,url=bin:10.0.0.2:5566[,no_ping_retries=3,priority=50,sip_addr=..,flags=seed,description=..]`.
 * Defaults follow OpenSIPS script mode: enabled, no_ping_retries 3 and priority 3 (sic).
 */
export function parseNodeInfo(
  text: string,
  kind: 'my_node_info' | 'neighbor_node_info',
): NodeConfig {
  const props = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new ClustererConfigError(`${kind}: bad property "${part.trim()}" in "${text}"`);
    const key = part.slice(0, eq).trim().toLowerCase();
    props.set(key, part.slice(eq + 1).trim());
  }
  const num = (k: string): number | undefined => {
    const v = props.get(k);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v))
      throw new ClustererConfigError(`${kind}: ${k} must be an integer, got "${v}"`);
    return Number(v);
  };
  for (const k of INT_PROPS) num(k);
  const clusterId = num('cluster_id');
  const nodeId = num('node_id');
  const url = props.get('url');
  if (clusterId === undefined || clusterId <= 0)
    throw new ClustererConfigError(`${kind}: cluster_id is required`);
  if (url === undefined || url === '') throw new ClustererConfigError(`${kind}: url is required`);
  if (kind === 'neighbor_node_info' && nodeId === undefined) {
    throw new ClustererConfigError(`${kind}: node_id is required`);
  }
  parseBinUrl(url);
  return {
    clusterId,
    nodeId: nodeId ?? -1,
    url,
    dbId: -1,
    enabled: (num('state') ?? 1) !== 0,
    noPingRetries: num('no_ping_retries') ?? 3,
    priority: num('priority') ?? 3,
    sipAddr: props.get('sip_addr') ?? '',
    seed: (props.get('flags') ?? '').toLowerCase().startsWith('seed'),
    description: props.get('description') ?? '',
  };
}
