// The client alone, for tools (the CLI) that should not load zod or the server: import from
// `@sipedge/mi/client`.

export * from '../errors.js';
export type { EventParams } from '../events/bus.js';
export {
  defaultReconnect,
  MiClient,
  type MiClientOptions,
  type MiParams,
  type MiSubscription,
  type ReconnectPolicy,
} from './client.js';
