import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SipParseError } from '../errors.js';
import { type StreamFrame, StreamFramer } from './stream.js';

const MSG = (body: string): Buffer =>
  Buffer.from(
    `OPTIONS sip:x@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nl: ${body.length}\r\n\r\n${body}`,
  );

function messages(frames: StreamFrame[]): string[] {
  return frames.flatMap((f) => (f.type === 'message' ? [f.data.toString()] : [f.type]));
}

describe('StreamFramer', () => {
  const stream = Buffer.concat([
    MSG('hello'),
    Buffer.from('\r\n\r\n'),
    MSG(''),
    MSG('x'.repeat(30)),
  ]);
  const expected = [
    MSG('hello').toString(),
    'ping',
    MSG('').toString(),
    MSG('x'.repeat(30)).toString(),
  ];

  it('frames by Content-Length and reports double-CRLF pings', () => {
    expect(messages(new StreamFramer().push(stream))).toEqual(expected);
  });

  it('gives the same frames when the stream is split at every offset', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const f = new StreamFramer();
      const got = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
      expect(messages(got), `cut at ${cut}`).toEqual(expected);
    }
  });

  it('gives the same frames for any chunking', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 30 }), (sizes) => {
        const f = new StreamFramer();
        const got: StreamFrame[] = [];
        let at = 0;
        for (const n of sizes) {
          got.push(...f.push(stream.subarray(at, at + n)));
          at += n;
          if (at >= stream.length) break;
        }
        if (at < stream.length) got.push(...f.push(stream.subarray(at)));
        expect(messages(got)).toEqual(expected);
      }),
    );
  });

  it('reports a single CRLF as a pong once the next byte shows it is not a ping', () => {
    const f = new StreamFramer();
    expect(f.push(Buffer.from('\r\n'))).toEqual([]);
    expect(f.pendingCrlf).toBe(true);
    expect(messages(f.push(MSG('')))).toEqual(['pong', MSG('').toString()]);
    expect(f.pendingCrlf).toBe(false);
  });

  it('bounds the header block and the body (slow-loris and oversize)', () => {
    const f = new StreamFramer({ maxHeaderBytes: 100 });
    expect(f.push(Buffer.from('OPTIONS sip:x SIP/2.0\r\nX: '))).toEqual([]);
    expect(() => f.push(Buffer.alloc(200, 0x61))).toThrow(SipParseError);
    expect(() => f.push(Buffer.from('x'))).toThrow(SipParseError);
    const g = new StreamFramer({ maxBodyBytes: 10 });
    expect(() => g.push(MSG('0123456789ab'))).toThrow(/too-large/);
  });

  it('requires Content-Length on a stream', () => {
    expect(() =>
      new StreamFramer().push(Buffer.from('OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n')),
    ).toThrow(/content-length/);
  });
});

describe('StreamFramer on random input', () => {
  it('never throws anything but SipParseError and never loops', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const f = new StreamFramer({ maxHeaderBytes: 512, maxBodyBytes: 512 });
        try {
          for (const c of chunks) f.push(Buffer.from(c));
        } catch (e) {
          if (!(e instanceof SipParseError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
