export * from './call-store.js';
export * from './options.js';
