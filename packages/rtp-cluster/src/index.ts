export * from './call-table.js';
export * from './config/schema.js';
export * from './config/xml.js';
export * from './errors.js';
export * from './select.js';
export * from './cluster.js';
export * from './member.js';
