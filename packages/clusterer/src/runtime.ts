import type { BinAddress } from './nodes/node-info.js';

/** Where a received packet came from: the peer's IP and a way to answer on that connection. */
export interface PacketSource {
  host: string;
  /** Write on the connection the packet arrived on (UNKNOWN_ID replies to unknown nodes). */
  reply(packet: Buffer): boolean;
  /** The connection it came on, when the transport has connections (the simulator has none). */
  readonly connection?: BinConnection;
}

/**
 * One BIN connection as the receiver sees it: which node it speaks for once admitted. The
 * clusterer admits a connection at its first acceptable packet; the transport closes one that
 * is not admitted in time and caps connections per node.
 */
export interface BinConnection {
  /** This node opened it, to the peer's listener: the peer was dialled, not claimed. */
  readonly outbound: boolean;
  /** The node the connection was admitted for. */
  readonly nodeId: number | undefined;
  /** The node a valid shared-secret hello on this connection named (`auth_secret`). */
  authenticatedAs: number | undefined;
  /**
   * TLS only: does the peer's certificate, verified against the CA list, name `name` (its
   * CN or a subjectAltName, DNS or IP)?
   */
  readonly namesPeer?: ((name: string) => boolean) | undefined;
  /** Admit the connection for `nodeId`. Idempotent. */
  admit(nodeId: number): void;
  /** Close it: the peer was refused. */
  close(): void;
}

export interface TransportHandler {
  onPacket(packet: Buffer, source: PacketSource): void;
  /** The outbound connection to `to` failed or broke (counts as a send failure). */
  onPeerLost?(to: BinAddress): void;
  /** Bulk packets queued toward `to` drained below the transport's mark (`bulkRoom` is true). */
  onDrain?(to: BinAddress): void;
  /** A packet to write first on each new outbound connection to `to` (the auth hello). */
  hello?(to: BinAddress): Buffer | undefined;
  /** `bins:`: the name the certificate of the listener at `to` must carry (default its host). */
  peerName?(to: BinAddress): string | undefined;
}

/**
 * Moves whole BIN packets between nodes. `send` queues one packet on the outbound connection
 * to a peer's listener and returns false when the send is known to have failed at once.
 */
export interface BinTransport {
  setHandler(handler: TransportHandler): void;
  send(to: BinAddress, packet: Buffer): boolean;
  /**
   * Optional: queue a bulk packet (a sync stream) behind every `send` packet to the same peer:
   * ordinary packets overtake queued bulk ones, bulk packets keep their order among
   * themselves. Returns false when the send is known to have failed.
   */
  sendBulk?(to: BinAddress, packet: Buffer): boolean;
  /** Optional: true while more bulk packets toward `to` may be queued (else wait `onDrain`). */
  bulkRoom?(to: BinAddress): boolean;
}
