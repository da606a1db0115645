/**
 * Seeded garbage against a live server: every datagram either gets exactly one reply or is
 * counted as oversize, the handler only ever sees parsed commands, and the server keeps serving.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RtppCommand, type RtppReply, RtppServer } from '../src/index.js';
import { readToEnd, streamConnect, UdpPeer } from './helpers.js';

let server: RtppServer;
let handled = 0;
const handler = (c: RtppCommand): RtppReply => {
  handled++;
  if (typeof c.kind !== 'string') throw new Error('not a command');
  return { kind: 'value', value: '0' };
};

beforeAll(async () => {
  server = new RtppServer({
    sockets: ['udp:127.0.0.1:0', 'tcp:127.0.0.1:0'],
    handler,
    maxLine: 512,
  });
  await server.start();
});
afterAll(() => server.destroy());

/** Mostly protocol-looking text, sometimes raw bytes, sometimes too big. */
const datagram = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc
    .array(
      fc.constantFrom(
        'U',
        'L',
        'D',
        'V',
        'VF',
        'Q',
        'G',
        'Ib',
        '&&',
        ' ',
        '\t',
        '\r\n',
        'c0,8',
        'ft;1',
        '1.2.3.4',
        '9',
        '\0',
        'é',
      ),
      { maxLength: 40 },
    )
    .map((parts) => Buffer.from(`k ${parts.join(' ')}`, 'latin1')),
  fc.integer({ min: 8193, max: 9000 }).map((n) => Buffer.alloc(n, 0x41)),
);

describe('RtppServer under garbage', () => {
  it('answers every UDP datagram once or counts it as oversize', async () => {
    const port = server.addresses()[0]!.port!;
    const peer = await UdpPeer.open();
    try {
      const samples = fc.sample(datagram, { numRuns: 400, seed: 20261123 });
      let expectReplies = 0;
      for (const d of samples) {
        peer.send(Buffer.from(d), port);
        if (d.length <= 8192) {
          expectReplies++;
          const reply = await peer.next();
          // "<cookie> <body>\n" or, for blank input, "E5\n"
          expect(reply.endsWith('\n')).toBe(true);
          expect(reply.length).toBeGreaterThan(1);
        }
      }
      const st = server.stats();
      expect(st.oversize).toBe(samples.length - expectReplies);
      // the same cookie from the same sender is a retransmit: answered from the cache
      expect(st.errors + handled + st.duplicates).toBe(expectReplies);
      expect(st.duplicates).toBeGreaterThan(0);
      peer.send('final V', port);
      expect(await peer.next()).toBe('final 0\n');
    } finally {
      peer.close();
    }
  });

  it('answers every stream line in order, or drops an overlong line', async () => {
    const port = server.addresses()[1]!.port!;
    const lines = fc.sample(
      fc.string({
        unit: fc.constantFrom('U', 'D', 'V', ' ', 'x', '1', ';', '\t', '\r'),
        maxLength: 60,
      }),
      { numRuns: 200, seed: 7 },
    );
    const s = await streamConnect({ host: '127.0.0.1', port });
    const all = readToEnd(s, 5000);
    s.end(`${lines.join('\n')}\n`);
    const replies = (await all).split('\n').filter((l) => l !== '');
    const nonBlank = lines.filter((l) => l.replace(/[ \t\r]/g, '') !== '');
    expect(replies).toHaveLength(nonBlank.length);
    for (const r of replies) expect(r === '0' || /^E[0-9]+$/.test(r)).toBe(true);
  });
});
