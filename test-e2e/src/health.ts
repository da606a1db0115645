/**
 * What a cluster must still do after something was done to it (an attack, a fault): every
 * process it started is alive, every node answers a fresh client's OPTIONS 200 on each of its
 * SIP listeners (UDP, TCP, WS, TLS, WSS, on new connections), a fresh MI client gets
 * `node_info`, the nodes that should be linked see each other Up, and with a service address
 * exactly one node owns it. `expectServing` checks all of it and throws once, naming every
 * part that did not hold.
 *
 * `sipOptions` is the fresh client: one OPTIONS on a new connection (or a new UDP socket) from
 * a chosen local address, answered or not within a bound.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import tls from 'node:tls';
import { MiClient } from '@sipedge/mi';
import { notYet, until } from '@sipedge/test-utils';
import WebSocket from 'ws';
import type { Cluster } from './cluster.js';
import type { Address, E2eNode } from './node.js';
import { activeOwners } from './shtags.js';
import { SipUdpUa } from './sip.js';

/** A SIP listener's protocol, as the node prints it (`SIP tls 127.0.0.1:5061`). */
export type SipProto = 'udp' | 'tcp' | 'ws' | 'tls' | 'wss';

const VIA: Record<SipProto, string> = { udp: 'UDP', tcp: 'TCP', ws: 'WS', tls: 'TLS', wss: 'WSS' };

let seq = 0;

/** An OPTIONS for `to` (sent over `transport` from `from`); its Call-ID is returned too. */
export function optionsRequest(
  to: Address,
  transport: string,
  from: Address,
  extra: string[] = [],
): { text: string; callId: string } {
  const callId = `probe-${process.pid}-${++seq}`;
  const text = [
    `OPTIONS sip:${to.host}:${to.port} SIP/2.0`,
    `Via: SIP/2.0/${transport} ${from.host}:${from.port};branch=z9hG4bK${callId};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@e2e.test>;tag=${seq}`,
    `To: <sip:${to.host}:${to.port}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    ...extra,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  return { text, callId };
}

export interface ProbeOptions {
  /** The local address to send from (default 127.0.0.1; any 127/8 address is this host). */
  from?: string;
  /** PEM of the CA that signed the node's certificate (tls, wss). */
  ca?: string | Buffer;
  /** How long to wait for the final answer (default 3 s). */
  timeoutMs?: number;
}

/** The final status of a response, once its header is complete. */
function finalStatus(text: string): number | undefined {
  const m = /^SIP\/2\.0 (\d{3}) /.exec(text);
  if (m === null || !text.includes('\r\n\r\n')) return undefined;
  const code = Number(m[1]);
  return code >= 200 ? code : undefined;
}

/**
 * One OPTIONS from a fresh client over `proto` to `to`: the final status code, or undefined
 * when none came within the bound (or the connection was refused or closed first).
 */
export async function sipOptions(
  proto: SipProto,
  to: Address,
  o: ProbeOptions = {},
): Promise<number | undefined> {
  const from = o.from ?? '127.0.0.1';
  const timeoutMs = o.timeoutMs ?? 3000;
  if (proto === 'udp') {
    using ua = await new SipUdpUa().bind(from);
    return (await ua.options(to, timeoutMs))?.code;
  }
  return new Promise<number | undefined>((resolve) => {
    let done = false;
    let close = (): void => {};
    const finish = (code: number | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      resolve(code);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    if (proto === 'ws' || proto === 'wss') {
      const ws = new WebSocket(`${proto}://${to.host}:${to.port}`, 'sip', {
        localAddress: from,
        ...(o.ca === undefined ? {} : { ca: o.ca }),
      });
      close = () => ws.terminate();
      ws.on('error', () => finish(undefined));
      ws.on('close', () => finish(undefined));
      ws.on('open', () => {
        ws.send(optionsRequest(to, VIA[proto], { host: from, port: 9 }).text);
      });
      ws.on('message', (data) => {
        const code = finalStatus(data.toString());
        if (code !== undefined) finish(code);
      });
      return;
    }
    const raw = connect({ host: to.host, port: to.port, localAddress: from });
    const s =
      proto === 'tls'
        ? tls.connect({ socket: raw, host: to.host, ...(o.ca === undefined ? {} : { ca: o.ca }) })
        : raw;
    close = () => {
      s.destroy();
      raw.destroy();
    };
    let text = '';
    raw.on('error', () => finish(undefined));
    s.on('error', () => finish(undefined));
    s.on('close', () => finish(undefined));
    s.once(proto === 'tls' ? 'secureConnect' : 'connect', () => {
      s.write(optionsRequest(to, VIA[proto], { host: from, port: s.localPort ?? 0 }).text);
    });
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      const code = finalStatus(text);
      if (code !== undefined) finish(code);
    });
  });
}

export interface ServingOptions {
  /** What was just done, for the failure message. */
  after?: string;
  /** The local address of the fresh SIP clients (default 127.0.0.1). */
  from?: string;
  /** Nodes that must see each other Up (default: every running node). */
  linked?: readonly number[];
  /** With a service address: the node that must own it (default: any one). */
  owner?: number;
  /** Bound for the links and the service address to settle (default 20 s). */
  settleMs?: number;
}

/** What a started process must be: still running, its pid still there. */
function alive(pid: number, running: boolean): boolean {
  if (!running) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every part of one node that a fresh client uses; what did not answer. */
async function nodeProblems(node: E2eNode, o: ProbeOptions): Promise<string[]> {
  const problems: string[] = [];
  const probes = [...node.sip].map(async ([proto, address]) => {
    const code = await sipOptions(proto as SipProto, address, o);
    if (code !== 200) problems.push(`${node.name} OPTIONS over ${proto}: ${code ?? 'no answer'}`);
  });
  const mi = new MiClient({
    url: node.miUrl,
    timeoutMs: 5000,
    ...(node.miTls === undefined ? {} : { tls: node.miTls }),
  });
  const info = mi
    .call('node_info')
    .then((r) => {
      if ((r as { node_id?: number }).node_id !== node.id) {
        problems.push(`${node.name} MI node_info: ${JSON.stringify(r)}`);
      }
    })
    .catch((err: Error) => problems.push(`${node.name} MI node_info: ${err.message}`))
    .finally(() => mi.close());
  await Promise.all([...probes, info]);
  return problems;
}

/**
 * Asserts that `cluster` still serves (see the module note). Nodes never started are left out;
 * a node started and not running any more is a failure, as is a relay that exited.
 */
export async function expectServing(cluster: Cluster, o: ServingOptions = {}): Promise<void> {
  const problems: string[] = [];
  const started = cluster.nodes.filter((n) => n.proc !== undefined);
  for (const n of started) {
    if (!alive(n.pid, n.running)) problems.push(`${n.name} (pid ${n.pid}) is not running`);
  }
  for (const r of cluster.relays) {
    const running = r.proc.child.exitCode === null && r.proc.child.signalCode === null;
    if (!alive(r.proc.pid, running)) problems.push(`${r.name} (pid ${r.proc.pid}) is not running`);
  }
  const ca = cluster.pki === undefined ? undefined : readFileSync(cluster.pki.ca.certificate);
  const probe: ProbeOptions = {
    ...(o.from === undefined ? {} : { from: o.from }),
    ...(ca === undefined ? {} : { ca }),
  };
  const running = started.filter((n) => n.running);
  for (const p of await Promise.all(running.map((n) => nodeProblems(n, probe)))) {
    problems.push(...p);
  }
  const settleMs = o.settleMs ?? 20_000;
  await cluster
    .waitLinked(o.linked === undefined ? undefined : [...o.linked], settleMs)
    .catch((err: Error) => problems.push(err.message));
  if (cluster.serviceAddress !== undefined) {
    let owners: number[] = [];
    const want = (): boolean =>
      owners.length === 1 && (o.owner === undefined || owners[0] === o.owner);
    await until(
      async () => {
        owners = await activeOwners(cluster);
        return want() || notYet(`owners: ${owners.join(',') || 'none'}`);
      },
      { what: 'one owner of the service address', timeoutMs: settleMs },
    ).catch(() =>
      problems.push(
        `service address owners: ${owners.join(',') || 'none'}${o.owner === undefined ? '' : ` (want ${o.owner})`}`,
      ),
    );
  }
  if (problems.length > 0) {
    const after = o.after === undefined ? '' : ` after ${o.after}`;
    throw new Error(`the cluster does not serve${after}:\n  ${problems.join('\n  ')}`);
  }
}
