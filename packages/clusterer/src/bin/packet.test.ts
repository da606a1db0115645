import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinDecodeError } from '../errors.js';
import { BinFramer } from './framing.js';
import {
  decodeHeader,
  decodePacket,
  encodePacket,
  setTrailerDst,
  tryDecodePacket,
} from './packet.js';
import { arbPacket } from './packet.test.arb.js';

const fixtures = JSON.parse(
  readFileSync(new URL('../../test/fixtures/opensips-3.6.8-bin.json', import.meta.url), 'utf8'),
) as Record<string, string>;
const frame = (name: string): Buffer => Buffer.from(fixtures[name] ?? '', 'hex');

describe('BIN golden packets (docs/protocols/bin-clusterer.md §1.1, §1.3: OpenSIPS 3.6.8)', () => {
  it('encodes the PING example of docs/protocols/bin-clusterer.md §1.1 byte for byte', () => {
    const hex =
      '5034434b2e000000010012' +
      '00' +
      Buffer.from('clusterer-internal').toString('hex') +
      '00000000' +
      '01000000' +
      '02000000' +
      '01000000';
    const bytes = encodePacket({ kind: 'ping', cluster: 1, src: 2, reqNodeList: true });
    expect(bytes.toString('hex')).toBe(hex);
    expect(bytes.length).toBe(46);
  });

  it('frame 4: PING from node 1 asking for the node list', () => {
    const p = decodePacket(frame('frame4'));
    expect(p).toEqual({ kind: 'ping', cluster: 1, src: 1, reqNodeList: true });
    expect(encodePacket(p).equals(frame('frame4'))).toBe(true);
  });

  it('frame 9: PING from node 2', () => {
    expect(decodePacket(frame('frame9'))).toEqual({
      kind: 'ping',
      cluster: 1,
      src: 2,
      reqNodeList: true,
    });
  });

  it('frame 16: empty PONG', () => {
    const p = decodePacket(frame('frame16'));
    expect(p).toEqual({ kind: 'pong', cluster: 1, src: 1, nodes: [] });
    expect(encodePacket(p).equals(frame('frame16'))).toBe(true);
  });

  it('frame 18: FULL_TOP_UPDATE with the sender first and path [2]', () => {
    const p = decodePacket(frame('frame18'));
    expect(p).toEqual({
      kind: 'full_top_update',
      cluster: 1,
      src: 2,
      seq: 0,
      timestamp: 0x6b03ffa8,
      nodes: [{ nodeId: 2, lsSeq: -1, lsTimestamp: 0, neighbours: [1] }],
      path: [2],
    });
    expect(encodePacket(p).equals(frame('frame18'))).toBe(true);
  });

  it('frame 20: CAP_UPDATE with require_reply', () => {
    const p = decodePacket(frame('frame20'));
    expect(p).toEqual({
      kind: 'cap_update',
      cluster: 1,
      src: 2,
      seq: 0,
      timestamp: 0x6b03ffa8,
      nodes: [{ nodeId: 2, caps: [{ name: 'usrloc-contact-repl', ok: false }] }],
      requireReply: true,
      path: [2],
    });
    expect(encodePacket(p).equals(frame('frame20'))).toBe(true);
  });

  it('frame 40: SYNC_REQ (version 3) with the cluster/src/dst trailer', () => {
    const p = decodePacket(frame('frame40'));
    expect(p).toEqual({
      kind: 'sync_req',
      cluster: 1,
      src: 2,
      dst: 1,
      capability: 'usrloc-contact-repl',
    });
    expect(decodeHeader(frame('frame40')).version).toBe(3);
    expect(encodePacket(p).equals(frame('frame40'))).toBe(true);
  });

  it('frame 42: SYNC_END with zero chunks', () => {
    const p = decodePacket(frame('frame42'));
    expect(p).toEqual({
      kind: 'sync_end',
      cluster: 1,
      src: 1,
      dst: 2,
      capability: 'usrloc-contact-repl',
      chunks: 0,
    });
    expect(encodePacket(p).equals(frame('frame42'))).toBe(true);
  });

  it('frames 54 and 56: usrloc module packets keep an opaque body and lose the trailer', () => {
    for (const [name, type] of [
      ['frame54', 1],
      ['frame56', 3],
    ] as const) {
      const p = decodePacket(frame(name));
      if (p.kind !== 'module') throw new Error('expected a module packet');
      expect(p.capability).toBe('usrloc-contact-repl');
      expect(p.version).toBe(5);
      expect(p.type).toBe(type);
      expect([p.cluster, p.src, p.dst]).toEqual([1, 1, 2]);
      expect(p.body.subarray(0, 10).toString('latin1')).toBe('\x08\x00location');
      expect(encodePacket(p).equals(frame(name))).toBe(true);
    }
  });

  it('SYNC_END of BIN_SYNC_VERSION 2 has no chunk count', () => {
    const v3 = encodePacket({
      kind: 'sync_end',
      cluster: 1,
      src: 1,
      dst: 2,
      capability: 'x',
      chunks: 0,
    });
    // Strip the count and set version 2, as an OpenSIPS 3.0–3.2 node sends it.
    const v2 = Buffer.concat([v3.subarray(0, v3.length - 16), v3.subarray(v3.length - 12)]);
    v2.writeUInt32LE(v2.length, 4);
    v2.writeInt16LE(2, 8);
    expect(decodePacket(v2)).toEqual({
      kind: 'sync_end',
      cluster: 1,
      src: 1,
      dst: 2,
      capability: 'x',
    });
  });

  it('a broadcast rewrites only the destination id', () => {
    const b = encodePacket({ kind: 'shtag_active', cluster: 3, src: 1, dst: -1, tag: 'vip' });
    setTrailerDst(b, 7);
    expect(decodePacket(b)).toEqual({
      kind: 'shtag_active',
      cluster: 3,
      src: 1,
      dst: 7,
      tag: 'vip',
    });
  });
});

describe('BIN decoding rejects bad input with a typed error', () => {
  const ping = frame('frame4');
  const cases: [string, Buffer, string][] = [
    ['too short', ping.subarray(0, 16), 'too_short'],
    ['bad marker', Buffer.concat([Buffer.from('P4CX'), ping.subarray(4)]), 'bad_marker'],
    [
      'lying length',
      (() => {
        const b = Buffer.from(ping);
        b.writeUInt32LE(60, 4);
        return b;
      })(),
      'length_mismatch',
    ],
    [
      'oversize length',
      (() => {
        const b = Buffer.from(ping);
        b.writeUInt32LE(70000, 4);
        return b;
      })(),
      'too_long',
    ],
    [
      'unknown type',
      (() => {
        const b = Buffer.from(ping);
        b.writeInt32LE(42, 30);
        return b;
      })(),
      'unknown_type',
    ],
    [
      'truncated body',
      (() => {
        const b = Buffer.from(ping.subarray(0, 42));
        b.writeUInt32LE(42, 4);
        return b;
      })(),
      'truncated',
    ],
    [
      'capability past the end',
      (() => {
        const b = Buffer.from(ping);
        b.writeUInt16LE(40, 10);
        return b;
      })(),
      'truncated',
    ],
    [
      'absurd node count',
      (() => {
        const b = Buffer.from(frame('frame18'));
        b.writeInt32LE(1_000_000, 0x32);
        return b;
      })(),
      'bad_count',
    ],
  ];
  for (const [name, bytes, reason] of cases) {
    it(name, () => {
      const r = tryDecodePacket(bytes);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBeInstanceOf(BinDecodeError);
        expect(r.error.reason).toBe(reason);
      }
    });
  }

  it('random bytes never throw anything but BinDecodeError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.boolean(),
        (arr, fixHeader) => {
          const b = Buffer.from(arr);
          if (fixHeader && b.length >= 17) {
            Buffer.from('P4CK').copy(b, 0);
            b.writeUInt32LE(b.length, 4);
          }
          try {
            decodePacket(b);
          } catch (e) {
            expect(e).toBeInstanceOf(BinDecodeError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('mutated real packets never throw anything but BinDecodeError', () => {
    const all = Object.values(fixtures).map((h) => Buffer.from(h, 'hex'));
    fc.assert(
      fc.property(
        fc.nat(all.length - 1),
        fc.array(fc.tuple(fc.nat(300), fc.nat(255)), { maxLength: 6 }),
        (i, muts) => {
          const b = Buffer.from(all[i] ?? Buffer.alloc(0));
          for (const [off, v] of muts) if (off >= 8 && off < b.length) b[off] = v;
          try {
            decodePacket(b);
          } catch (e) {
            expect(e).toBeInstanceOf(BinDecodeError);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('BIN round trips', () => {
  it('decode(encode(p)) equals p for every packet type', () => {
    fc.assert(
      fc.property(arbPacket, (p) => {
        expect(decodePacket(encodePacket(p))).toEqual(p);
      }),
      { numRuns: 2000 },
    );
  });

  it('encode refuses a packet over 65535 bytes', () => {
    const big = 'x'.repeat(40000);
    expect(() =>
      encodePacket({
        kind: 'generic_msg',
        cluster: 1,
        src: 1,
        dst: 2,
        request: true,
        tag: big,
        msg: big,
      }),
    ).toThrow(RangeError);
  });
});

describe('proto_bin stream framing', () => {
  const stream = Buffer.concat(Object.values(fixtures).map((h) => Buffer.from(h, 'hex')));
  const expected = Object.values(fixtures);

  it('yields the same packets when the stream is split at every offset', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new BinFramer();
      const a = f.push(stream.subarray(0, cut));
      const b = f.push(stream.subarray(cut));
      expect(a.error).toBeUndefined();
      expect(b.error).toBeUndefined();
      expect([...a.packets, ...b.packets].map((p) => p.toString('hex'))).toEqual(expected);
      expect(f.buffered).toBe(0);
    }
  });

  it('yields the same packets when fed one byte at a time', () => {
    const f = new BinFramer();
    const out: string[] = [];
    for (let i = 0; i < stream.length; i++) {
      const r = f.push(stream.subarray(i, i + 1));
      expect(r.error).toBeUndefined();
      for (const p of r.packets) out.push(p.toString('hex'));
    }
    expect(out).toEqual(expected);
  });

  it('random chunkings of random packets give back the packets', () => {
    fc.assert(
      fc.property(
        fc.array(arbPacket, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(400), { maxLength: 10 }),
        (ps, cuts) => {
          const enc = ps.map((p) => encodePacket(p));
          const all = Buffer.concat(enc);
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((x, y) => x - y);
          const f = new BinFramer();
          const got: Buffer[] = [];
          let prev = 0;
          for (const c of [...points, all.length]) {
            const r = f.push(all.subarray(prev, c));
            expect(r.error).toBeUndefined();
            got.push(...r.packets);
            prev = c;
          }
          expect(got.map((g) => g.toString('hex'))).toEqual(enc.map((e) => e.toString('hex')));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('closes on garbage: wrong marker, length below 17, length above the maximum', () => {
    const f1 = new BinFramer();
    const ok = frame('frame4');
    const r1 = f1.push(Buffer.concat([ok, Buffer.from('GET / HTTP/1.1\r\n')]));
    expect(r1.packets).toHaveLength(1);
    expect(r1.error?.reason).toBe('bad_marker');
    expect(f1.push(ok).error?.reason).toBe('bad_marker');

    const short = Buffer.from(ok);
    short.writeUInt32LE(16, 4);
    expect(new BinFramer().push(short).error?.reason).toBe('too_short');

    const long = Buffer.from(ok.subarray(0, 8));
    long.writeUInt32LE(65536, 4);
    expect(new BinFramer().push(long).error?.reason).toBe('too_long');
    expect(new BinFramer({ maxPacket: 40 }).push(ok).error?.reason).toBe('too_long');
  });

  it('detects a wrong marker from its first byte', () => {
    expect(new BinFramer().push(Buffer.from('X')).error?.reason).toBe('bad_marker');
    expect(new BinFramer().push(Buffer.from('P4')).error).toBeUndefined();
  });

  it('random bytes never throw from the framer', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
        const f = new BinFramer();
        for (const c of chunks) {
          const r = f.push(Buffer.from(c));
          for (const p of r.packets) tryDecodePacket(p);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
