import { type EventParams, MiClient } from '@sipedge/mi/client';
import { UsageError, wsUrlFor } from '../args.js';
import { reportError } from './errors.js';
import { EXIT_OK, EXIT_USAGE, type Subcommand } from './types.js';

function line(event: string, params: EventParams): string {
  const parts = Object.entries(params).map(
    ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
  );
  return [new Date().toISOString(), event, ...parts].join(' ');
}

export const eventsCommand: Subcommand = {
  name: 'events',
  summary: 'stream events until interrupted: sipedge events <EVENT>…',
  usage: [
    'usage: sipedge events <EVENT>… [--count N]',
    '',
    'Subscribes over WebSocket (the --url with /ws appended, or --ws-url) and prints one line',
    'per event until Ctrl-C, or until N events with --count. --json prints each event as the',
    'JSON-RPC notification. Reconnects and re-subscribes if the server goes away.',
    'Example: sipedge events E_CLUSTERER_NODE_STATE_CHANGED E_CLUSTERER_SHARING_TAG_CHANGED',
  ].join('\n'),
  async run(words, options, io) {
    if (words.length === 0)
      throw new UsageError('which events? (sipedge mi events_list lists them)');
    const url = options.wsUrl ?? wsUrlFor(options.url);
    let seen = 0;
    let lost = false;
    let finish: (() => void) | undefined;
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const client = new MiClient({
      url,
      timeoutMs: options.timeoutMs,
      ...(options.token !== undefined ? { token: options.token } : {}),
      onDisconnect: () => io.err('sipedge: connection lost, reconnecting…'),
      onReconnect: () => io.err('sipedge: reconnected'),
      onReconnectFailed: () => {
        lost = true;
        finish?.();
      },
    });
    const onAbort = (): void => finish?.();
    io.signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (const event of words) {
        await client.subscribe(event, (params) => {
          if (options.count !== undefined && seen >= options.count) return;
          seen++;
          io.out(
            options.json
              ? JSON.stringify({ jsonrpc: '2.0', method: event, params })
              : line(event, params),
          );
          if (options.count !== undefined && seen >= options.count) finish?.();
        });
      }
      io.err(`sipedge: subscribed to ${words.join(', ')}`);
      if (!io.signal.aborted) await done;
      if (lost) {
        io.err('sipedge: connection lost, giving up');
        return EXIT_USAGE;
      }
      return EXIT_OK;
    } catch (err) {
      return reportError(err, io);
    } finally {
      io.signal.removeEventListener('abort', onAbort);
      client.close();
    }
  },
};
