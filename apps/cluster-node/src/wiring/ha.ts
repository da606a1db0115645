/**
 * HA: the floating service address follows the node's sharing tag. Active: `on_active` runs,
 * then the address is bound (retried every 250 ms until it can be); backup: the address is
 * released, then `on_backup` runs. Changes are applied one at a time, in order.
 */
import type { Clusterer } from '@sipedge/clusterer';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { runHaHook } from '../ha-hooks.js';
import type { SipEdge } from '../sip-edge.js';
import type { Cleanups } from './cleanups.js';

type HaSection = NonNullable<NodeConfig['ha']>;

export class ServiceAddress {
  readonly #ha: HaSection;
  readonly #haKey: string;
  readonly #sip: SipEdge;
  readonly #logger: Logger;
  #active = false;
  #chain: Promise<void> = Promise.resolve();
  #bindRetry: NodeJS.Timeout | undefined;

  constructor(ha: HaSection, haKey: string, sip: SipEdge, logger: Logger) {
    this.#ha = ha;
    this.#haKey = haKey;
    this.#sip = sip;
    this.#logger = logger;
  }

  /** Is this node active for the tag (and bound, or binding, the service address)? */
  get active(): boolean {
    return this.#active;
  }

  /** Follows the tag's changes on the clusterer; undone by `cleanups`. */
  follow(clusterer: Clusterer, cleanups: Cleanups): void {
    cleanups.push(() => {
      if (this.#bindRetry !== undefined) clearTimeout(this.#bindRetry);
    });
    const off = clusterer.onShtagChange((e) => {
      if (`${e.name}/${e.clusterId}` === this.#haKey) this.apply(e.state, e.reason);
    });
    cleanups.push(() => off());
  }

  /** Resolves once every change asked for so far is applied. */
  settled(): Promise<void> {
    return this.#chain;
  }

  apply(state: 'active' | 'backup', reason: string): void {
    const ha = this.#ha;
    this.#chain = this.#chain.then(async () => {
      const want = state === 'active';
      if (want === this.#active && reason !== 'startup') return;
      this.#active = want;
      const hookInfo = { state, sharingTag: this.#haKey, serviceAddress: ha.service_address };
      if (want) {
        // on_active first: it may be what makes the address bindable (`ip addr add`)
        if (ha.on_active !== undefined) {
          await runHaHook(ha.on_active, hookInfo, { logger: this.#logger });
        }
        await this.#tryBind(reason);
      } else {
        if (this.#bindRetry !== undefined) clearTimeout(this.#bindRetry);
        this.#bindRetry = undefined;
        await this.#sip.releaseService();
        this.#logger.info(
          { sharing_tag: this.#haKey, reason },
          'ha: backup, service address released',
        );
        if (ha.on_backup !== undefined) {
          await runHaHook(ha.on_backup, hookInfo, { logger: this.#logger });
        }
      }
    });
  }

  /** The node drains: the address is handed over now, whatever the tag says. */
  async releaseForDrain(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    await this.#sip.releaseService();
    this.#logger.info({ sharing_tag: this.#haKey }, 'ha: service address released for the drain');
  }

  /**
   * The address may not be bindable at once: the hook that adds it to an interface runs first,
   * or the previous owner still holds it for a moment (a loopback address, or the old owner has
   * not heard the news yet). While active and unbound, binding is retried.
   */
  async #tryBind(reason: string): Promise<void> {
    const ha = this.#ha;
    if (!this.#active || this.#sip.service !== undefined) return;
    try {
      await this.#sip.bindService(ha.service_address);
      this.#logger.info(
        { sharing_tag: this.#haKey, service_address: ha.service_address, reason },
        'ha: active, service address bound',
      );
    } catch (err) {
      this.#logger.warn(
        { err: (err as Error).message, service_address: ha.service_address },
        'ha: active but the service address cannot be bound yet; retrying every 250 ms',
      );
      this.#bindRetry ??= setTimeout(() => {
        this.#bindRetry = undefined;
        this.#chain = this.#chain.then(() => this.#tryBind('retry'));
      }, 250);
    }
  }
}
