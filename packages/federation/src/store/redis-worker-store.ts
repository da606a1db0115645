/**
 * The presence store on Redis Cluster with the client in a worker thread: the worker
 * (`redis-worker.ts`) owns the ioredis Cluster and runs a `DirectRedisPresenceStore`; this side
 * posts one message per call (a `write` carries its whole batch) and resolves it by request id.
 * ioredis's reply parsing and its garbage then cost the worker's thread, not the one that
 * handles SIP.
 *
 * Every call is bounded on this side too (`timeoutMs` plus a margin, in case the worker itself
 * stops answering). If the worker dies, the calls it held fail and the next call starts a new
 * one; the publisher's retry and resync write again what may have been lost.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type Logger, noopLogger } from '@sipedge/core';
import { FederationError } from '../errors.js';
import type { RedisStoreOptions } from './redis-store.js';
import type { PresenceStore, PresenceWrite, SitePresence } from './store.js';
import type {
  StoreCall,
  StoreReply,
  StoreRequest,
  WorkerLog,
  WorkerStoreOptions,
} from './worker-protocol.js';

/** How much longer than the worker's own bound this side waits before failing a call. */
const MARGIN_MS = 250;

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The worker's script: beside this module once built; when this module runs from its
 * TypeScript source (the tests), the package's build of it.
 */
export function redisWorkerUrl(): URL {
  const built = new URL('./redis-worker.js', import.meta.url);
  if (!import.meta.url.endsWith('.ts')) return built;
  const dist = new URL('../../dist/src/store/redis-worker.js', import.meta.url);
  if (!existsSync(fileURLToPath(dist))) {
    throw new FederationError(
      'FED_STORE',
      `redis worker: ${fileURLToPath(dist)} is missing; build the package (tsc -b packages/federation)`,
    );
  }
  return dist;
}

/** Stops the worker as a crash would: the store's own close is not run (tests). */
export const killWorker: unique symbol = Symbol('killWorker');

export class RedisPresenceStore implements PresenceStore {
  readonly #options: WorkerStoreOptions;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #nextId = 1;
  #closed = false;
  #restarts = 0;

  constructor(options: RedisStoreOptions) {
    const { logger, ...rest } = options;
    // the CA file is read here, once: an unreadable one fails the start instead of every worker
    const ca = rest.tls?.ca;
    this.#options =
      ca === undefined || rest.tls?.caPem !== undefined
        ? rest
        : { ...rest, tls: { ...rest.tls, ca: undefined, caPem: readFileSync(ca, 'utf8') } };
    this.#log = logger ?? noopLogger;
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#start();
  }

  /** Workers started after one died. */
  get restarts(): number {
    return this.#restarts;
  }

  async write(writes: readonly PresenceWrite[]): Promise<void> {
    await this.#call({ op: 'write', writes });
  }

  async sites(aor: string, now: number): Promise<SitePresence[]> {
    return (await this.#call({ op: 'sites', aor, now })) as SitePresence[];
  }

  async removeIf(aor: string, site: string, expires: number): Promise<void> {
    await this.#call({ op: 'removeIf', aor, site, expires });
  }

  /** Closes the worker's connections, then ends the worker; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const worker = this.#worker;
    if (worker !== undefined) await this.#call({ op: 'close' }).catch(() => undefined);
    this.#closed = true;
    this.#worker = undefined;
    this.#failPending('the store is closed');
    await worker?.terminate();
  }

  async [killWorker](): Promise<void> {
    await this.#worker?.terminate();
  }

  #start(): Worker {
    const worker = new Worker(redisWorkerUrl(), { workerData: this.#options });
    worker.on('message', (m: StoreReply | WorkerLog) => {
      if ('log' in m) this.#log[m.log](m.fields, m.msg);
      else this.#settle(m);
    });
    let failure = '';
    worker.on('error', (err) => {
      failure = `: ${err.message}`;
      this.#log.error({ err: err.message }, 'federation: redis worker failed');
    });
    worker.on('exit', (code) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      if (this.#closed) return;
      this.#log.warn({ code }, 'federation: redis worker exited; the next call starts another');
      this.#failPending(`the redis worker exited (code ${code})${failure}`);
    });
    this.#worker = worker;
    return worker;
  }

  #call(call: StoreCall): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new FederationError('FED_STORE', 'redis: the store is closed'));
    }
    let worker = this.#worker;
    if (worker === undefined) {
      this.#restarts++;
      worker = this.#start();
    }
    const id = this.#nextId++;
    const bound = this.#timeoutMs + MARGIN_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new FederationError('FED_STORE', `redis worker: ${call.op} not answered in ${bound} ms`),
        );
      }, bound);
      this.#pending.set(id, { resolve, reject, timer });
      worker.postMessage({ ...call, id } satisfies StoreRequest);
    });
  }

  #settle(reply: StoreReply): void {
    const p = this.#pending.get(reply.id);
    if (p === undefined) return;
    this.#pending.delete(reply.id);
    clearTimeout(p.timer);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new FederationError(reply.code, reply.message));
  }

  #failPending(reason: string): void {
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(new FederationError('FED_STORE', `redis: ${reason}`));
    }
    this.#pending.clear();
  }
}
