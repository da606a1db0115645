export * from './address.js';
export * from './build.js';
export * from './codes.js';
export {
  EMPTY_MODIFIERS,
  isIpv4,
  isIpv6,
  type ModifierOptions,
  type ModifierResult,
  parseUpdateModifiers,
  sameModifiers,
  serializeUpdateModifiers,
} from './modifiers.js';
export * from './parse-command.js';
export * from './reply.js';
export * from './serialize-command.js';
export { readSubcommand, type SubcommandView } from './subcommand.js';
export { MAX_TOKENS, tokenize, trimBlanks, urlQuote, urlUnquote } from './tokenize.js';
