/**
 * The dataset digest anti-entropy compares: an order-independent sum of two 32-bit hashes of
 * each binding's identity and version, kept up to date change by change (O(1) to read).
 */
import { FNV1A_OFFSET, FNV1A_PRIME } from '@sipedge/core';
import type { ContactRecord } from '../model.js';

/** FNV-1a's 32-bit prime, and murmur2's multiplier for the second, independent hash. */
const P1 = FNV1A_PRIME;
const P2 = 0x5bd1e995;

/** The running pair of hashes of `contactHash` (module state: no tuple per binding). */
let ha = 0;
let hb = 0;

function mixString(s: string): void {
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    ha = Math.imul(ha ^ ch, P1);
    hb = Math.imul(hb ^ ch, P2);
  }
  // a separator, so that ("ab", "c") and ("a", "bc") differ
  ha = Math.imul(ha ^ 0x10000, P1);
  hb = Math.imul(hb ^ 0x10000, P2);
}

/** An integer below 2^53 (ms timestamps, CSeq, node id) as two 32-bit words. */
function mixNumber(v: number): void {
  const lo = v >>> 0;
  const hi = Math.floor(v / 4294967296) >>> 0;
  ha = Math.imul(Math.imul(ha ^ lo, P1) ^ hi, P1);
  hb = Math.imul(Math.imul(hb ^ lo, P2) ^ hi, P2);
}

/** Murmur3's 32-bit finaliser: every input bit reaches every output bit. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Two 32-bit hashes of a binding's identity and version (id, Call-ID, CSeq, last modified,
 * node id, expiry), read straight from the fields: returns the first, leaves the second in
 * `hb`. Every node of a cluster must compute the same (anti-entropy compares the sums).
 */
function contactHash(c: ContactRecord): number {
  ha = FNV1A_OFFSET;
  hb = 0x9e3779b9;
  mixString(c.id);
  mixString(c.callId);
  mixNumber(c.cseq);
  mixNumber(c.lastModified);
  mixNumber(c.nodeId);
  mixNumber(c.expires);
  hb = fmix(hb ^ 0x2545f491);
  return fmix(ha);
}

/** An order-independent digest of a set of bindings: `count:h1:h2` (sums of their hashes). */
export class DigestSum {
  count = 0;
  h1 = 0;
  h2 = 0;

  add(c: ContactRecord): void {
    const a = contactHash(c);
    this.count++;
    this.h1 = (this.h1 + a) >>> 0;
    this.h2 = (this.h2 + (hb & 0x1fffff)) >>> 0;
  }

  remove(c: ContactRecord): void {
    const a = contactHash(c);
    this.count--;
    this.h1 = (this.h1 - a) >>> 0;
    this.h2 = (this.h2 - (hb & 0x1fffff)) >>> 0;
  }

  toString(): string {
    return `${this.count}:${this.h1.toString(16)}:${this.h2.toString(16)}`;
  }
}

/** The digest `UsrlocReplicator.digest()` keeps incrementally, computed from scratch. */
export function contactsDigest(contacts: Iterable<ContactRecord>): string {
  const d = new DigestSum();
  for (const c of contacts) d.add(c);
  return d.toString();
}
