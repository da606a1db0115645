/** Contact records for tests: every field set, or only what every REGISTER gives. */
import type { ContactRecord } from '../src/model.js';

/** A record with every field set, for round-trip checks. */
export function sampleContact(id: string, over: Partial<ContactRecord> = {}): ContactRecord {
  return {
    id,
    aor: 'alice@example.com',
    uri: `sip:alice@192.0.2.1:5060;transport=udp;x=${id}`,
    params: ';+sip.instance="<urn:uuid:1>";reg-id=1',
    received: 'sip:198.51.100.1:40000',
    path: ['<sip:edge1.example.com;lr;received=sip:198.51.100.1%3A40000>', '<sip:edge2;lr>'],
    expires: 1_795_000_000_123,
    q: 0.5,
    callId: 'a84b4c76e66710@pc33',
    cseq: 314159,
    flags: 3,
    userAgent: 'Phone/1.0',
    socket: 'udp:10.0.0.1:5060',
    methods: 'INVITE,ACK,BYE',
    instance: 'urn:uuid:1',
    regId: 1,
    lastModified: 1_794_999_000_456,
    nodeId: 7,
    shtag: 'vip',
    ...over,
  };
}

/** `c` with every nullable field null, an empty Path and expires 0 (permanent). */
export function bareOf(c: ContactRecord): ContactRecord {
  return {
    ...c,
    received: null,
    path: [],
    expires: 0,
    q: null,
    userAgent: null,
    socket: null,
    methods: null,
    instance: null,
    regId: null,
    shtag: null,
  };
}

/**
 * A record with only what every REGISTER gives (no params, flags or optional fields), for
 * tests that set the few fields they look at in `over`.
 */
export function plainContact(id: string, over: Partial<ContactRecord> = {}): ContactRecord {
  return { ...bareOf(sampleContact(id)), params: '', flags: 0, ...over };
}
