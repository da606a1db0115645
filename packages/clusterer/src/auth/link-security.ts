import type { Clock, Logger } from '@sipedge/core';
import type { ClusterState } from '../nodes/clusters.js';
import type { BinAddress } from '../nodes/node-info.js';
import type { RemoteNode } from '../nodes/remote-node.js';
import type { TransportHandler } from '../runtime.js';
import { Admission } from './admission.js';
import { LinkAuth } from './link-auth.js';
import { Refusals } from './refusals.js';

export interface LinkSecurityOptions {
  readonly myNodeId: number;
  readonly clusters: ReadonlyMap<number, ClusterState>;
  readonly authSecret?: string | readonly string[] | undefined;
  readonly authWindowMs?: number | undefined;
  readonly tlsNames?: ReadonlyMap<number, string> | undefined;
  readonly log: Logger;
  readonly clock: Clock;
  count(name: string, n?: number): void;
}

/**
 * The security of a Clusterer's links in one place: the admission of received packets, the
 * shared-secret hello and the certificate names the transport asks for, and the refusals.
 */
export class LinkSecurity {
  readonly refusals: Refusals;
  readonly admission: Admission;
  readonly #auth: LinkAuth | undefined;
  readonly #tlsNames: ReadonlyMap<number, string>;
  readonly #options: LinkSecurityOptions;

  constructor(options: LinkSecurityOptions) {
    this.#options = options;
    this.refusals = new Refusals((name) => options.count(name), options.log, options.clock);
    const secrets = options.authSecret;
    this.#auth =
      secrets === undefined
        ? undefined
        : new LinkAuth(
            {
              secrets: typeof secrets === 'string' ? [secrets] : secrets,
              ...(options.authWindowMs === undefined ? {} : { windowMs: options.authWindowMs }),
            },
            options.clock,
          );
    this.#tlsNames = options.tlsNames ?? new Map();
    this.admission = new Admission({
      myNodeId: options.myNodeId,
      clusters: options.clusters,
      auth: this.#auth,
      refusals: this.refusals,
      count: (name, n) => options.count(name, n),
      tlsName: (node) => this.#tlsName(node),
    });
  }

  /** The transport's per-connection hooks: the hello to write first, the name to verify. */
  transportHooks(): Pick<TransportHandler, 'hello' | 'peerName'> {
    const auth = this.#auth;
    const me = this.#options.myNodeId;
    return {
      peerName: (to) => {
        const node = this.#nodeAt(to);
        return node === undefined ? undefined : this.#tlsName(node);
      },
      ...(auth === undefined
        ? {}
        : { hello: (to: BinAddress) => auth.hello(me, this.#nodeAt(to)?.id ?? 0) }),
    };
  }

  /** The node whose listener is `to`. */
  #nodeAt(to: BinAddress): RemoteNode | undefined {
    for (const cl of this.#options.clusters.values()) {
      for (const n of cl.nodes.values()) {
        if (n.addr.host === to.host && n.addr.port === to.port && n.addr.proto === to.proto)
          return n;
      }
    }
    return undefined;
  }

  #tlsName(node: RemoteNode): string {
    return this.#tlsNames.get(node.id) ?? node.addr.host;
  }
}
