import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SdpEditor } from './editor.js';

const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.10',
  's=-',
  'c=IN IP4 192.0.2.10',
  't=0 0',
  'a=group:BUNDLE 0',
  'm=audio 49170 RTP/AVP 0 8 101',
  'a=rtpmap:101 telephone-event/8000',
  'a=rtcp:49171 IN IP4 192.0.2.10',
  'a=sendrecv',
  'm=video 51372/2 RTP/AVP 31',
  'c=IN IP6 2001:db8::10',
  'a=rtpmap:31 H261/90000',
  '',
].join('\r\n');

function changed(a: string, b: string): number[] {
  const x = a.split('\r\n');
  const y = b.split('\r\n');
  return x.map((l, i) => (l === y[i] ? -1 : i)).filter((i) => i >= 0);
}

describe('SdpEditor', () => {
  it('round-trips untouched SDP byte for byte (CRLF and LF)', () => {
    expect(new SdpEditor(SDP).toString()).toBe(SDP);
    const lf = SDP.replace(/\r\n/g, '\n');
    expect(new SdpEditor(Buffer.from(lf)).toString()).toBe(lf);
  });

  it('reads media sections with their connection and rtcp', () => {
    const e = new SdpEditor(SDP);
    const [a, v] = e.media();
    expect(a).toMatchObject({
      type: 'audio',
      port: 49170,
      proto: 'RTP/AVP',
      connection: undefined,
      rtcp: { port: 49171, address: '192.0.2.10' },
    });
    expect(v).toMatchObject({
      type: 'video',
      port: 51372,
      connection: { addrType: 'IP6', address: '2001:db8::10' },
    });
    expect(e.sessionConnection()?.address).toBe('192.0.2.10');
  });

  it('anchors media: rewrites only c=, m= and a=rtcp lines', () => {
    const e = new SdpEditor(SDP);
    e.setConnection('203.0.113.5')
      .setMediaPort(0, 30000)
      .setMediaPort(1, 30002)
      .setRtcp(0, 30001, '203.0.113.5');
    const out = e.toString();
    expect(changed(SDP, out)).toEqual([3, 6, 8, 10, 11]);
    expect(out).toContain('c=IN IP4 203.0.113.5\r\n');
    expect(out).toContain('m=audio 30000 RTP/AVP 0 8 101\r\n');
    expect(out).toContain('m=video 30002/2 RTP/AVP 31\r\n');
    expect(out).toContain('a=rtcp:30001 IN IP4 203.0.113.5\r\n');
  });

  it('adds a media-level c= after m= when the section has none', () => {
    const out = new SdpEditor(SDP)
      .setConnection('2001:db8::99', { mediaIndex: 0 })
      .toString()
      .split('\r\n');
    expect(out[7]).toBe('c=IN IP6 2001:db8::99');
    expect(out.length).toBe(SDP.split('\r\n').length + 1);
  });

  it('property: setting a media port changes exactly that m= line', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 65535 }), (i, port) => {
        const e = new SdpEditor(SDP);
        const lineIndex = e.media()[i]!.lineIndex;
        e.setMediaPort(i, port);
        const diff = changed(SDP, e.toString());
        expect(diff.length <= 1).toBe(true);
        if (diff.length === 1) expect(diff[0]).toBe(lineIndex);
        expect(e.media()[i]!.port).toBe(port);
      }),
    );
  });

  it('rejects a body that is not SDP', () => {
    expect(() => new SdpEditor('hello')).toThrow(/v=/);
  });
});
