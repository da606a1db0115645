export { VirtualClock } from './clock.js';
export { hostOf, SimCluster, type SimClusterOptions, Topologies } from './cluster.js';
export { decodeKv, encodeKv, KvCapability, type KvRecord } from './kv.js';
export { type LinkProfile, SimNetwork } from './network.js';
export { SeededRandom, withSeed } from './random.js';
