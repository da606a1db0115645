/**
 * Command-line flags of `rtp-cluster`, those of sippy's rtp_cluster.py
 * (docs/protocols/rtpproxy.md §5.1) plus sipedge's own long options, and the configuration file
 * reader (rtp_cluster.xml, YAML, JSON).
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  parseRtpClusterConfig,
  parseRtpClusterXml,
  type RtpClusterConfig,
} from '@sipedge/rtp-cluster';
import { LOOPBACK_SOURCES, parseSourceList } from '@sipedge/rtpp';
import { parse as parseYaml } from 'yaml';

export interface DaemonOptions {
  readonly foreground: boolean;
  readonly dryRun: boolean;
  readonly pidFile: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly cliSocket: string;
  readonly socketOwner?: { user: string; group?: string };
  /** `host:port` of an MI (JSON-RPC over HTTP) listener, off by default. */
  readonly mi?: string;
  readonly miToken?: string;
  /** SQLite file for the call-id table; `''` keeps it in memory only. */
  readonly stateDb: string;
  readonly logLevel: string;
  /** `auto`: one coloured line per event on a terminal, JSON lines elsewhere. */
  readonly logFormat: 'auto' | 'json' | 'pretty';
  readonly heartbeatMs: number;
  /** Who may send commands to udp/tcp cluster sockets: loopback and every `--allow`. */
  readonly allowedSources: readonly string[];
  /** Calls one command source may hold (undefined: 90% of the members' capacity; 0: none). */
  readonly maxSessionsPerSource: number | undefined;
  readonly maxConnectionsPerSource: number;
  /** cunix/tcp cluster-socket connections silent this long are closed (0: never). */
  readonly controlIdleTimeoutMs: number;
  readonly help: boolean;
  readonly version: boolean;
}

/**
 * Node.js flags the daemon runs with: the bin's `#!` line passes them, the detaching start
 * passes them on to the detached process, and a service manager that starts `node …/bin.js`
 * should pass them too. A 64 MiB semi-space (Node's default is 16 MiB) lets the call table's
 * and reply cache's young objects be collected in a quarter as many scavenges: measured with the
 * bench, young-generation GC work per U+D pair fell from about 17 µs to 4 µs and the balancer's
 * p99 latency with it (BENCHMARKS.md, rtp-cluster). It costs up to ~100 MiB more resident
 * memory under load.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

/** `execArgv` with every DAEMON_NODE_FLAGS flag the caller did not set itself. */
export function daemonNodeArgs(execArgv: readonly string[]): string[] {
  const given = new Set(execArgv.map((a) => a.split('=')[0]));
  return [...execArgv, ...DAEMON_NODE_FLAGS.filter((f) => !given.has(f.split('=')[0]))];
}

export const USAGE = `usage: rtp-cluster [-fd] [-P pidfile] [-c conffile] [-L logfile] [-s cli_socket] [-o user[:group]]
                   [--mi host:port] [--mi-token TOKEN] [--state-db FILE] [--log-level LEVEL]
                   [--log-format auto|json|pretty]

  -f            stay in the foreground (default: detach, log to the logfile)
  -d            dry run: read and check the configuration, then exit (implies -f)
  -P pidfile    default /var/run/rtp_cluster.pid
  -c conffile   rtp_cluster.xml, or a .yaml/.yml/.json file of the same shape
                (default /usr/local/etc/rtp_cluster.xml)
  -L logfile    default /var/log/rtp_cluster.log (used when detached; SIGUSR1 reopens it)
  -s socket     admin CLI socket, unix:/path or a path (default /var/run/rtp_cluster.sock)
  -o user:group owner of the admin socket and unix cluster sockets
  --mi host:port       also serve MI (JSON-RPC 2.0 over HTTP) there
  --mi-token TOKEN     bearer token the MI listener requires (needed off loopback)
  --state-db FILE      SQLite file keeping the call-id table across restarts
                       (default: <pidfile directory>/rtp_cluster.state.sqlite; '' = memory only)
  --log-level LEVEL    trace, debug, info, warn, error (default info)
  --log-format FORMAT  auto (default: one line per event on a terminal, JSON otherwise),
                       json or pretty (the logfile of a detached daemon is always JSON)
  --heartbeat MS       member heartbeat interval (default 1000)
  --allow CIDR         an address or CIDR block udp/tcp cluster sockets take commands from,
                       besides loopback; repeatable (unix sockets: file permissions)
  --max-sessions-per-source N
                       calls one command source may hold; over it a new session is E72
                       (default 90% of the members' summed capacity; 0 = no cap)
  --max-connections-per-source N
                       tcp connections one source may hold on a cluster socket (default 16)
  --control-idle-timeout S
                       close a cunix/tcp cluster-socket connection silent this long
                       (default 120; 0 = never)
  -h, --help    this text
  -V, --version print the version
`;

export class UsageError extends Error {}

export function parseDaemonArgs(argv: readonly string[]): DaemonOptions {
  let values: ReturnType<typeof parse>['values'];
  try {
    values = parse(argv).values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const pidFile = values.P ?? '/var/run/rtp_cluster.pid';
  let owner: DaemonOptions['socketOwner'];
  if (values.o !== undefined) {
    const [user, group] = values.o.split(':');
    if (user === undefined || user === '') throw new UsageError(`-o: expected user[:group]`);
    owner = group === undefined ? { user } : { user, group };
  }
  const heartbeatMs = Number(values.heartbeat ?? '1000');
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 50 || heartbeatMs > 60_000) {
    throw new UsageError(`--heartbeat: expected milliseconds between 50 and 60000`);
  }
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
  const logLevel = values['log-level'] ?? 'info';
  if (!levels.includes(logLevel)) throw new UsageError(`--log-level: one of ${levels.join(', ')}`);
  const logFormat = values['log-format'] ?? 'auto';
  if (logFormat !== 'auto' && logFormat !== 'json' && logFormat !== 'pretty') {
    throw new UsageError('--log-format: one of auto, json, pretty');
  }
  const cliSocket = (values.s ?? '/var/run/rtp_cluster.sock').replace(/^unix:/, '');
  const allow = values.allow ?? [];
  try {
    parseSourceList(allow);
  } catch (err) {
    throw new UsageError(`--allow: ${(err as Error).message}`);
  }
  const count = (flag: string, text: string | undefined, max: number): number | undefined => {
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text) || Number(text) > max) {
      throw new UsageError(`--${flag}: expected a whole number 0..${max}`);
    }
    return Number(text);
  };
  const stateDb = values['state-db'] ?? `${pidFile.replace(/[^/]*$/, '')}rtp_cluster.state.sqlite`;
  return {
    foreground: values.f === true || values.d === true,
    dryRun: values.d === true,
    pidFile,
    configFile: values.c ?? '/usr/local/etc/rtp_cluster.xml',
    logFile: values.L ?? '/var/log/rtp_cluster.log',
    cliSocket,
    ...(owner === undefined ? {} : { socketOwner: owner }),
    ...(values.mi === undefined ? {} : { mi: values.mi }),
    ...(values['mi-token'] === undefined ? {} : { miToken: values['mi-token'] }),
    stateDb,
    logLevel,
    logFormat,
    heartbeatMs,
    allowedSources: [...LOOPBACK_SOURCES, ...allow],
    maxSessionsPerSource: count(
      'max-sessions-per-source',
      values['max-sessions-per-source'],
      10_000_000,
    ),
    maxConnectionsPerSource:
      count('max-connections-per-source', values['max-connections-per-source'], 65_535) ?? 16,
    controlIdleTimeoutMs:
      (count('control-idle-timeout', values['control-idle-timeout'], 86_400) ?? 120) * 1000,
    help: values.h === true || values.help === true,
    version: values.V === true || values.version === true,
  };
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      f: { type: 'boolean' },
      d: { type: 'boolean' },
      P: { type: 'string' },
      c: { type: 'string' },
      L: { type: 'string' },
      s: { type: 'string' },
      o: { type: 'string' },
      mi: { type: 'string' },
      'mi-token': { type: 'string' },
      'state-db': { type: 'string' },
      'log-level': { type: 'string' },
      'log-format': { type: 'string' },
      heartbeat: { type: 'string' },
      allow: { type: 'string', multiple: true },
      'max-sessions-per-source': { type: 'string' },
      'max-connections-per-source': { type: 'string' },
      'control-idle-timeout': { type: 'string' },
      h: { type: 'boolean' },
      help: { type: 'boolean' },
      V: { type: 'boolean' },
      version: { type: 'boolean' },
    },
  });
}

/** Reads and validates a configuration file; errors name the file and the element. */
export function readConfigFile(path: string): RtpClusterConfig {
  const text = readFileSync(path, 'utf8');
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return parseRtpClusterConfig(parseYaml(text));
  if (ext === '.json') return parseRtpClusterConfig(JSON.parse(text));
  return parseRtpClusterXml(text);
}
