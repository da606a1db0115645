import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import {
  type ParseReason,
  parseMessage,
  type SipMessage,
  SipParseError,
  TransactionLayer,
  validateMessage,
} from '../src/index.js';

const dir4475 = join(import.meta.dirname, 'fixtures/rfc4475');
const dir5118 = join(import.meta.dirname, 'fixtures/rfc5118');

function load(dir: string, name: string): Buffer {
  return readFileSync(join(dir, `${name}.sip`));
}

/** Parse and validate as a server would; returns the error or undefined. */
function check(buf: Buffer): SipParseError | undefined {
  try {
    validateMessage(parseMessage(buf, { datagram: true }));
    return undefined;
  } catch (e) {
    if (e instanceof SipParseError) return e;
    throw e;
  }
}

// RFC 4475 §3.1.1 (valid), §3.3 and §3.4 (valid at the parser; the application decides)
const VALID = [
  'wsinv',
  'intmeth',
  'esc01',
  'escnull',
  'esc02',
  'lwsdisp',
  'longreq',
  'dblreq',
  'semiuri',
  'transports',
  'mpart01',
  'unreason',
  'noreason',
  'unkscm',
  'novelsc',
  'unksm2',
  'bext01',
  'invut',
  'regaut01',
  'zeromf',
  'cparam01',
  'cparam02',
  'regescrt',
  'sdp01',
  'inv2543',
];

// RFC 4475 §3.1.2 (invalid) and §3.3.1, §3.3.7, with the rule each one breaks
const INVALID: Record<string, { reason: ParseReason; status: number }> = {
  badinv01: { reason: 'via', status: 400 },
  clerr: { reason: 'truncated', status: 400 },
  ncl: { reason: 'content-length', status: 400 },
  scalar02: { reason: 'scalar-range', status: 400 },
  scalarlg: { reason: 'scalar-range', status: 400 },
  quotbal: { reason: 'name-addr', status: 400 },
  ltgtruri: { reason: 'request-uri', status: 400 },
  lwsruri: { reason: 'start-line', status: 400 },
  lwsstart: { reason: 'start-line', status: 400 },
  trws: { reason: 'start-line', status: 400 },
  escruri: { reason: 'request-uri', status: 400 },
  baddate: { reason: 'date', status: 400 },
  regbadct: { reason: 'name-addr', status: 400 },
  badaspec: { reason: 'name-addr', status: 400 },
  baddn: { reason: 'name-addr', status: 400 },
  badvers: { reason: 'version', status: 505 },
  mismatch01: { reason: 'cseq-method', status: 400 },
  mismatch02: { reason: 'cseq-method', status: 400 },
  bigcode: { reason: 'status-code', status: 400 },
  mcl01: { reason: 'content-length', status: 400 },
  insuf: { reason: 'header-missing', status: 400 },
  multi01: { reason: 'header-repeated', status: 400 },
};

describe('RFC 4475 torture messages', () => {
  it('has a fixture for every listed case and no unlisted fixture', () => {
    const files = readdirSync(dir4475)
      .map((f) => f.replace(/\.sip$/, ''))
      .sort();
    expect(files).toEqual([...VALID, ...Object.keys(INVALID)].sort());
  });

  for (const name of VALID) {
    it(`accepts ${name} and re-serialises it byte for byte`, () => {
      const buf = load(dir4475, name);
      expect(check(buf)).toBeUndefined();
      const msg = parseMessage(buf, { datagram: true });
      if (name !== 'dblreq') expect(msg.toBuffer().equals(buf)).toBe(true);
    });
  }

  for (const [name, want] of Object.entries(INVALID)) {
    it(`rejects ${name} with reason ${want.reason} (${want.status})`, () => {
      const err = check(load(dir4475, name));
      expect(err?.reason).toBe(want.reason);
      expect(err?.status).toBe(want.status);
    });
  }

  it('wsinv: folded, spaced and compact headers read as the RFC says', () => {
    const msg = parseMessage(load(dir4475, 'wsinv'));
    expect(msg.toTag()).toBe('1918181833n');
    expect(msg.fromTag()).toBe('98asjd8');
    expect(msg.from().displayName).toBe('"J Rosenberg \\\\\\""');
    expect(msg.maxForwards()).toBe(68);
    expect(msg.cseq()).toEqual({ seq: 9, method: 'INVITE' });
    const vias = msg.vias();
    expect(vias.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(msg.contacts()[0]?.q).toBe(0.33);
    expect(msg.header('NewFangledHeader')).toBe('newfangled value continued newfangled value');
    expect(msg.header('subject')).toBe('');
    expect(msg.routes()[0]?.uri).toBe(
      'sip:services.example.com;lr;unknownwith=value;unknown-no-value',
    );
    expect(msg.body.length).toBe(150);
  });

  it('esc02: an escaped header name is not Contact', () => {
    const msg = parseMessage(load(dir4475, 'esc02'));
    expect(msg.contacts().map((c) => c.uri)).toEqual([
      'sip:alias1@host1.example.com',
      'sip:alias3@host3.example.com',
    ]);
    expect(msg.topVia()?.rport).toBe(true);
  });

  it('dblreq: only the first message of a datagram is taken, by Content-Length', () => {
    const msg = parseMessage(load(dir4475, 'dblreq'), { datagram: true });
    expect(msg.method).toBe('REGISTER');
    expect(msg.body.length).toBe(0);
    expect(msg.toString().includes('INVITE')).toBe(false);
  });

  it('noreason: an empty reason phrase is kept', () => {
    const msg = parseMessage(load(dir4475, 'noreason'));
    expect(msg.status).toBe(100);
    expect(msg.reason).toBe('');
  });

  it('zeromf: Max-Forwards 0 parses (the proxy answers 483)', () => {
    expect(parseMessage(load(dir4475, 'zeromf')).maxForwards()).toBe(0);
  });

  it('inv2543: a Via without branch parses', () => {
    expect(parseMessage(load(dir4475, 'inv2543')).topVia()?.branch).toBeUndefined();
  });
});

const VALID_5118 = [
  'ipv6-good',
  'port-ambiguous',
  'port-unambiguous',
  'via-received-param-with-delim',
  'via-received-param-no-delim',
  'ipv6-in-sdp',
  'mult-ip-in-sdp',
  'ipv4-mapped-ipv6',
  'ipv6-correct-abnf-2-colons',
];
const INVALID_5118 = ['ipv6-bad', 'ipv6-bad-abnf-3-colons'];

describe('RFC 5118 IPv6 messages', () => {
  it('covers every fixture', () => {
    const files = readdirSync(dir5118)
      .map((f) => f.replace(/\.sip$/, ''))
      .sort();
    expect(files).toEqual([...VALID_5118, ...INVALID_5118].sort());
  });
  for (const name of VALID_5118) {
    it(`accepts ${name}`, () => {
      const buf = load(dir5118, name);
      expect(check(buf)).toBeUndefined();
      expect(parseMessage(buf).toBuffer().equals(buf)).toBe(true);
    });
  }
  for (const name of INVALID_5118) {
    it(`rejects ${name} as a bad Request-URI`, () => {
      expect(check(load(dir5118, name))?.reason).toBe('request-uri');
    });
  }
  it('reads IPv6 sent-by and received', () => {
    const msg = parseMessage(load(dir5118, 'via-received-param-with-delim'));
    expect(msg.topVia()?.host).toBe('[2001:db8::9:1]');
    expect(msg.topVia()?.received).toBe('[2001:db8::9:255]');
    const m2 = parseMessage(load(dir5118, 'ipv4-mapped-ipv6'));
    expect(m2.topVia()?.port).toBe(19823);
  });
});

describe('a server built on the transaction layer answers the malformed RFC 4475 requests', () => {
  // requests whose start line and headers parse, so a response can be built
  const answerable: Record<string, number> = {
    badinv01: 400,
    scalar02: 400,
    quotbal: 400,
    ltgtruri: 400,
    escruri: 400,
    baddate: 400,
    regbadct: 400,
    badaspec: 400,
    baddn: 400,
    mismatch01: 400,
    mismatch02: 400,
    multi01: 400,
    insuf: 400,
  };
  for (const [name, status] of Object.entries(answerable)) {
    it(`${name} → ${status} with the reason in the phrase`, () => {
      const sent: SipMessage[] = [];
      let delivered = 0;
      const layer = new TransactionLayer({
        clock: new VirtualClock(),
        send: (m) => sent.push(m),
        onRequest: () => {
          delivered++;
        },
      });
      layer.receive(parseMessage(load(dir4475, name), { datagram: true }), {
        transport: 'UDP',
        address: '192.0.2.1',
        port: 5060,
      });
      expect(delivered).toBe(0);
      expect(layer.counters.badRequests).toBe(1);
      expect(sent[0]?.status).toBe(status);
      expect(sent[0]?.reason).toBe(`Bad Request (${INVALID[name]!.reason})`);
    });
  }
});
