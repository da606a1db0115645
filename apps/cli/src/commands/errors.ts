import { MiError, MiRpcError } from '@sipedge/mi/client';
import { UsageError } from '../args.js';
import { type CliIo, EXIT_COMMAND, EXIT_USAGE } from './types.js';

/** Print an error the way scripts and people both can read, and return its exit code. */
export function reportError(err: unknown, io: CliIo, json = false): number {
  if (err instanceof MiRpcError) {
    if (json) {
      const e: Record<string, unknown> = { code: err.rpcCode, message: err.message };
      if (err.data !== undefined) e.data = err.data;
      io.out(JSON.stringify({ error: e }));
    }
    const data =
      err.data === undefined
        ? ''
        : ` (${typeof err.data === 'string' ? err.data : JSON.stringify(err.data)})`;
    io.err(`error ${err.rpcCode}: ${err.message}${data}`);
    return EXIT_COMMAND;
  }
  if (err instanceof UsageError) {
    io.err(`sipedge: ${err.message}`);
    return EXIT_USAGE;
  }
  if (err instanceof MiError) {
    io.err(`sipedge: ${err.message}`);
    return EXIT_USAGE;
  }
  io.err(`sipedge: ${err instanceof Error ? err.message : String(err)}`);
  return EXIT_USAGE;
}
