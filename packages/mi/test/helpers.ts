import http from 'node:http';
import { createMiCore, type MiCore } from '../src/core/create.js';
import { MiServer, type MiServerOptions } from '../src/transport/server.js';

export interface Live extends MiCore {
  server: MiServer;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A core with its MI server listening on 127.0.0.1, port 0. */
export async function live(options: Partial<MiServerOptions> = {}): Promise<Live> {
  const core = createMiCore();
  core.events.register('E_TEST');
  const server = new MiServer({
    registry: core.registry,
    events: core.events,
    stats: core.stats,
    port: 0,
    ...options,
  });
  await server.start();
  return {
    ...core,
    server,
    async [Symbol.asyncDispose]() {
      await server.stop();
      core.events.close();
    },
  };
}

export interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request on a fresh connection (from `localAddress`, any 127/8 address on Linux). */
export function request(
  url: string,
  init: {
    method?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
    localAddress?: string;
  } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: init.method ?? 'POST',
        headers: init.headers ?? {},
        agent: false,
        ...(init.localAddress === undefined ? {} : { localAddress: init.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
