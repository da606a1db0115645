import { type Logger, noopLogger } from '@sipedge/core';
import type { MiCallContext } from '../command.js';
import { MiCommandError, MiParamsError, MiRpcError } from '../errors.js';
import type { MiRegistry } from '../registry.js';
import type { Counter, StatisticsRegistry } from '../stats/registry.js';
import { RpcCode, RpcMessage, ServerText } from './codes.js';
import { bindParams } from './params.js';

export type JsonRpcId = string | number | null;

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export type JsonRpcResponse =
  | { jsonrpc: '2.0'; result: unknown; id: JsonRpcId }
  | { jsonrpc: '2.0'; error: JsonRpcErrorObject; id: JsonRpcId };

/** A single response, a batch of them, or nothing (notifications only). */
export type JsonRpcReply = JsonRpcResponse | JsonRpcResponse[] | undefined;

export interface HandleOptions {
  /** Passed to handlers (transport name, WebSocket session). */
  context?: MiCallContext;
  /** Counters `mi:*` are kept here. */
  stats?: StatisticsRegistry;
  logger?: Logger;
  /** A batch with more entries gets one -32600 (default 100). */
  maxBatch?: number;
}

const INTERNAL: MiCallContext = { transport: 'internal' };

interface EngineStats {
  requests: Counter;
  notifications: Counter;
  batches: Counter;
  parse_errors: Counter;
  invalid_requests: Counter;
  unknown_methods: Counter;
  param_errors: Counter;
  command_errors: Counter;
  internal_errors: Counter;
}

const statsCache = new WeakMap<StatisticsRegistry, EngineStats>();

/**
 * The JSON-RPC statistics (`mi:requests`, `mi:param_errors`…) in `stats`, registered now rather
 * than at the first request, so they are shown (at 0) from the start.
 */
export function registerEngineStatistics(stats: StatisticsRegistry): void {
  engineStats(stats);
}

function engineStats(stats: StatisticsRegistry | undefined): EngineStats | undefined {
  if (stats === undefined) return undefined;
  let s = statsCache.get(stats);
  if (s === undefined) {
    const help: Record<keyof EngineStats, string> = {
      requests: 'JSON-RPC requests (calls that expect a reply) handled',
      notifications: 'JSON-RPC notifications (calls without an id) handled',
      batches: 'JSON-RPC batches received',
      parse_errors: 'MI messages that were not valid JSON (-32700)',
      invalid_requests: 'MI messages that were not valid JSON-RPC requests (-32600)',
      unknown_methods: 'MI calls of a command that does not exist (-32601)',
      param_errors: 'MI calls whose parameters did not fit the command (-32602)',
      command_errors: 'MI commands that answered with an error',
      internal_errors: 'MI commands that failed unexpectedly (-32603)',
    };
    const c = (name: keyof EngineStats): Counter => stats.counter('mi', name, help[name]);
    s = {
      requests: c('requests'),
      notifications: c('notifications'),
      batches: c('batches'),
      parse_errors: c('parse_errors'),
      invalid_requests: c('invalid_requests'),
      unknown_methods: c('unknown_methods'),
      param_errors: c('param_errors'),
      command_errors: c('command_errors'),
      internal_errors: c('internal_errors'),
    };
    statsCache.set(stats, s);
  }
  return s;
}

function errorReply(code: number, id: JsonRpcId, data?: unknown): JsonRpcResponse {
  const error: JsonRpcErrorObject = { code, message: RpcMessage[code] ?? 'Server error' };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', error, id };
}

function isId(v: unknown): v is JsonRpcId {
  return v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const ALLOWED_KEYS = new Set(['jsonrpc', 'method', 'params', 'id']);

/** Run one already-parsed request object; undefined for a (valid) notification. */
async function handleOne(
  registry: MiRegistry,
  req: unknown,
  opts: HandleOptions,
  st: EngineStats | undefined,
): Promise<JsonRpcResponse | undefined> {
  if (
    !isPlainObject(req) ||
    req.jsonrpc !== '2.0' ||
    typeof req.method !== 'string' ||
    ('id' in req && !isId(req.id)) ||
    ('params' in req && typeof req.params !== 'object') ||
    req.params === null ||
    Object.keys(req).some((k) => !ALLOWED_KEYS.has(k))
  ) {
    st?.invalid_requests.inc();
    return errorReply(RpcCode.InvalidRequest, null);
  }
  const notification = !('id' in req);
  const id = notification ? null : (req.id as JsonRpcId);
  if (notification) st?.notifications.inc();
  else st?.requests.inc();
  const reply = await run(registry, req.method, req.params, id, opts, st);
  return notification ? undefined : reply;
}

async function run(
  registry: MiRegistry,
  method: string,
  rawParams: unknown,
  id: JsonRpcId,
  opts: HandleOptions,
  st: EngineStats | undefined,
): Promise<JsonRpcResponse> {
  const cmd = registry.get(method);
  if (cmd === undefined) {
    st?.unknown_methods.inc();
    return errorReply(RpcCode.MethodNotFound, id);
  }
  let params: Record<string, unknown>;
  try {
    params = bindParams(cmd, rawParams);
  } catch (err) {
    if (err instanceof MiParamsError) {
      st?.param_errors.inc();
      return errorReply(RpcCode.InvalidParams, id, err.data);
    }
    st?.internal_errors.inc();
    (opts.logger ?? noopLogger).error({ err, method }, 'MI parameter handling failed');
    return errorReply(RpcCode.ServerError, id, ServerText.badParam);
  }
  try {
    const result = await cmd.handler(params, opts.context ?? INTERNAL);
    if (result === undefined || result === null) {
      st?.internal_errors.inc();
      return errorReply(RpcCode.ServerError, id, ServerText.nullResult);
    }
    return { jsonrpc: '2.0', result, id };
  } catch (err) {
    if (err instanceof MiCommandError) {
      st?.command_errors.inc();
      return { jsonrpc: '2.0', error: { code: err.status, message: err.message }, id };
    }
    if (err instanceof MiParamsError) {
      st?.param_errors.inc();
      return errorReply(RpcCode.InvalidParams, id, err.data);
    }
    st?.internal_errors.inc();
    (opts.logger ?? noopLogger).error({ err, method }, 'MI command failed');
    // never leak a message or a stack from an unexpected failure
    return { jsonrpc: '2.0', error: { code: 500, message: 'Internal error' }, id };
  }
}

/**
 * Handle a JSON-RPC 2.0 message that is already parsed (a request object or a batch array).
 * Returns the response, the batch of responses, or undefined when nothing is to be sent.
 */
export async function handleJsonRpcMessage(
  registry: MiRegistry,
  message: unknown,
  options: HandleOptions = {},
): Promise<JsonRpcReply> {
  const st = engineStats(options.stats);
  if (!Array.isArray(message)) return handleOne(registry, message, options, st);
  st?.batches.inc();
  if (message.length === 0 || message.length > (options.maxBatch ?? 100)) {
    st?.invalid_requests.inc();
    return errorReply(RpcCode.InvalidRequest, null);
  }
  const replies = await Promise.all(message.map((m) => handleOne(registry, m, options, st)));
  const out = replies.filter((r): r is JsonRpcResponse => r !== undefined);
  return out.length === 0 ? undefined : out;
}

/**
 * Handle the text of a JSON-RPC 2.0 message: parse errors get -32700 with id null; then as
 * `handleJsonRpcMessage`.
 */
export async function handleJsonRpc(
  registry: MiRegistry,
  body: string | Uint8Array,
  options: HandleOptions = {},
): Promise<JsonRpcReply> {
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    engineStats(options.stats)?.parse_errors.inc();
    return errorReply(RpcCode.ParseError, null);
  }
  return handleJsonRpcMessage(registry, message, options);
}

/** Call a command in-process with positional or named params; throws on a JSON-RPC error. */
export async function callCommand(
  registry: MiRegistry,
  method: string,
  params?: unknown[] | Record<string, unknown>,
  context: MiCallContext = INTERNAL,
): Promise<unknown> {
  const reply = await run(registry, method, params, 0, { context }, undefined);
  if ('error' in reply) {
    throw new MiRpcError(reply.error.code, reply.error.message, reply.error.data);
  }
  return reply.result;
}
