export * from './bin-proxy.js';
export * from './cluster.js';
export * from './rtp.js';
export * from './wait.js';
