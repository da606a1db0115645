import type { GlobalOptions } from '../args.js';

/** Where a subcommand writes, and the signal that ends long-running ones (Ctrl-C). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  signal: AbortSignal;
}

/** A `sipedge <name> …` subcommand; returns the exit code. */
export interface Subcommand {
  name: string;
  /** One line for the top-level help. */
  summary: string;
  /** The usage text for `sipedge <name> --help`. */
  usage: string;
  /** Options of its own that take a value (`--socket`); they land in `options.extra`. */
  valueOptions?: readonly string[];
  /** Flag options of its own (`--force`). */
  flagOptions?: readonly string[];
  run(words: string[], options: GlobalOptions, io: CliIo): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_COMMAND = 1;
export const EXIT_USAGE = 2;
