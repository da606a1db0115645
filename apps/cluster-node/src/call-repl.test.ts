import { describe, expect, it } from 'vitest';
import { decodeBinding, encodeBinding } from './call-repl.js';

describe('rtp-cluster-calls wire format', () => {
  it('round-trips live and deleted bindings', () => {
    const live = { callId: 'c1@host', member: 'relay1', lastSeen: 1_700_000_000_123 };
    const dead = { ...live, callId: 'c2', deletedAt: 1_700_000_000_456 };
    expect(decodeBinding(encodeBinding(live))).toEqual(live);
    expect(decodeBinding(encodeBinding(dead))).toEqual(dead);
  });

  it('refuses anything malformed instead of throwing', () => {
    const good = encodeBinding({ callId: 'c1', member: 'm', lastSeen: 5 });
    expect(decodeBinding(Buffer.alloc(0))).toBeUndefined();
    expect(decodeBinding(good.subarray(0, good.length - 1))).toBeUndefined(); // truncated
    expect(decodeBinding(Buffer.concat([good, Buffer.from([0])]))).toBeUndefined(); // trailing
    const kind = Buffer.from(good);
    kind[0] = 9;
    expect(decodeBinding(kind)).toBeUndefined();
    const len = Buffer.from(good);
    len.writeUInt16LE(60_000, 1); // string longer than the packet
    expect(decodeBinding(len)).toBeUndefined();
    expect(decodeBinding(encodeBinding({ callId: '', member: 'm', lastSeen: 1 }))).toBeUndefined();
    expect(
      decodeBinding(encodeBinding({ callId: 'c', member: 'm', lastSeen: Number.NaN })),
    ).toBeUndefined();
  });
});
