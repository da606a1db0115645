/** fast-check arbitraries for every BIN packet type (test helper, not shipped). */
import fc from 'fast-check';
import type { ClusterPacket } from './packet.js';

const i32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const id = fc.integer({ min: 1, max: 1000 });
const ids = fc.array(id, { maxLength: 8 });
const text = fc.string({ maxLength: 40 });
const descr = fc.record({ url: text, sipAddr: text, priority: i32, noPingRetries: i32 });
const base = { cluster: id, src: id };
const routed = { cluster: id, src: id, dst: i32 };

export const arbPacket: fc.Arbitrary<ClusterPacket> = fc.oneof(
  fc.record({ kind: fc.constant('ping' as const), ...base, reqNodeList: fc.boolean() }),
  fc.record({ kind: fc.constant('pong' as const), ...base, nodes: ids }),
  fc.record({
    kind: fc.constant('ls_update' as const),
    ...base,
    seq: i32,
    timestamp: i32,
    neighbour: id,
    up: fc.boolean(),
    path: ids,
  }),
  fc.record({
    kind: fc.constant('full_top_update' as const),
    ...base,
    seq: i32,
    timestamp: i32,
    nodes: fc.array(
      fc.record(
        { nodeId: id, description: descr, lsSeq: i32, lsTimestamp: i32, neighbours: ids },
        { requiredKeys: ['nodeId', 'lsSeq', 'lsTimestamp', 'neighbours'] },
      ),
      { maxLength: 5 },
    ),
    path: ids,
  }),
  fc.record({ kind: fc.constant('unknown_id' as const), ...base }),
  fc.record({
    kind: fc.constant('node_description' as const),
    ...base,
    description: descr,
    path: ids,
  }),
  fc.record({
    kind: fc.constant('cap_update' as const),
    ...base,
    seq: i32,
    timestamp: i32,
    nodes: fc.array(
      fc.record({
        nodeId: id,
        caps: fc.array(fc.record({ name: text, ok: fc.boolean() }), { maxLength: 4 }),
      }),
      { maxLength: 4 },
    ),
    requireReply: fc.boolean(),
    path: ids,
  }),
  fc.record({ kind: fc.constant('remove_node' as const), ...routed, target: id }),
  fc.record({
    kind: fc.constant('generic_msg' as const),
    ...routed,
    request: fc.boolean(),
    tag: text,
    msg: text,
  }),
  fc.record({
    kind: fc.constant('mi_cmd' as const),
    ...routed,
    command: text,
    params: fc.array(text, { maxLength: 10 }),
  }),
  fc.record({ kind: fc.constant('sync_req' as const), ...routed, capability: text }),
  fc.record({
    kind: fc.constant('sync' as const),
    ...routed,
    capability: text,
    dataVersion: i32,
    chunks: fc.array(
      fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
      { maxLength: 5 },
    ),
  }),
  fc.record({ kind: fc.constant('sync_end' as const), ...routed, capability: text, chunks: i32 }),
  fc.record({ kind: fc.constant('shtag_active' as const), ...routed, tag: text }),
  fc.record({
    kind: fc.constant('module' as const),
    ...routed,
    capability: fc.constantFrom('usrloc-contact-repl', 'dialog-dlg-repl', 'x'),
    version: fc.integer({ min: -32768, max: 32767 }),
    type: i32,
    body: fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)),
  }),
);
