import { adminRequest } from '@sipedge/rtp-cluster/admin-client';
import { UsageError } from '../args.js';
import { EXIT_COMMAND, EXIT_OK, EXIT_USAGE, type Subcommand } from './types.js';

export const DEFAULT_RTPC_SOCKET = 'unix:/var/run/rtp_cluster.sock';

/** `sipedge rtp-cluster …`: the rtp_cluster admin protocol (the rtp_cluster_client.py replacement). */
export const rtpClusterCommand: Subcommand = {
  name: 'rtp-cluster',
  summary: 'talk to an rtp-cluster admin socket: sipedge rtp-cluster ls [CLUSTER]',
  usage: [
    'usage: sipedge rtp-cluster [--socket unix:/path|tcp:host[:port]] <command…>',
    '',
    'Sends one admin command to an rtp-cluster (or sippy rtp_cluster) and prints the reply:',
    '  ls [CLUSTER]',
    '  modify CLUSTER add name=…,protocol=udp,address=host:port,weight=N,capacity=N[,status=…]',
    '  modify CLUSTER delete|remove|pause|resume MEMBER',
    '  reload',
    `Socket: --socket, else SIPEDGE_RTPC_SOCKET, else ${DEFAULT_RTPC_SOCKET}.`,
    '--json prints {"ok": …, "text": …}. Exit codes: 0 OK, 1 ERROR reply, 2 usage or connection error.',
  ].join('\n'),
  valueOptions: ['--socket'],
  async run(words, options, io) {
    if (words.length === 0) throw new UsageError('which command? (ls, modify, reload)');
    const socket =
      (typeof options.extra['--socket'] === 'string' ? options.extra['--socket'] : undefined) ??
      process.env.SIPEDGE_RTPC_SOCKET ??
      DEFAULT_RTPC_SOCKET;
    let result: Awaited<ReturnType<typeof adminRequest>>;
    try {
      result = await adminRequest(words.join(' '), { socket, timeoutMs: options.timeoutMs });
    } catch (err) {
      io.err(`sipedge: ${(err as Error).message}`);
      return EXIT_USAGE;
    }
    if (options.json) io.out(JSON.stringify({ ok: result.ok, text: result.text }));
    else if (result.ok) io.out(result.text.replace(/\n$/, ''));
    else io.err(result.text.replace(/\n$/, ''));
    return result.ok ? EXIT_OK : EXIT_COMMAND;
  },
};
