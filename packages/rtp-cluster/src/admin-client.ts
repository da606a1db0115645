/**
 * A client of the admin protocol, the replacement for rtp_cluster_client.py: sends one command
 * followed by `quit` and returns everything the server wrote until it closed the connection.
 * `unix:/path` or a bare path; `tcp:host[:port]` (default port 12345, as the Python client).
 */
import { createConnection, type Socket } from 'node:net';
import { RtpClusterError } from './errors.js';

export interface AdminClientOptions {
  /** `unix:/path`, `/path`, or `tcp:host[:port]`. */
  readonly socket: string;
  readonly timeoutMs?: number;
  /** Bound on the reply size. */
  readonly maxBytes?: number;
}

export interface AdminResult {
  /** The reply text as the server sent it. */
  readonly text: string;
  /** False when the reply was an `ERROR:` line. */
  readonly ok: boolean;
}

function connect(spec: string): Socket {
  if (spec.startsWith('tcp:')) {
    const rest = spec.slice(4);
    const m = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(rest);
    if (m === null) throw new RtpClusterError('RTP_CLUSTER_ARGUMENT', `bad socket "${spec}"`);
    return createConnection(Number(m[2] ?? 12345), m[1]);
  }
  return createConnection(spec.replace(/^unix:/, ''));
}

export async function adminRequest(
  command: string,
  options: AdminClientOptions,
): Promise<AdminResult> {
  if (/[\r\n]/.test(command)) {
    throw new RtpClusterError('RTP_CLUSTER_ARGUMENT', 'one command, without newlines');
  }
  const maxBytes = options.maxBytes ?? 1 << 20;
  return new Promise((resolve, reject) => {
    let text = '';
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve({ text, ok: !text.startsWith('ERROR:') });
    };
    const socket = connect(options.socket);
    const timer = setTimeout(
      () =>
        done(
          new RtpClusterError('RTP_CLUSTER_TIMEOUT', `no complete reply from ${options.socket}`),
        ),
      options.timeoutMs ?? 5000,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${command}\nquit\n`));
    socket.on('data', (d: string) => {
      text += d;
      if (text.length > maxBytes)
        done(new RtpClusterError('RTP_CLUSTER_PROTOCOL', 'reply too large'));
    });
    socket.on('end', () => done());
    socket.on('error', (err) =>
      done(
        new RtpClusterError(
          'RTP_CLUSTER_SOCKET',
          `cannot talk to ${options.socket}: ${err.message}`,
          {
            cause: err,
          },
        ),
      ),
    );
  });
}
