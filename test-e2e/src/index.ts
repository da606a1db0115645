export * from './bin-proxy.js';
export * from './cluster.js';
export * from './kamailio.js';
export * from './rtp.js';
export * from './shtags.js';
export * from './sip.js';
export * from './sipp.js';
export * from './usrloc.js';
