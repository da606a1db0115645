export * from './bin/index.js';
export {
  BinDecodeError,
  type BinDecodeReason,
  ClustererConfigError,
  ClustererError,
} from './errors.js';
