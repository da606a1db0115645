import { MiClient, type MiParams, MiRpcError, MiTransportError } from '@sipedge/mi/client';
import { type GlobalOptions, miParams, UsageError } from '../args.js';
import {
  type CommandHelp,
  commandHelp,
  didYouMean,
  packPositional,
  usageLines,
} from '../mi-hints.js';
import { render } from '../render.js';
import { reportError } from './errors.js';
import { EXIT_OK, type Subcommand } from './types.js';

const INVALID_PARAMS = -32602;
const METHOD_NOT_FOUND = -32601;
const NAMED_ONLY = 'Command only supports named parameters';

/** The command's `help` (recipes and params schema), or undefined when the server gives none. */
async function helpOf(client: MiClient, method: string): Promise<CommandHelp | undefined> {
  try {
    return commandHelp(method, await client.call('help', { mi_cmd: method }));
  } catch {
    return undefined;
  }
}

/**
 * Calls `method`; when positional words do not fit its parameters and the last one takes an
 * array, sends the extra words as that array (opensips-cli's `get_statistics usrloc: mi:`).
 * A params error means nothing ran, so the second call is safe.
 */
async function call(client: MiClient, method: string, params: MiParams | undefined) {
  try {
    return await client.call(method, params);
  } catch (err) {
    const positional = Array.isArray(params) && params.length > 1;
    if (!(err instanceof MiRpcError && err.rpcCode === INVALID_PARAMS && positional)) throw err;
    const help = await helpOf(client, method);
    const packed = help === undefined ? undefined : packPositional(params, help);
    if (packed === undefined) throw err;
    return client.call(method, packed);
  }
}

/** What to print after an error so that the next try works: usage, "did you mean", a URL. */
async function hints(
  client: MiClient,
  method: string,
  err: unknown,
  options: GlobalOptions,
): Promise<string[]> {
  if (err instanceof MiRpcError && err.rpcCode === METHOD_NOT_FOUND) {
    let names: string[] = [];
    try {
      const which = await client.call('which');
      if (Array.isArray(which)) names = which.filter((n): n is string => typeof n === 'string');
    } catch {}
    const close = didYouMean(method, names);
    return close.length === 0
      ? [`no MI command ${method} here; sipedge mi which lists them`]
      : [`no MI command ${method} here; did you mean ${close.join(', ')}?`];
  }
  if (err instanceof MiRpcError && err.rpcCode === INVALID_PARAMS) {
    const help = await helpOf(client, method);
    if (help === undefined) return [];
    return ['expected:', ...usageLines(help, err.data === NAMED_ONLY).map((l) => `  ${l}`)];
  }
  if (err instanceof MiTransportError && options.urlFrom === 'default') {
    return [
      'no URL was given: --url URL, SIPEDGE_MI_URL, or --node N for node N of the example',
      '(npm start: nodes 1-3 at http://127.0.0.1:8881/mi … 8883)',
    ];
  }
  return [];
}

export const miCommand: Subcommand = {
  name: 'mi',
  summary: 'call an MI command: sipedge mi <command> [params…]',
  usage: [
    'usage: sipedge mi <command> [param…]          positional params',
    '       sipedge mi <command> name=value…        named params',
    '',
    'Values starting with [ or { are sent as JSON; others as strings. Words past the last',
    'parameter go into it when it takes a list (sipedge mi get_statistics usrloc: mi:).',
    'Examples:',
    '  sipedge mi which',
    '  sipedge --node 1 mi get_statistics usrloc: mi:',
    '  sipedge mi sr_get_status group=clusterer identifier=all',
    '  sipedge mi clusterer_set_status 1 2 0',
    '',
    'Options: --url URL (default http://127.0.0.1:8888/mi or SIPEDGE_MI_URL; ws:// works too),',
    '         --node N (node N of the example: http://127.0.0.1:888N/mi), --token TOKEN,',
    '         --json (raw JSON result; a command error prints {"error":{…}} and exits 1),',
    '         --timeout MS',
    'A call that does not fit prints what the command expects; an unknown command, the',
    'names closest to it.',
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
      const result = await call(client, method, params);
      io.out(options.json ? JSON.stringify(result) : render(result));
      return EXIT_OK;
    } catch (err) {
      const code = reportError(err, io, options.json);
      for (const line of await hints(client, method, err, options)) io.err(line);
      return code;
    } finally {
      client.close();
    }
  },
};
