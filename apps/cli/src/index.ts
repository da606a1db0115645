export {
  DEFAULT_URL,
  type GlobalOptions,
  miParams,
  parseArgs,
  UsageError,
  wsUrlFor,
} from './args.js';
export { main, subcommands, usage } from './cli.js';
export {
  type CliIo,
  EXIT_COMMAND,
  EXIT_OK,
  EXIT_USAGE,
  type Subcommand,
} from './commands/types.js';
export { render, table } from './render.js';
