import { parseArgs, UsageError } from './args.js';
import { reportError } from './commands/errors.js';
import { eventsCommand } from './commands/events.js';
import { miCommand } from './commands/mi.js';
import { rtpClusterCommand } from './commands/rtp-cluster.js';
import { type CliIo, EXIT_OK, EXIT_USAGE, type Subcommand } from './commands/types.js';
import { didYouMean } from './mi-hints.js';

/** The subcommands `sipedge` knows; other packages' commands (rtp-cluster) are added here. */
export const subcommands: Map<string, Subcommand> = new Map(
  [miCommand, eventsCommand, rtpClusterCommand].map((c) => [c.name, c]),
);

export function usage(): string {
  const width = Math.max(...[...subcommands.keys()].map((n) => n.length));
  return [
    'usage: sipedge [--url URL | --node N] [--token TOKEN] [--json] <command> [args…]',
    '       sipedge --help | --version',
    '',
    'commands:',
    ...[...subcommands.values()].map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    `  ${'help'.padEnd(width)}  show help for a command: sipedge help <command>`,
    '',
    '--node N: node N of the example (npm start): http://127.0.0.1:888N/mi.',
    'Environment: SIPEDGE_MI_URL, SIPEDGE_MI_TOKEN.',
    'Exit codes: 0 ok, 1 command error, 2 usage or connection error.',
  ].join('\n');
}

/** "unknown command" with what was probably meant: a subcommand, or an MI command after `mi`. */
function unknown(name: string): string {
  const close = didYouMean(name, [...subcommands.keys(), 'help']);
  if (close.length > 0) return `unknown command ${name}; did you mean ${close.join(', ')}?`;
  if (/^[a-z][a-z0-9]*_[a-z0-9_]+$/.test(name)) {
    return `unknown command ${name}; MI commands go after mi: sipedge mi ${name}`;
  }
  return `unknown command ${name}`;
}

/**
 * Run `sipedge` with argv (without node and script); resolves with the exit code. `version` is
 * what `--version` prints (the bin reads it from package.json).
 */
export async function main(
  argv: readonly string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = {},
  version = 'unknown',
): Promise<number> {
  try {
    const all = [...subcommands.values()];
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs(argv, env, {
        values: all.flatMap((c) => c.valueOptions ?? []),
        flags: all.flatMap((c) => c.flagOptions ?? []),
      });
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`${err.message}\n\n${usage()}`);
      throw err;
    }
    const { options, words } = parsed;
    if (options.version) {
      io.out(`sipedge ${version}`);
      return EXIT_OK;
    }
    const [name, ...rest] = words;
    if (name === 'help') {
      const target = rest[0] === undefined ? undefined : subcommands.get(rest[0]);
      if (rest[0] !== undefined && target === undefined)
        throw new UsageError(`unknown command ${rest[0]}`);
      io.out(target?.usage ?? usage());
      return EXIT_OK;
    }
    if (name === undefined) {
      if (options.help) {
        io.out(usage());
        return EXIT_OK;
      }
      io.err(usage());
      return EXIT_USAGE;
    }
    const cmd = subcommands.get(name);
    if (cmd === undefined) throw new UsageError(`${unknown(name)}\n\n${usage()}`);
    if (options.help) {
      io.out(cmd.usage);
      return EXIT_OK;
    }
    return await cmd.run(rest, options, io);
  } catch (err) {
    return reportError(err, io);
  }
}
