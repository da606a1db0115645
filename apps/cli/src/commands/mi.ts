import { MiClient } from '@sipedge/mi/client';
import { miParams, UsageError } from '../args.js';
import { render } from '../render.js';
import { reportError } from './errors.js';
import { EXIT_OK, type Subcommand } from './types.js';

export const miCommand: Subcommand = {
  name: 'mi',
  summary: 'call an MI command: sipedge mi <command> [params…]',
  usage: [
    'usage: sipedge mi <command> [param…]          positional params',
    '       sipedge mi <command> name=value…        named params',
    '',
    'Values starting with [ or { are sent as JSON; others as strings.',
    'Examples:',
    '  sipedge mi which',
    '  sipedge mi get_statistics all',
    '  sipedge mi sr_get_status group=clusterer identifier=all',
    '  sipedge mi clusterer_set_status 1 2 0',
    '',
    'Options: --url URL (default http://127.0.0.1:8888/mi; ws:// works too), --token TOKEN,',
    '         --json (raw JSON result; a command error prints {"error":{…}} and exits 1),',
    '         --timeout MS',
    'Exit codes: 0 ok, 1 the command returned an error, 2 usage or connection error.',
  ].join('\n'),
  async run(words, options, io) {
    const [method, ...rest] = words;
    if (method === undefined)
      throw new UsageError('which MI command? (sipedge mi which lists them)');
    const params = miParams(rest);
    const client = new MiClient({
      url: options.url,
      timeoutMs: options.timeoutMs,
      ...(options.token !== undefined ? { token: options.token } : {}),
    });
    try {
      const result = await client.call(method, params);
      io.out(options.json ? JSON.stringify(result) : render(result));
      return EXIT_OK;
    } catch (err) {
      return reportError(err, io, options.json);
    } finally {
      client.close();
    }
  },
};
