export * from './constants.js';
export { BinFramer, type BinFramerOptions } from './framing.js';
export {
  type BinHeader,
  type CapabilityEntry,
  type ClusterPacket,
  decodeHeader,
  decodePacket,
  encodePacket,
  type InternalPacket,
  isInternal,
  type NodeDescription,
  type PacketKind,
  type RoutedPacket,
  setTrailerDst,
  type TopologyEntry,
  tryDecodePacket,
} from './packet.js';
export { BinReader } from './reader.js';
export { BinWriter } from './writer.js';
