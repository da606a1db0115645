/**
 * Control socket specs as rtpproxy's `-s` option and the SIP proxies' `rtpproxy_sock` write them
 * (docs/protocols/rtpproxy.md §1.1): `udp:host[:port]`, `udp6:host[:port]`, `unix:/path`,
 * `cunix:/path`, `tcp:host[:port]`, `tcp6:host[:port]`. A bare path is `unix:` (rtpproxy's default
 * type).
 */
import { isIP } from 'node:net';
import { RtppArgumentError } from '../errors.js';

/** rtpproxy's default control port (`CPORT`). */
export const RTPP_DEFAULT_PORT = 22222;

export type RtppInetTransport = 'udp' | 'udp6' | 'tcp' | 'tcp6';
export type RtppLocalTransport = 'unix' | 'cunix';
export type RtppTransport = RtppInetTransport | RtppLocalTransport;

export interface RtppInetSocketSpec {
  readonly transport: RtppInetTransport;
  /** Address or host name; `*` in the spec becomes `0.0.0.0` or `::`. */
  readonly host: string;
  readonly port: number;
}

export interface RtppLocalSocketSpec {
  readonly transport: RtppLocalTransport;
  readonly path: string;
}

export type RtppSocketSpec = RtppInetSocketSpec | RtppLocalSocketSpec;

const TRANSPORTS = new Set<string>(['udp', 'udp6', 'tcp', 'tcp6', 'unix', 'cunix']);

/** unix/cunix specs (a path) as opposed to udp/tcp ones (host and port). */
export function isLocalSocketSpec(spec: RtppSocketSpec): spec is RtppLocalSocketSpec {
  return spec.transport === 'unix' || spec.transport === 'cunix';
}

/** Datagram transports carry cookies and use the retransmit cache. */
export function isDatagramTransport(t: RtppTransport): t is 'udp' | 'udp6' {
  return t === 'udp' || t === 'udp6';
}

function bad(spec: string, why: string): RtppArgumentError {
  return new RtppArgumentError(`bad rtpproxy socket "${spec}": ${why}`);
}

function parsePort(text: string, spec: string): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw bad(spec, `port "${text}" is not a number`);
  const port = Number(text);
  if (port > 65535) throw bad(spec, `port ${port} out of range`);
  return port;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/;

function checkHost(host: string, v6: boolean, spec: string): string {
  if (host === '*') return v6 ? '::' : '0.0.0.0';
  if (host === '') throw bad(spec, 'missing host');
  const family = isIP(host);
  if (family === 4 && v6) throw bad(spec, `${host} is an IPv4 address on an IPv6 socket`);
  if (family === 6 && !v6) throw bad(spec, `${host} is an IPv6 address; use udp6:/tcp6:`);
  if (family === 0 && !HOSTNAME.test(host)) throw bad(spec, `"${host}" is not a host`);
  return host;
}

/**
 * Parses a socket spec. IPv6 hosts may be bracketed (`udp6:[::1]:22222`); unbracketed, a last
 * `:digits` group is read as the port when what precedes it is an IPv6 address (Kamailio's
 * reading of `udp6:::1:22222`). Throws RtppArgumentError for anything else.
 */
export function parseSocketSpec(spec: string): RtppSocketSpec {
  if (typeof spec !== 'string' || spec.length === 0) throw bad(String(spec), 'empty');
  if (/[\s\0]/.test(spec)) throw bad(spec, 'contains blanks or NUL');
  const colon = spec.indexOf(':');
  if (colon < 0 || spec.startsWith('/')) {
    if (!spec.startsWith('/') && !spec.startsWith('.')) throw bad(spec, 'missing transport prefix');
    return { transport: 'unix', path: spec };
  }
  const prefix = spec.slice(0, colon).toLowerCase();
  const rest = spec.slice(colon + 1);
  if (!TRANSPORTS.has(prefix)) throw bad(spec, `unknown transport "${prefix}"`);
  if (prefix === 'unix' || prefix === 'cunix') {
    if (rest === '') throw bad(spec, 'missing path');
    return { transport: prefix, path: rest };
  }
  const transport = prefix as RtppInetTransport;
  const v6 = transport === 'udp6' || transport === 'tcp6';
  let host: string;
  let port = RTPP_DEFAULT_PORT;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad(spec, 'unterminated [');
    host = rest.slice(1, close);
    if (isIP(host) !== 6) throw bad(spec, `"${host}" is not an IPv6 address`);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad(spec, `unexpected "${after}"`);
      port = parsePort(after.slice(1), spec);
    }
  } else if (v6 && rest.indexOf(':') !== rest.lastIndexOf(':')) {
    const last = rest.lastIndexOf(':');
    const head = rest.slice(0, last);
    const tail = rest.slice(last + 1);
    if (/^[0-9]{1,5}$/.test(tail) && isIP(head) === 6) {
      host = head;
      port = parsePort(tail, spec);
    } else {
      host = rest;
    }
  } else {
    const last = rest.lastIndexOf(':');
    if (last !== rest.indexOf(':')) throw bad(spec, 'an IPv6 address needs udp6:/tcp6:');
    if (last >= 0) {
      host = rest.slice(0, last);
      port = parsePort(rest.slice(last + 1), spec);
    } else {
      host = rest;
    }
  }
  return { transport, host: checkHost(host, v6, spec), port };
}

/** The spec back as text, IPv6 hosts bracketed. */
export function formatSocketSpec(spec: RtppSocketSpec): string {
  if (isLocalSocketSpec(spec)) {
    return `${spec.transport}:${spec.path}`;
  }
  const host = spec.host.indexOf(':') >= 0 ? `[${spec.host}]` : spec.host;
  return `${spec.transport}:${host}:${spec.port}`;
}
