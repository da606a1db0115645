export * from './build.js';
export * from './command.js';
export {
  EMPTY_MODIFIERS,
  isIpv4,
  isIpv6,
  parseUpdateModifiers,
  serializeUpdateModifiers,
} from './modifiers.js';
export * from './reply.js';
export { tokenize, urlQuote, urlUnquote } from './tokenize.js';
