/**
 * The worker thread that owns the Redis Cluster client (see `RedisPresenceStore`): it runs a
 * `DirectRedisPresenceStore` and answers the main thread's requests by id. ioredis's parsing and
 * the garbage it makes stay here, off the thread that handles SIP.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from '@sipedge/core';
import { FederationError } from '../errors.js';
import { DirectRedisPresenceStore } from './redis-store.js';
import type { StoreReply, StoreRequest, WorkerLog, WorkerStoreOptions } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('redis-worker: not started as a worker thread');

function forward(level: WorkerLog['log']): Logger['warn'] {
  return (fields, msg) => {
    port?.postMessage({ log: level, fields, msg: msg ?? '' } satisfies WorkerLog);
  };
}

const logger: Logger = {
  debug: forward('debug'),
  info: forward('info'),
  warn: forward('warn'),
  error: forward('error'),
};

const store = new DirectRedisPresenceStore({ ...(workerData as WorkerStoreOptions), logger });

async function run(req: StoreRequest): Promise<unknown> {
  switch (req.op) {
    case 'write':
      return store.write(req.writes);
    case 'sites':
      return store.sites(req.aor, req.now);
    case 'removeIf':
      return store.removeIf(req.aor, req.site, req.expires);
    case 'close':
      return store.close();
  }
}

port.on('message', (req: StoreRequest) => {
  run(req).then(
    (value) => port.postMessage({ id: req.id, ok: true, value } satisfies StoreReply),
    (err: unknown) => {
      const code = err instanceof FederationError ? err.code : 'FED_STORE';
      const message = err instanceof Error ? err.message : String(err);
      port.postMessage({ id: req.id, ok: false, code, message } satisfies StoreReply);
    },
  );
});
