/** The messages between `RedisPresenceStore` and its worker thread (`redis-worker.ts`). */
import type { FederationErrorCode } from '../errors.js';
import type { RedisStoreOptions } from './redis-store.js';
import type { PresenceWrite } from './store.js';

/** What the worker is started with: the store's options without the logger (not cloneable). */
export type WorkerStoreOptions = Omit<RedisStoreOptions, 'logger'>;

/** One call of the store; a `write` carries the whole batch. */
export type StoreCall =
  | { readonly op: 'write'; readonly writes: readonly PresenceWrite[] }
  | { readonly op: 'sites'; readonly aor: string; readonly now: number }
  | {
      readonly op: 'removeIf';
      readonly aor: string;
      readonly site: string;
      readonly expires: number;
    }
  | { readonly op: 'close' };

/** A call as posted to the worker: `id` comes back on its reply. */
export type StoreRequest = StoreCall & { readonly id: number };

export type StoreReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | {
      readonly id: number;
      readonly ok: false;
      readonly code: FederationErrorCode;
      readonly message: string;
    };

/** A line the worker logs through the main thread's logger. */
export interface WorkerLog {
  readonly log: 'debug' | 'info' | 'warn' | 'error';
  readonly fields: object;
  readonly msg: string;
}
