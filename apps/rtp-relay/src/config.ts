/**
 * The relay's command line, in rtpproxy's spirit (`-s -l -6 -m -M -n -T -f -F -A`), read with
 * node:util parseArgs into a frozen config. Everything wrong is reported as one readable message.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { parseNotifySpec } from '@sipedge/rtp-relay';
import { LOOPBACK_SOURCES, parseSocketSpec, parseSourceList } from '@sipedge/rtpp';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every field of `startRelay`'s RelayOptions filled in, and the log level of the bin. */
export interface RelayConfig {
  /** Control socket specs as given to `-s` (validated). */
  readonly control: readonly string[];
  readonly ipv4: string | undefined;
  readonly ipv6: string | undefined;
  readonly advertised: string | undefined;
  readonly portMin: number;
  readonly portMax: number;
  readonly ttl: number;
  readonly notifySockets: readonly string[];
  /** Loopback and every `--allow`. */
  readonly allowedSources: readonly string[];
  readonly maxConnectionsPerSource: number;
  readonly controlIdleTimeoutMs: number;
  /** undefined: 90% of the port range. */
  readonly maxSessionsPerSource: number | undefined;
  readonly logLevel: LogLevel;
  /** `auto`: one coloured line per event when stderr is a terminal, JSON lines elsewhere. */
  readonly logFormat: 'auto' | 'json' | 'pretty';
}

export type CliResult =
  | { readonly kind: 'run'; readonly config: RelayConfig }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'error'; readonly message: string };

export const USAGE = `usage: sipedge-rtp-relay [options]

An rtpproxy-compatible media relay: answers the rtpproxy control protocol and relays RTP/RTCP.

  -s <spec>        control socket, repeatable: udp:host[:port], udp6:[addr][:port],
                   tcp:host[:port], tcp6:[addr][:port], unix:/path, cunix:/path
                   (default udp:127.0.0.1:22222; port 0 picks a free one)
  -l <addr>        IPv4 address for media sockets (default 127.0.0.1)
  -6 <addr>        IPv6 address for media sockets (enables the U/L 6 modifier)
  -A <addr>        address printed in U/L replies instead of -l
  -m <port>        lowest media port (default 35000)
  -M <port>        highest media port (default 65000)
  -T <seconds>     idle session timeout (default 60)
  -n <socket>      notify socket a U may name (unix:/path, /path, tcp:host:port,
                   tcp:%%CC_SELF%%:port), repeatable; without it notify args answer E75
  --allow <cidr>   an address or CIDR block (10.0.0.0/24) udp/tcp commands are taken from,
                   besides loopback, repeatable; others are dropped (unix sockets: file
                   permissions)
  --max-sessions-per-source <n>
                   sessions one command source may hold; over it a U answers E72
                   (default 90% of the -m/-M range; 0 = no cap)
  --max-connections-per-source <n>
                   tcp control connections one source may hold (default 16)
  --control-idle-timeout <s>
                   close a cunix/tcp control connection silent this long (default 120; 0 never)
  -f, -F           accepted for rtpproxy compatibility; the relay always runs in the foreground
  --log-level <l>  fatal, error, warn, info (default), debug, trace, silent
  --log-format <f> auto (default: one line per event on a terminal, JSON otherwise),
                   json or pretty
  -h, --help       this text
  -v, --version    print the version
`;

function port(text: string, flag: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new Error(`${flag} ${text}: expected a port number 1..65535`);
  }
  return Number(text);
}

export function parseRelayArgs(argv: readonly string[]): CliResult {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        control: { type: 'string', short: 's', multiple: true },
        listen: { type: 'string', short: 'l' },
        listen6: { type: 'string', short: '6' },
        advertise: { type: 'string', short: 'A' },
        'min-port': { type: 'string', short: 'm' },
        'max-port': { type: 'string', short: 'M' },
        ttl: { type: 'string', short: 'T' },
        notify: { type: 'string', short: 'n', multiple: true },
        allow: { type: 'string', multiple: true },
        'max-sessions-per-source': { type: 'string' },
        'max-connections-per-source': { type: 'string' },
        'control-idle-timeout': { type: 'string' },
        foreground: { type: 'boolean', short: 'f' },
        'force-F': { type: 'boolean', short: 'F' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }));
  } catch (e) {
    return { kind: 'error', message: (e as Error).message };
  }
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  try {
    const control = (values.control as string[] | undefined) ?? ['udp:127.0.0.1:22222'];
    for (const c of control) parseSocketSpec(c);
    const ipv6 = values.listen6 as string | undefined;
    let ipv4 = values.listen as string | undefined;
    if (ipv4 === undefined && ipv6 === undefined) ipv4 = '127.0.0.1';
    if (ipv4 !== undefined && !net.isIPv4(ipv4))
      throw new Error(`-l ${ipv4}: expected an IPv4 address`);
    if (ipv6 !== undefined && !net.isIPv6(ipv6))
      throw new Error(`-6 ${ipv6}: expected an IPv6 address`);
    const advertised = values.advertise as string | undefined;
    if (advertised !== undefined && net.isIP(advertised) === 0)
      throw new Error(`-A ${advertised}: expected an IP address`);
    const portMin =
      values['min-port'] === undefined ? 35000 : port(values['min-port'] as string, '-m');
    const portMax =
      values['max-port'] === undefined ? 65000 : port(values['max-port'] as string, '-M');
    const first = portMin % 2 === 0 ? portMin : portMin + 1;
    if (first + 1 > portMax)
      throw new Error(`-m ${portMin} -M ${portMax}: the range holds no RTP/RTCP pair`);
    const ttlText = (values.ttl as string | undefined) ?? '60';
    if (!/^\d+$/.test(ttlText) || Number(ttlText) < 1 || Number(ttlText) > 86400) {
      throw new Error(`-T ${ttlText}: expected seconds 1..86400`);
    }
    const notifySockets = (values.notify as string[] | undefined) ?? [];
    for (const n of notifySockets) parseNotifySpec(n);
    const allow = (values.allow as string[] | undefined) ?? [];
    parseSourceList(allow);
    const count = (flag: string, fallback: number | undefined, max: number) => {
      const text = values[flag] as string | undefined;
      if (text === undefined) return fallback;
      if (!/^\d+$/.test(text) || Number(text) > max) {
        throw new Error(`--${flag} ${text}: expected a whole number 0..${max}`);
      }
      return Number(text);
    };
    const maxSessionsPerSource = count('max-sessions-per-source', undefined, 1_000_000);
    const maxConnectionsPerSource = count('max-connections-per-source', 16, 65_535) as number;
    const idleSeconds = count('control-idle-timeout', 120, 86_400) as number;
    const logLevel = (values['log-level'] as string | undefined) ?? 'info';
    if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
      throw new Error(`--log-level ${logLevel}: expected one of ${LOG_LEVELS.join(', ')}`);
    }
    const logFormat = (values['log-format'] as string | undefined) ?? 'auto';
    if (logFormat !== 'auto' && logFormat !== 'json' && logFormat !== 'pretty') {
      throw new Error(`--log-format ${logFormat}: expected auto, json or pretty`);
    }
    return {
      kind: 'run',
      config: Object.freeze({
        control: Object.freeze(control),
        ipv4,
        ipv6,
        advertised,
        portMin,
        portMax,
        ttl: Number(ttlText),
        notifySockets: Object.freeze(notifySockets),
        allowedSources: Object.freeze([...LOOPBACK_SOURCES, ...allow]),
        maxConnectionsPerSource,
        controlIdleTimeoutMs: idleSeconds * 1000,
        maxSessionsPerSource,
        logLevel: logLevel as LogLevel,
        logFormat,
      }),
    };
  } catch (e) {
    return { kind: 'error', message: (e as Error).message };
  }
}
