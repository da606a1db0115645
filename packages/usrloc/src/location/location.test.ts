import { VirtualClock } from '@sipedge/core/testing';
import { EventBus, StatisticsRegistry } from '@sipedge/mi';
import { parseMessage } from '@sipedge/sip';
import { describe, expect, it } from 'vitest';
import { sampleContact } from '../../test/contacts.js';
import { Registrar } from '../registrar/registrar.js';
import { MemoryStore } from '../store/memory.js';
import type { ContactStore } from '../store/store.js';
import { USRLOC_EVENTS } from './events.js';
import { Location } from './location.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

function reg(contact: string, cseq: number, user = 'alice'): Buffer {
  return Buffer.from(
    [
      'REGISTER sip:example.com SIP/2.0',
      'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKx',
      `To: <sip:${user}@example.com>`,
      `From: <sip:${user}@example.com>;tag=1`,
      `Call-ID: cid-${user}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: ${contact}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

describe('Location expiry and events', () => {
  it('expires bindings on the injected clock and raises contact and AoR events', () => {
    const clock = new VirtualClock(T0);
    const events = new EventBus({ clock });
    const seen: string[] = [];
    for (const e of USRLOC_EVENTS) {
      events.register(e);
      events.on(e, (p) => seen.push(`${e}:${String(p.uri ?? p.aor)}`));
    }
    const location = new Location({ clock, events, timerIntervalMs: 1000 });
    const registrar = new Registrar(location);
    location.start();
    registrar.save(parseMessage(reg('<sip:a@192.0.2.1>;expires=60', 1)));
    registrar.save(parseMessage(reg('<sip:b@192.0.2.2>;expires=120', 2)));
    expect(seen).toEqual([
      'E_UL_AOR_INSERT:alice@example.com',
      'E_UL_CONTACT_INSERT:sip:a@192.0.2.1',
      'E_UL_CONTACT_INSERT:sip:b@192.0.2.2',
    ]);
    seen.length = 0;
    registrar.save(parseMessage(reg('<sip:b@192.0.2.2>;expires=120', 3)));
    registrar.save(parseMessage(reg('<sip:b@192.0.2.2;transport=tcp>;expires=120', 4)));
    expect(seen).toEqual([
      'E_UL_CONTACT_REFRESH:sip:b@192.0.2.2',
      'E_UL_CONTACT_INSERT:sip:b@192.0.2.2;transport=tcp',
    ]);
    seen.length = 0;
    clock.advance(59_000);
    expect(location.contactCount).toBe(3);
    clock.advance(2_000);
    expect(location.contactCount).toBe(2);
    expect(seen).toEqual(['E_UL_CONTACT_DELETE:sip:a@192.0.2.1']);
    clock.advance(120_000);
    expect(location.contactCount).toBe(0);
    expect(location.aorCount).toBe(0);
    expect(seen.at(-1)).toBe('E_UL_AOR_DELETE:alice@example.com');
    location.stop();
    expect(clock.pending).toBe(0);
  });

  it('change listeners get the reason, for a replicator', () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    const registrar = new Registrar(location);
    const got: string[] = [];
    location.onChange((cs) => {
      for (const c of cs) got.push(`${c.type}/${c.reason}/${c.contact.nodeId}`);
    });
    registrar.save(parseMessage(reg('<sip:a@192.0.2.1>;expires=60', 1)));
    clock.advance(61_000);
    location.expire();
    expect(got).toEqual(['insert/register/1', 'delete/expired/1']);
  });

  it('a registration after expiry replaces the expired binding in the same commit', () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    const registrar = new Registrar(location);
    registrar.save(parseMessage(reg('<sip:a@192.0.2.1>;expires=60', 1)));
    clock.advance(61_000);
    const res = registrar.save(parseMessage(reg('<sip:a@192.0.2.1>;expires=60', 2)));
    expect(res.status).toBe(200);
    expect(location.contactCount).toBe(1);
    expect(location.contacts('alice@example.com')[0]?.cseq).toBe(2);
  });
});

describe('store failures on timers', () => {
  it('a failing store during expiry is counted and retried on the next tick, never thrown', () => {
    const clock = new VirtualClock(T0);
    let fail = true;
    const inner = new MemoryStore();
    const store: ContactStore = {
      load: () => inner.load(),
      write: (b) => {
        if (fail && b.del.length > 0) throw new Error('disk full');
        inner.write(b);
      },
      flush: () => {},
      close: () => {},
    };
    const stats = new StatisticsRegistry();
    const location = new Location({ clock, store, stats, timerIntervalMs: 1000 });
    new Registrar(location).save(parseMessage(reg('<sip:a@192.0.2.1>;expires=60', 1)));
    location.start();
    expect(() => clock.advance(61_000)).not.toThrow();
    expect(stats.get('usrloc:timer_errors')).toBeGreaterThan(0);
    expect(location.contactCount).toBe(1);
    fail = false;
    clock.advance(1000);
    expect(location.contactCount).toBe(0);
    expect(inner.load()).toEqual([]);
    location.stop();
  });
});

describe('Location change listeners', () => {
  it('get the record each change replaced, in short and in long change lists', () => {
    const clock = new VirtualClock(T0);
    const rec = (id: string, cseq: number) =>
      sampleContact(id, { aor: 'bob@example.com', cseq, expires: T0 + 3_600_000 });
    for (const n of [3, 20]) {
      const loc = new Location({ clock });
      const seen: string[] = [];
      loc.onChange((cs) => {
        for (const c of cs)
          seen.push(`${c.type} ${c.contact.id}/${c.contact.cseq} <- ${c.previous?.cseq ?? '-'}`);
      });
      const first = Array.from({ length: n }, (_, i) => rec(`a${i}`, 1));
      loc.commit(
        'bob@example.com',
        first,
        first.map((c) => ({ type: 'insert' as const, contact: c, reason: 'register' as const })),
      );
      // one commit changing a0 twice, deleting a1 and re-inserting it, among the others
      const a0v2 = rec('a0', 2);
      const a0v3 = rec('a0', 3);
      const a1v4 = rec('a1', 4);
      const rest = first.slice(2).map((c) => rec(c.id, 5));
      loc.commit(
        'bob@example.com',
        [a0v3, a1v4, ...rest],
        [
          { type: 'update', contact: a0v2, reason: 'register' },
          { type: 'delete', contact: first[1]!, reason: 'mi' },
          ...rest.map((c) => ({
            type: 'refresh' as const,
            contact: c,
            reason: 'register' as const,
          })),
          { type: 'refresh', contact: a0v3, reason: 'register' },
          { type: 'insert', contact: a1v4, reason: 'register' },
        ],
      );
      const second = seen.slice(n);
      expect(second[0]).toBe('update a0/2 <- 1');
      expect(second[1]).toBe('delete a1/1 <- 1');
      expect(second[2]).toBe('refresh a2/5 <- 1');
      expect(second.at(-2)).toBe('refresh a0/3 <- 2');
      expect(second.at(-1)).toBe('insert a1/4 <- -');
      expect(seen.slice(0, n).every((s) => s.endsWith('<- -'))).toBe(true);
    }
  });
});
