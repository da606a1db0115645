/**
 * rtpproxy control sockets for the relay (digest §1.1–§1.3): `udp:`/`udp6:` with cookies and a
 * retransmit cache, `unix:` one command per connection, `cunix:`/`tcp:`/`tcp6:` newline-framed
 * and persistent. Parsing and reply text come from @sipedge/rtpp's codec.
 *
 * This is a stand-in for @sipedge/rtpp's RtppServer, which had not landed when the relay was
 * written; it keeps to the same shape (`sockets` + a `handler(cmd, ctx)`), so swapping is local.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import {
  MAX_COMMAND_LENGTH,
  parseCommand,
  type RtppCommand,
  type RtppReply,
  serializeReply,
} from '@sipedge/rtpp';
import { type Logger, silentLogger } from '../engine/logger.js';

export const DEFAULT_CONTROL_PORT = 22222;

export interface NetControlSpec {
  readonly kind: 'udp' | 'udp6' | 'tcp' | 'tcp6';
  readonly host: string;
  readonly port: number;
}
export interface PathControlSpec {
  readonly kind: 'unix' | 'cunix';
  readonly path: string;
}
export type ControlSpec = NetControlSpec | PathControlSpec;

export function isPathSpec(s: ControlSpec): s is PathControlSpec {
  return 'path' in s;
}

/** Parses `-s` values: `udp:host[:port]`, `udp6:[v6][:port]`, `tcp:…`, `tcp6:…`, `unix:/p`, `cunix:/p`, `/p`. */
export function parseControlSpec(spec: string): ControlSpec {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? 'unix' : spec.slice(0, colon);
  const rest = colon < 0 ? spec : spec.slice(colon + 1);
  if (kind === 'unix' || kind === 'cunix') {
    if (rest.length === 0) throw new Error(`control socket "${spec}": empty path`);
    return { kind, path: rest };
  }
  if (kind === 'udp' || kind === 'udp6' || kind === 'tcp' || kind === 'tcp6') {
    let host: string;
    let portText: string | undefined;
    if (rest.startsWith('[')) {
      const close = rest.indexOf(']');
      if (close < 0) throw new Error(`control socket "${spec}": missing ]`);
      host = rest.slice(1, close);
      const after = rest.slice(close + 1);
      if (after.length > 0) {
        if (!after.startsWith(':')) throw new Error(`control socket "${spec}": bad port`);
        portText = after.slice(1);
      }
    } else if (kind.endsWith('6') && rest.split(':').length > 2) {
      host = rest; // bare IPv6 literal without a port
    } else {
      const c = rest.lastIndexOf(':');
      host = c < 0 ? rest : rest.slice(0, c);
      portText = c < 0 ? undefined : rest.slice(c + 1);
    }
    if (host === '*' || host === '') host = kind.endsWith('6') ? '::' : '0.0.0.0';
    const port = portText === undefined ? DEFAULT_CONTROL_PORT : Number(portText);
    if (!/^\d+$/.test(portText ?? '0') || !Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`control socket "${spec}": bad port`);
    }
    const v6 = kind.endsWith('6');
    if (v6 ? !net.isIPv6(host) : !net.isIPv4(host)) {
      throw new Error(`control socket "${spec}": ${host} is not an IPv${v6 ? 6 : 4} address`);
    }
    return { kind, host, port };
  }
  throw new Error(
    `control socket "${spec}": unknown type "${kind}" (udp, udp6, tcp, tcp6, unix, cunix)`,
  );
}

export function formatControlSpec(s: ControlSpec): string {
  if (isPathSpec(s)) return `${s.kind}:${s.path}`;
  return s.host.includes(':') ? `${s.kind}:[${s.host}]:${s.port}` : `${s.kind}:${s.host}:${s.port}`;
}

export interface ControlContext {
  /** Sender IP for udp/tcp sockets; absent for unix sockets. */
  readonly remoteAddress?: string;
  readonly transport: ControlSpec['kind'];
}

export type ControlHandler = (
  cmd: RtppCommand,
  ctx: ControlContext,
) => Promise<RtppReply> | RtppReply;

export interface ControlServerOptions {
  readonly sockets: readonly ControlSpec[];
  readonly handler: ControlHandler;
  readonly logger?: Logger;
  /** How long a UDP reply is kept for retransmits (ms), default 30 s. */
  readonly cacheMs?: number;
  /** Most cached UDP replies, default 16384. */
  readonly cacheSize?: number;
  /** Most simultaneous stream connections per socket, default 100 (as rtpproxy). */
  readonly maxConnections?: number;
}

interface Bound {
  readonly spec: ControlSpec;
  close(): Promise<void>;
}

const BLANK = /[ \t\r\n]/;

/** Splits the cookie from a UDP datagram: [cookie, rest] or undefined when there is no token. */
function splitCookie(text: string): [string, string] | undefined {
  let i = 0;
  while (i < text.length && BLANK.test(text[i]!)) i++;
  if (i === text.length) return undefined;
  let j = i;
  while (j < text.length && !BLANK.test(text[j]!)) j++;
  return [text.slice(i, j), text.slice(j)];
}

export class ControlServer {
  readonly #opts: ControlServerOptions;
  readonly #log: Logger;
  readonly #bound: Bound[] = [];
  /** UDP retransmit cache: `addr|port|cookie` → reply (undefined while being executed). */
  readonly #cache = new Map<string, { reply: string | undefined; at: number }>();
  #started = false;
  #closed = false;
  /** Commands answered (all sockets), duplicates answered from the cache, malformed inputs. */
  readonly counters = { commands: 0, duplicates: 0, errors: 0, dropped: 0 };

  constructor(options: ControlServerOptions) {
    this.#opts = options;
    this.#log = options.logger ?? silentLogger;
  }

  /** Binds every socket; resolves with their specs as bound (real ports when 0 was asked). */
  async start(): Promise<ControlSpec[]> {
    if (this.#started) return this.addresses();
    this.#started = true;
    try {
      for (const spec of this.#opts.sockets) this.#bound.push(await this.#bind(spec));
    } catch (e) {
      await this.stop();
      throw e;
    }
    return this.addresses();
  }

  addresses(): ControlSpec[] {
    return this.#bound.map((b) => b.spec);
  }

  async stop(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#bound.map((b) => b.close()));
    this.#bound.length = 0;
    this.#cache.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  async #run(text: string, ctx: ControlContext, cookie?: string): Promise<string> {
    this.counters.commands++;
    this.#log.debug(
      {
        event: 'command',
        transport: ctx.transport,
        from: ctx.remoteAddress,
        cookie,
        command: text.trim(),
      },
      'command received',
    );
    const parsed = parseCommand(text);
    if (!parsed.ok) {
      this.counters.errors++;
      this.#log.debug({ reason: parsed.error.reason, code: parsed.error.code }, 'bad command');
      return `E${parsed.error.code}\n`;
    }
    try {
      return serializeReply(await this.#opts.handler(parsed.command, ctx));
    } catch (e) {
      this.counters.errors++;
      this.#log.error({ err: (e as Error).message }, 'handler failed');
      return 'E89\n';
    }
  }

  #bind(spec: ControlSpec): Promise<Bound> {
    if (!isPathSpec(spec) && (spec.kind === 'udp' || spec.kind === 'udp6'))
      return this.#bindUdp(spec);
    return this.#bindStream(spec);
  }

  #bindUdp(spec: NetControlSpec): Promise<Bound> {
    const cacheMs = this.#opts.cacheMs ?? 30_000;
    const cacheSize = this.#opts.cacheSize ?? 16_384;
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({
        type: spec.kind === 'udp6' ? 'udp6' : 'udp4',
        ipv6Only: spec.kind === 'udp6',
      });
      sock.once('error', reject);
      sock.on('message', (msg, rinfo) => {
        if (msg.length > MAX_COMMAND_LENGTH) {
          this.counters.dropped++;
          return;
        }
        const split = splitCookie(msg.toString('latin1'));
        if (split === undefined) {
          this.counters.dropped++;
          return;
        }
        const [cookie, rest] = split;
        const key = `${rinfo.address}|${rinfo.port}|${cookie}`;
        const now = performance.now();
        const hit = this.#cache.get(key);
        if (hit !== undefined && now - hit.at < cacheMs) {
          this.counters.duplicates++;
          if (hit.reply !== undefined)
            sock.send(Buffer.from(hit.reply, 'latin1'), rinfo.port, rinfo.address);
          return; // still executing: the first answer will go out
        }
        // evict expired and, past the bound, the oldest entries (Map keeps insertion order)
        for (const [k, v] of this.#cache) {
          if (this.#cache.size < cacheSize && now - v.at < cacheMs) break;
          this.#cache.delete(k);
        }
        const entry: { reply: string | undefined; at: number } = { reply: undefined, at: now };
        this.#cache.set(key, entry);
        void this.#run(rest, { remoteAddress: rinfo.address, transport: spec.kind }, cookie).then(
          (body) => {
            const out = `${cookie} ${body}`;
            entry.reply = out;
            if (!this.#closed) sock.send(Buffer.from(out, 'latin1'), rinfo.port, rinfo.address);
          },
        );
      });
      sock.bind(spec.port, spec.host, () => {
        sock.off('error', reject);
        sock.on('error', (e) => this.#log.warn({ err: e.message }, 'control socket error'));
        const port = sock.address().port;
        resolve({
          spec: { ...spec, port },
          close: () => new Promise<void>((r) => sock.close(() => r())),
        });
      });
    });
  }

  #bindStream(spec: ControlSpec): Promise<Bound> {
    const oneShot = spec.kind === 'unix';
    const maxConn = this.#opts.maxConnections ?? 100;
    const conns = new Set<net.Socket>();
    const server = net.createServer((c) => {
      if (conns.size >= maxConn) {
        this.counters.dropped++;
        c.destroy();
        return;
      }
      conns.add(c);
      c.on('close', () => conns.delete(c));
      c.on('error', () => {});
      const ctx: ControlContext =
        c.remoteAddress === undefined || isPathSpec(spec)
          ? { transport: spec.kind }
          : { remoteAddress: c.remoteAddress, transport: spec.kind };
      if (oneShot) {
        // unix: one read = one command, with or without newline; reply, then close
        c.once('data', (d) => {
          const text = d.toString('latin1');
          const nl = text.indexOf('\n');
          void this.#run(nl < 0 ? text : text.slice(0, nl), ctx).then((body) =>
            c.end(body, 'latin1'),
          );
        });
        return;
      }
      let buf = '';
      let chain: Promise<unknown> = Promise.resolve();
      c.on('data', (d) => {
        buf += d.toString('latin1');
        for (let guard = 0; guard < 10_000; guard++) {
          const nl = buf.indexOf('\n');
          if (nl < 0) break;
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim().length === 0) continue;
          // replies go out in command order
          chain = chain
            .then(() => this.#run(line, ctx))
            .then((body) => {
              if (!c.destroyed) c.write(body, 'latin1');
            });
        }
        if (buf.length > MAX_COMMAND_LENGTH) {
          this.counters.dropped++;
          c.destroy();
        }
      });
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => {
        server.off('error', reject);
        const addr = server.address();
        const bound: ControlSpec = isPathSpec(spec)
          ? spec
          : { ...spec, port: typeof addr === 'object' && addr !== null ? addr.port : spec.port };
        resolve({
          spec: bound,
          close: () =>
            new Promise<void>((r) => {
              for (const c of conns) c.destroy();
              server.close(() => r());
            }),
        });
      };
      if (isPathSpec(spec)) {
        // a stale socket file from a previous run would make listen fail with EADDRINUSE
        try {
          if (fs.statSync(spec.path).isSocket()) fs.unlinkSync(spec.path);
        } catch {}
        server.listen(spec.path, done);
      } else {
        server.listen({ host: spec.host, port: spec.port, ipv6Only: spec.kind === 'tcp6' }, done);
      }
    });
  }
}
