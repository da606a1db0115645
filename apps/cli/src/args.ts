/** A command-line usage mistake: printed with the usage text, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface GlobalOptions {
  url: string;
  /** Where `url` came from: a flag (`--url`, `--node`), `SIPEDGE_MI_URL`, or the default. */
  urlFrom: 'flag' | 'env' | 'default';
  wsUrl?: string;
  token?: string;
  json: boolean;
  help: boolean;
  version: boolean;
  timeoutMs: number;
  count?: number;
  /** Options a subcommand declared (`--socket PATH` → `{"--socket": "PATH"}`, flags → true). */
  extra: Record<string, string | true>;
}

/** Options beyond the global ones that subcommands accept. */
export interface ExtraOptions {
  values?: readonly string[];
  flags?: readonly string[];
}

export interface ParsedArgs {
  options: GlobalOptions;
  /** Positional words: the subcommand and its arguments. */
  words: string[];
}

export const DEFAULT_URL = 'http://127.0.0.1:8888/mi';

/** The MI URL of node N of the three-node example (`examples/three-nodes`): port 8880 + N. */
export function demoNodeUrl(n: number): string {
  return `http://127.0.0.1:${8880 + n}/mi`;
}

const VALUE_OPTIONS = new Set(['--url', '--node', '--ws-url', '--token', '--timeout', '--count']);

/**
 * Split argv into options (anywhere before `--`) and words. Options: --url, --node <n> (the
 * example's node n), --ws-url, --token, --json, --timeout <ms>, --count <n>, --help/-h,
 * --version/-V, and opensips-cli's -x (accepted, changes nothing); `--opt=value` works too.
 * Environment SIPEDGE_MI_URL and SIPEDGE_MI_TOKEN give defaults.
 */
export function parseArgs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  extra: ExtraOptions = {},
): ParsedArgs {
  const fromEnv = env.SIPEDGE_MI_URL !== undefined && env.SIPEDGE_MI_URL !== '';
  const options: GlobalOptions = {
    url: fromEnv ? (env.SIPEDGE_MI_URL as string) : DEFAULT_URL,
    urlFrom: fromEnv ? 'env' : 'default',
    json: false,
    help: false,
    version: false,
    timeoutMs: 10_000,
    extra: {},
  };
  const extraValues = new Set(extra.values ?? []);
  const extraFlags = new Set(extra.flags ?? []);
  if (env.SIPEDGE_MI_TOKEN !== undefined && env.SIPEDGE_MI_TOKEN !== '')
    options.token = env.SIPEDGE_MI_TOKEN;
  const words: string[] = [];
  let rest = false;
  let urlFlag: '--url' | '--node' | undefined;
  const setUrl = (flag: '--url' | '--node', url: string): void => {
    if (urlFlag !== undefined && urlFlag !== flag) {
      throw new UsageError('give --url or --node, not both');
    }
    urlFlag = flag;
    options.url = url;
    options.urlFrom = 'flag';
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (rest || !arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) {
      words.push(arg);
      continue;
    }
    if (arg === '--') {
      rest = true;
      continue;
    }
    if (arg === '--help' || arg === '-h') {
      options.help = true;
      continue;
    }
    if (arg === '--version' || arg === '-V') {
      options.version = true;
      continue;
    }
    if (arg === '--json') {
      options.json = true;
      continue;
    }
    // opensips-cli -x "execute this command": what sipedge always does
    if (arg === '-x') continue;
    if (extraFlags.has(arg)) {
      options.extra[arg] = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_OPTIONS.has(name) && !extraValues.has(name)) {
      throw new UsageError(`unknown option ${name}`);
    }
    let value: string | undefined;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    if (extraValues.has(name)) {
      options.extra[name] = value;
      continue;
    }
    switch (name) {
      case '--url':
        setUrl('--url', value);
        break;
      case '--node': {
        if (!/^[1-9]$/.test(value)) {
          throw new UsageError(`--node needs the example's node number 1-9 (got ${value})`);
        }
        setUrl('--node', demoNodeUrl(Number(value)));
        break;
      }
      case '--ws-url':
        options.wsUrl = value;
        break;
      case '--token':
        options.token = value;
        break;
      case '--timeout':
      case '--count': {
        const n = Number(value);
        if (!Number.isInteger(n) || n <= 0)
          throw new UsageError(`${name} needs a positive integer`);
        if (name === '--timeout') options.timeoutMs = n;
        else options.count = n;
        break;
      }
    }
  }
  return { options, words };
}

const NAMED_RE = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

function value(text: string): unknown {
  const t = text.trim();
  if (t.startsWith('[') || t.startsWith('{')) {
    try {
      return JSON.parse(t);
    } catch {
      throw new UsageError(`cannot parse ${text} as JSON`);
    }
  }
  return text;
}

/**
 * MI params from words: all `name=value` → named; none → positional; a mix is a usage error.
 * Values starting with `[` or `{` are parsed as JSON; everything else stays a string (the server
 * converts numeric strings for int params, as OpenSIPS does).
 */
export function miParams(
  words: readonly string[],
): unknown[] | Record<string, unknown> | undefined {
  if (words.length === 0) return undefined;
  const named = words.map((w) => NAMED_RE.exec(w));
  if (named.every((m) => m !== null)) {
    const out: Record<string, unknown> = {};
    for (const m of named) {
      if (m![1]! in out) throw new UsageError(`parameter ${m![1]} given twice`);
      out[m![1]!] = value(m![2]!);
    }
    return out;
  }
  if (named.some((m) => m !== null)) {
    throw new UsageError('mix of positional and name=value parameters; use one form');
  }
  return words.map(value);
}

/** The WebSocket URL next to an HTTP MI URL: http://h:p/mi → ws://h:p/mi/ws. */
export function wsUrlFor(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`bad URL ${url}`);
  }
  if (u.protocol === 'ws:' || u.protocol === 'wss:') return u.href;
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`bad URL ${url}`);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/ws`;
  return u.href;
}
