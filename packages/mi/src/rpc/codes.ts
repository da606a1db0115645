/** JSON-RPC 2.0 standard error codes and the OpenSIPS `data` texts that go with -32602/-32000. */
export const RpcCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  ServerError: -32000,
} as const;

export const RpcMessage: Readonly<Record<number, string>> = {
  [RpcCode.ParseError]: 'Parse error',
  [RpcCode.InvalidRequest]: 'Invalid Request',
  [RpcCode.MethodNotFound]: 'Method not found',
  [RpcCode.InvalidParams]: 'Invalid params',
  [RpcCode.ServerError]: 'Server error',
};

/** The `data` texts OpenSIPS puts in -32602 and -32000 errors (mi/mi.c). */
export const ParamsText = {
  count: 'Too few or too many parameters',
  ambiguous: 'Ambiguous call, use named parameters instead',
  named: 'Named parameters do not match',
  badType: (name: string): string => `Bad type for parameter '${name}'`,
  namedOnly: 'Command only supports named parameters',
} as const;

export const ServerText = {
  nullResult: 'Command handler returned null',
  badParam: 'Failed to handle parameter',
} as const;
