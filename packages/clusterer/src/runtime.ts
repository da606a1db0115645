import type { BinAddress } from './nodes/node-info.js';

/** Where a received packet came from: the peer's IP and a way to answer on that connection. */
export interface PacketSource {
  host: string;
  /** Write on the connection the packet arrived on (UNKNOWN_ID replies to unknown nodes). */
  reply(packet: Buffer): boolean;
}

export interface TransportHandler {
  onPacket(packet: Buffer, source: PacketSource): void;
  /** The outbound connection to `to` failed or broke (counts as a send failure). */
  onPeerLost?(to: BinAddress): void;
  /** Bulk packets queued toward `to` drained below the transport's mark (`bulkRoom` is true). */
  onDrain?(to: BinAddress): void;
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
