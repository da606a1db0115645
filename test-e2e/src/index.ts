export * from './bin-proxy.js';
export * from './cluster.js';
export * from './wait.js';
