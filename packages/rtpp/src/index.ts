export * from './client/index.js';
export * from './codec/index.js';
export * from './errors.js';
export * from './framing/index.js';
export * from './server/index.js';
export * from './types.js';
