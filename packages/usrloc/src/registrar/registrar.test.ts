import { VirtualClock } from '@sipedge/core/testing';
import { parseMessage, type SipMessage } from '@sipedge/sip';
import { describe, expect, it } from 'vitest';
import { Location } from '../location/location.js';
import { MemoryStore } from '../store/memory.js';
import type { ContactStore } from '../store/store.js';
import type { RegistrarOptions } from './options.js';
import { Registrar } from './registrar.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

function register(
  headers: string[],
  opts: { callId?: string; cseq?: number; to?: string } = {},
): SipMessage {
  const lines = [
    'REGISTER sip:example.com SIP/2.0',
    'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds',
    'Max-Forwards: 70',
    `To: ${opts.to ?? '<sip:alice@Example.COM>'}`,
    'From: <sip:alice@example.com>;tag=456248',
    `Call-ID: ${opts.callId ?? 'c1@192.0.2.10'}`,
    `CSeq: ${opts.cseq ?? 1} REGISTER`,
    ...headers,
    'Content-Length: 0',
    '',
    '',
  ];
  return parseMessage(Buffer.from(lines.join('\r\n'), 'latin1'));
}

function setup(options: RegistrarOptions = {}, store?: ContactStore) {
  const clock = new VirtualClock(T0);
  const location = new Location(store === undefined ? { clock } : { clock, store });
  const registrar = new Registrar(location, options);
  return { clock, location, registrar };
}

/** A store whose every write fails, as on a full disk. */
function failingStore(): ContactStore {
  return {
    load: () => [],
    write: () => {
      throw new Error('disk full');
    },
    flush: () => {},
    close: () => {},
  };
}

function contactsOf(res: SipMessage): string[] {
  return res.values('contact');
}

describe('Registrar.save', () => {
  it('adds a binding and lists it with its remaining expires, a Date and a To tag', () => {
    const { registrar, location } = setup();
    const res = registrar.save(register(['Contact: <sip:alice@192.0.2.10:5060>', 'Expires: 600']), {
      received: 'sip:198.51.100.1:40000',
    });
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual(['<sip:alice@192.0.2.10:5060>;expires=600']);
    expect(res.header('date')).toBe('Mon, 23 Nov 2026 12:00:00 GMT');
    expect(res.toTag()).toBeDefined();
    expect(location.contacts('alice@example.com')).toHaveLength(1);
    expect(location.contacts('alice@example.com')[0]?.received).toBe('sip:198.51.100.1:40000');
  });

  it('dates each 200 with the second it was answered in, across second boundaries', () => {
    const { registrar, clock } = setup();
    const date = (cseq: number) =>
      registrar.save(register(['Contact: <sip:alice@192.0.2.10:5060>'], { cseq })).header('date');
    expect(date(1)).toBe('Mon, 23 Nov 2026 12:00:00 GMT');
    clock.advance(999);
    expect(date(2)).toBe('Mon, 23 Nov 2026 12:00:00 GMT');
    clock.advance(1);
    expect(date(3)).toBe('Mon, 23 Nov 2026 12:00:01 GMT');
    clock.advance(3_600_000);
    expect(date(4)).toBe('Mon, 23 Nov 2026 13:00:01 GMT');
  });

  it('canonicalises the AoR: unescaped user, host lower-cased, params and port dropped', () => {
    const { registrar, location } = setup();
    registrar.save(
      register(['Contact: <sip:a@192.0.2.10>'], {
        to: '<sip:%61lice@EXAMPLE.com:5070;user=phone>',
      }),
    );
    expect([...location.aors()]).toEqual(['alice@example.com']);
    expect(registrar.lookup('sip:alice@example.com')).toHaveLength(1);
    expect(registrar.lookup('sip:Alice@example.com')).toHaveLength(0); // user is case-sensitive
  });

  it('a REGISTER without Contact is a fetch listing every binding', () => {
    const { registrar, clock } = setup();
    registrar.save(
      register(['Contact: <sip:a@192.0.2.10>;expires=100', 'Contact: <sip:b@192.0.2.11>;q=0.5']),
    );
    clock.advance(30_000);
    const res = registrar.save(register([], { cseq: 2 }));
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual([
      '<sip:a@192.0.2.10>;expires=70',
      '<sip:b@192.0.2.11>;q=0.5;expires=3570',
    ]);
  });

  it('matches contacts by URI equality, not string equality, and updates in place', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:alice@192.0.2.10;transport=udp>']));
    const id = location.contacts('alice@example.com')[0]?.id;
    const res = registrar.save(
      register(['Contact: <sip:alice@192.0.2.10;TRANSPORT=UDP>;expires=120'], { cseq: 2 }),
    );
    expect(res.status).toBe(200);
    expect(location.contacts('alice@example.com')).toHaveLength(1);
    expect(location.contacts('alice@example.com')[0]?.id).toBe(id);
    expect(contactsOf(res)[0]).toContain(';expires=120');
  });

  it('expires: contact param beats the header, header beats the default, malformed → default', () => {
    const { registrar } = setup({ defaultExpires: 1800 });
    const res = registrar.save(
      register([
        'Expires: 900',
        'Contact: <sip:a@192.0.2.1>;expires=300, <sip:b@192.0.2.2>, <sip:c@192.0.2.3>;expires=soon',
      ]),
    );
    expect(contactsOf(res)).toEqual([
      '<sip:a@192.0.2.1>;expires=300',
      '<sip:b@192.0.2.2>;expires=900',
      '<sip:c@192.0.2.3>;expires=1800',
    ]);
    const { registrar: r2 } = setup({ defaultExpires: 1800 });
    expect(contactsOf(r2.save(register(['Contact: <sip:a@192.0.2.1>'])))).toEqual([
      '<sip:a@192.0.2.1>;expires=1800',
    ]);
  });

  it('423 with Min-Expires for a too brief interval, and nothing is stored', () => {
    const { registrar, location } = setup({ minExpires: 60 });
    const res = registrar.save(
      register(['Contact: <sip:a@192.0.2.1>;expires=30, <sip:b@192.0.2.2>']),
    );
    expect(res.status).toBe(423);
    expect(res.header('min-expires')).toBe('60');
    expect(location.contactCount).toBe(0);
  });

  it('absurd expires are capped at 2^32-1 s, not rejected and not overflowing', () => {
    const { registrar, location } = setup();
    const res = registrar.save(
      register(['Contact: <sip:a@192.0.2.1>;expires=99999999999999999999']),
    );
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual([`<sip:a@192.0.2.1>;expires=${2 ** 32 - 1}`]);
    expect(location.contacts('alice@example.com')[0]?.expires).toBe(T0 + (2 ** 32 - 1) * 1000);
  });

  it('shortens lifetimes above max_expires', () => {
    const { registrar } = setup({ maxExpires: 600 });
    expect(
      contactsOf(registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=7200']))),
    ).toEqual(['<sip:a@192.0.2.1>;expires=600']);
  });

  it('expires=0 removes one binding; the other stays', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.2>']));
    const res = registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=0'], { cseq: 2 }));
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual(['<sip:b@192.0.2.2>;expires=3600']);
    expect(location.contactCount).toBe(1);
  });

  it('Contact: * with Expires: 0 removes every binding', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.2>']));
    registrar.save(register(['Contact: <sip:c@192.0.2.3>'], { callId: 'other' }));
    const res = registrar.save(register(['Contact: *', 'Expires: 0'], { cseq: 2 }));
    expect(res.status).toBe(200);
    expect(contactsOf(res)).toEqual([]);
    expect(location.contactCount).toBe(0);
    expect(location.aorCount).toBe(0);
  });

  it('Contact: * without Expires: 0, or with other contacts, is a 400 and changes nothing', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:a@192.0.2.1>']));
    for (const h of [
      ['Contact: *'],
      ['Contact: *', 'Expires: 10'],
      ['Contact: *, <sip:b@192.0.2.2>', 'Expires: 0'],
    ]) {
      const res = registrar.save(register(h, { cseq: 5 }));
      expect(res.status).toBe(400);
      expect(res.header('p-registrar-error')).toBeDefined();
    }
    expect(location.contactCount).toBe(1);
  });

  it('Contact: * with a CSeq not above a binding of the same Call-ID fails as a whole (500)', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:a@192.0.2.1>'], { cseq: 10 }));
    registrar.save(register(['Contact: <sip:b@192.0.2.2>'], { callId: 'x', cseq: 1 }));
    const res = registrar.save(register(['Contact: *', 'Expires: 0'], { cseq: 9 }));
    expect(res.status).toBe(500);
    expect(location.contactCount).toBe(2);
  });

  it('same Call-ID with a lower CSeq is out of order: 500, the binding is untouched', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=600'], { cseq: 5 }));
    const res = registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=0'], { cseq: 4 }));
    expect(res.status).toBe(500);
    expect(location.contacts('alice@example.com')[0]?.cseq).toBe(5);
  });

  it('equal CSeq within the window is a retransmission (200, no change); after it a 500', () => {
    const { registrar, location, clock } = setup({ retransmissionWindowMs: 20_000 });
    registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=600'], { cseq: 5 }));
    clock.advance(5_000);
    const again = registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=600'], { cseq: 5 }));
    expect(again.status).toBe(200);
    expect(contactsOf(again)).toEqual(['<sip:a@192.0.2.1>;expires=595']);
    clock.advance(60_000);
    const late = registrar.save(register(['Contact: <sip:a@192.0.2.1>;expires=600'], { cseq: 5 }));
    expect(late.status).toBe(500);
    expect(location.contacts('alice@example.com')[0]?.lastModified).toBe(T0);
  });

  it('a different Call-ID replaces the binding whatever its CSeq', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:a@192.0.2.1>'], { cseq: 50 }));
    const res = registrar.save(
      register(['Contact: <sip:a@192.0.2.1>;expires=90'], { callId: 'reboot', cseq: 1 }),
    );
    expect(res.status).toBe(200);
    expect(location.contacts('alice@example.com')[0]?.callId).toBe('reboot');
  });

  it('one atomic decision: a bad CSeq on the second contact leaves the first unchanged', () => {
    const { registrar, location } = setup();
    registrar.save(register(['Contact: <sip:b@192.0.2.2>'], { cseq: 10 }));
    const res = registrar.save(
      register(['Contact: <sip:new@192.0.2.9>, <sip:b@192.0.2.2>;expires=0'], { cseq: 3 }),
    );
    expect(res.status).toBe(500);
    expect(location.contacts('alice@example.com').map((c) => c.uri)).toEqual(['sip:b@192.0.2.2']);
  });

  it('a failing store gives 500 and leaves memory untouched', () => {
    const { registrar, location } = setup({}, failingStore());
    const res = registrar.save(register(['Contact: <sip:a@192.0.2.1>']));
    expect(res.status).toBe(500);
    expect(location.contactCount).toBe(0);
  });

  it('max contacts, reject mode: 503 and nothing written', () => {
    const { registrar, location } = setup({ maxContacts: 2 });
    registrar.save(register(['Contact: <sip:a@192.0.2.1>, <sip:b@192.0.2.2>']));
    const res = registrar.save(register(['Contact: <sip:c@192.0.2.3>'], { cseq: 2 }));
    expect(res.status).toBe(503);
    expect(res.header('p-registrar-error')).toBe('Too many registered contacts');
    expect(location.contactCount).toBe(2);
  });

  it('max contacts, replace-oldest: the oldest binding is evicted in the same commit', () => {
    const { registrar, location, clock } = setup({
      maxContacts: 2,
      maxContactsMode: 'replace-oldest',
    });
    const changes: string[] = [];
    location.onChange((cs) => changes.push(cs.map((c) => `${c.type}:${c.reason}`).join(',')));
    registrar.save(register(['Contact: <sip:a@192.0.2.1>'], { cseq: 1 }));
    clock.advance(1000);
    registrar.save(register(['Contact: <sip:b@192.0.2.2>'], { cseq: 2 }));
    clock.advance(1000);
    const res = registrar.save(register(['Contact: <sip:c@192.0.2.3>'], { cseq: 3 }));
    expect(res.status).toBe(200);
    expect(contactsOf(res).map((c) => c.slice(0, c.indexOf('>') + 1))).toEqual([
      '<sip:b@192.0.2.2>',
      '<sip:c@192.0.2.3>',
    ]);
    expect(changes[2]).toBe('insert:register,delete:evicted');
    const tooMany = registrar.save(
      register(['Contact: <sip:x@192.0.2.4>, <sip:y@192.0.2.5>, <sip:z@192.0.2.6>'], { cseq: 4 }),
    );
    expect(tooMany.status).toBe(503);
  });

  it('too many Contacts in one request: 400 before anything else', () => {
    const { registrar } = setup({ maxContactsPerRequest: 4 });
    const many = Array.from({ length: 1000 }, (_, i) => `<sip:u${i}@192.0.2.1>`).join(', ');
    const res = registrar.save(register([`Contact: ${many}`]));
    expect(res.status).toBe(400);
    expect(res.header('p-registrar-error')).toBe('Too many Contacts in request');
  });

  it('broken Contact, q or To give a 400 with the reason', () => {
    const { registrar, location } = setup();
    expect(registrar.save(register(['Contact: <sip:a@192.0.2.1'])).status).toBe(400);
    expect(registrar.save(register(['Contact: <sip:a@192.0.2.1>;q=2'])).status).toBe(400);
    expect(
      registrar.save(register(['Contact: <sip:a@192.0.2.1>'], { to: '<tel:+123>' })).status,
    ).toBe(400);
    expect(location.contactCount).toBe(0);
  });

  it('404 for a domain we do not serve', () => {
    const { registrar } = setup({ isLocalDomain: (h) => h === 'example.com' });
    expect(
      registrar.save(register(['Contact: <sip:a@192.0.2.1>'], { to: '<sip:bob@other.net>' }))
        .status,
    ).toBe(404);
    expect(registrar.save(register(['Contact: <sip:a@192.0.2.1>'])).status).toBe(200);
  });

  it('420 for an unknown Require extension', () => {
    const { registrar } = setup();
    const res = registrar.save(register(['Require: foo', 'Contact: <sip:a@192.0.2.1>']));
    expect(res.status).toBe(420);
    expect(res.header('unsupported')).toBe('foo');
  });
});

describe('Registrar.saveMany (group commit)', () => {
  it('decides in order, writes one store batch, then answers', () => {
    const writes: number[] = [];
    const inner = new MemoryStore();
    const store: ContactStore = {
      load: () => inner.load(),
      write: (b) => {
        writes.push(b.put.length + b.del.length);
        inner.write(b);
      },
      flush: () => {},
      close: () => {},
    };
    const { registrar, location } = setup({}, store);
    const res = registrar.saveMany([
      { request: register(['Contact: <sip:a@192.0.2.1>'], { cseq: 1 }) },
      { request: register(['Contact: <sip:b@192.0.2.2>'], { cseq: 2 }) },
      { request: register(['Contact: <sip:a@192.0.2.1>;expires=0'], { cseq: 3 }) },
      { request: register(['Contact: <sip:c@192.0.2.3>;q=7'], { cseq: 4 }) },
      { request: register(['Contact: <sip:b@192.0.2.2>'], { cseq: 1 }) }, // out of order
    ]);
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 400, 500]);
    expect(contactsOf(res[1]!)).toHaveLength(2);
    expect(contactsOf(res[2]!)).toEqual(['<sip:b@192.0.2.2>;expires=3600']);
    expect(writes).toEqual([1]); // a inserted then removed: only b is written
    expect(inner.load().map((c) => c.uri)).toEqual(['sip:b@192.0.2.2']);
    expect(location.contacts('alice@example.com').map((c) => c.uri)).toEqual(['sip:b@192.0.2.2']);
  });

  it('a failed group write answers 500 to every accepted REGISTER and changes nothing', () => {
    const { registrar, location } = setup({}, failingStore());
    const res = registrar.saveMany([
      { request: register(['Contact: <sip:a@192.0.2.1>']) },
      { request: register(['Contact: *']) },
      { request: register(['Contact: <sip:b@192.0.2.2>'], { to: '<sip:bob@example.com>' }) },
    ]);
    expect(res.map((r) => r.status)).toEqual([500, 400, 500]);
    expect(location.contactCount).toBe(0);
  });
});

describe('Path (RFC 3327)', () => {
  const PATH = 'Path: <sip:edge1.example.com;lr>, <sip:edge2.example.com;lr>';

  it('strict: Path without Supported: path is a 420 decided before writing', () => {
    const { registrar, location } = setup();
    const res = registrar.save(register([PATH, 'Contact: <sip:a@192.0.2.1>']));
    expect(res.status).toBe(420);
    expect(res.header('unsupported')).toBe('path');
    expect(location.contactCount).toBe(0);
  });

  it('stores the Path, echoes it in the 200, and lookup routes through it', () => {
    const { registrar } = setup();
    const res = registrar.save(register(['Supported: path', PATH, 'Contact: <sip:a@192.0.2.1>']), {
      received: 'sip:198.51.100.1:5060',
    });
    expect(res.status).toBe(200);
    expect(res.values('path')).toEqual([
      '<sip:edge1.example.com;lr>',
      '<sip:edge2.example.com;lr>',
    ]);
    const [b] = registrar.lookup('sip:alice@example.com');
    expect(b?.route).toEqual(['<sip:edge1.example.com;lr>', '<sip:edge2.example.com;lr>']);
    expect(b?.destination).toBe('sip:edge1.example.com;lr');
    expect(b?.received).toBe('sip:198.51.100.1:5060');
  });

  it("ownPath: the edge's own hop is stored first, not echoed, and needs no Supported: path", () => {
    const { registrar } = setup();
    const own = '<sip:10.0.0.1:5060;lr;received=sip:198.51.100.1:4000>';
    const res = registrar.save(register(['Contact: <sip:a@192.0.2.1>']), { ownPath: own });
    expect(res.status).toBe(200);
    expect(res.values('path')).toEqual([]);
    const [b] = registrar.lookup('sip:alice@example.com');
    expect(b?.route).toEqual([own]);
    expect(b?.destination).toBe('sip:10.0.0.1:5060;lr;received=sip:198.51.100.1:4000');
    const both = registrar.save(
      register(['Supported: path', PATH, 'Contact: <sip:b@192.0.2.2>'], {
        to: '<sip:bob@example.com>',
      }),
      { ownPath: own },
    );
    expect(both.values('path')).toHaveLength(2);
    expect(registrar.lookup('sip:bob@example.com')[0]?.route).toEqual([
      own,
      '<sip:edge1.example.com;lr>',
      '<sip:edge2.example.com;lr>',
    ]);
  });

  it('lazy: stored without Supported: path but not echoed', () => {
    const { registrar } = setup({ pathMode: 'lazy' });
    const res = registrar.save(register([PATH, 'Contact: <sip:a@192.0.2.1>']));
    expect(res.status).toBe(200);
    expect(res.values('path')).toEqual([]);
    expect(registrar.lookup('alice@example.com')[0]?.route).toHaveLength(2);
  });

  it('Path whose first hop lacks ;lr is a 400', () => {
    const { registrar, location } = setup();
    const res = registrar.save(
      register(['Supported: path', 'Path: <sip:edge1.example.com>', 'Contact: <sip:a@192.0.2.1>']),
    );
    expect(res.status).toBe(400);
    expect(res.header('p-registrar-error')).toBe('Path without lr');
    expect(location.contactCount).toBe(0);
  });
});

describe('RFC 5626 keys', () => {
  it('keys by +sip.instance and reg-id: a new contact URI replaces the flow', () => {
    const { registrar, location } = setup();
    const inst = '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"';
    registrar.save(register([`Contact: <sip:a@192.0.2.1:5060>;${inst};reg-id=1`]));
    const res = registrar.save(
      register([`Contact: <sip:a@203.0.113.5:61000>;${inst};reg-id=1`], { callId: 'c2' }),
    );
    expect(res.status).toBe(200);
    const list = location.contacts('alice@example.com');
    expect(list).toHaveLength(1);
    expect(list[0]?.uri).toBe('sip:a@203.0.113.5:61000');
    expect(list[0]?.instance).toBe('urn:uuid:00000000-0000-1000-8000-000A95A0E128');
    expect(list[0]?.regId).toBe(1);
    registrar.save(
      register([`Contact: <sip:a@203.0.113.5:61001>;${inst};reg-id=2`], { callId: 'c2', cseq: 2 }),
    );
    expect(location.contacts('alice@example.com')).toHaveLength(2);
  });
});

describe('Registrar.lookup', () => {
  it('returns valid bindings in q order, received as destination without Path', () => {
    const { registrar, clock } = setup();
    registrar.save(
      register([
        'Contact: <sip:low@192.0.2.1>;q=0.1, <sip:high@192.0.2.2>;q=0.9, <sip:short@192.0.2.3>;q=1;expires=60',
      ]),
      { received: 'sip:198.51.100.9:1234' },
    );
    expect(registrar.lookup('sip:alice@example.com').map((b) => b.uri)).toEqual([
      'sip:short@192.0.2.3',
      'sip:high@192.0.2.2',
      'sip:low@192.0.2.1',
    ]);
    clock.advance(61_000);
    const after = registrar.lookup('<sip:alice@example.com>');
    expect(after.map((b) => b.uri)).toEqual(['sip:high@192.0.2.2', 'sip:low@192.0.2.1']);
    expect(after[0]?.destination).toBe('sip:198.51.100.9:1234');
    expect(registrar.lookup('sip:nobody@example.com')).toEqual([]);
  });
});
