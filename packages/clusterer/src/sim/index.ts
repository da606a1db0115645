export { VirtualClock } from './clock.js';
export { hostOf, SimCluster, type SimClusterOptions, Topologies } from './cluster.js';
export { type LinkProfile, SimNetwork } from './network.js';
export { SeededRandom, withSeed } from './random.js';
