/**
 * Live replication with OpenSIPS nodes in layout 5 (docs/protocols/usrloc-replication.md §8.6):
 * a sipedge change as the packets an OpenSIPS usrloc would send for it, and an OpenSIPS packet
 * as the remote change it means for the bindings held. No sockets, no clock: the replicator
 * sends and applies.
 */
import { fnv1aPair } from '@sipedge/core';
import type { ContactChange, RemoteChange } from '../../location/changes.js';
import { type ContactRecord, isValid } from '../../model.js';
import { encodeUlPacket, encodeUlSyncChunk, ulPacketType } from './codec.js';
import { ContactMatchMode, type UlContact, type UlPacket } from './packets.js';
import { contactFromOpenSips, contactToOpenSips } from './record.js';

/**
 * The sipedge id of a binding an OpenSIPS node wrote and no sipedge node has named yet: made
 * from its AoR, Contact and Call-ID, so every sipedge node that hears of it (live or in a sync)
 * picks the same.
 */
export function openSipsContactId(aor: string, uri: string, callId: string): string {
  const key = `${aor}\u0000${uri}\u0000${callId}`;
  const [a, b] = fnv1aPair(key);
  return `os-${a.toString(16)}${b.toString(16)}`;
}

/**
 * The binding held that an OpenSIPS packet names: the one with that Contact and Call-ID, else
 * (unless the sender matches on Contact and Call-ID) the one with that Contact.
 */
export function findOpenSipsContact(
  held: readonly ContactRecord[],
  uri: string,
  callId: string,
  mode: number,
): ContactRecord | undefined {
  const same = held.find((c) => c.uri === uri && c.callId === callId);
  if (same !== undefined || mode === ContactMatchMode.CONTACT_CALLID) return same;
  return held.find((c) => c.uri === uri);
}

/** One packet body for the capability, with its type. */
export interface UlOutPacket {
  readonly type: number;
  readonly body: Buffer;
}

function out(p: UlPacket): UlOutPacket {
  return { type: ulPacketType(p), body: encodeUlPacket(p) };
}

/**
 * What an OpenSIPS node sends for one sipedge change: a contact insert (after an AoR insert when
 * the AoR is new), a contact update (sipedge's updates and refreshes), or a contact delete
 * (followed by an AoR delete when the AoR is left empty). `aorIsNew` / `aorIsEmpty` say how the
 * AoR stands after the change.
 */
export function ulPacketsOf(
  ch: ContactChange,
  domain: string,
  aor: { readonly isNew: boolean; readonly isEmpty: boolean },
): UlOutPacket[] {
  const c = ch.contact;
  if (ch.type === 'delete') {
    const del = out({
      kind: 'contact_delete',
      ref: {
        domain,
        aor: c.aor,
        contact: c.uri,
        callId: c.callId,
        cseq: c.cseq,
        match: { mode: ContactMatchMode.NONE, params: [] },
      },
    });
    return aor.isEmpty ? [del, out({ kind: 'aor_delete', domain, aor: c.aor })] : [del];
  }
  const contact: UlContact = contactToOpenSips(c, c.opensips, { domain });
  if (ch.type !== 'insert') return [out({ kind: 'contact_update', contact })];
  const ins = out({ kind: 'contact_insert', contact });
  if (!aor.isNew) return [ins];
  const record = { domain, aor: c.aor, label: 0, nextContactLabel: 0, kvStore: '' };
  return [out({ kind: 'aor_insert', record }), ins];
}

/**
 * How the AoR of `ch` stands after `changes` (all of one AoR, `ch` at `index`; `held` = its
 * bindings now): new with this change (its first insert, and every binding held came with
 * the batch), or left empty by a delete.
 */
export function aorStanding(
  ch: ContactChange,
  changes: readonly ContactChange[],
  index: number,
  held: readonly ContactRecord[],
): { isNew: boolean; isEmpty: boolean } {
  if (ch.type === 'delete') return { isNew: false, isEmpty: held.length === 0 };
  const inserted = new Set<string>();
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i] as ContactChange;
    if (c.type !== 'insert') continue;
    if (inserted.size === 0 && i !== index) return { isNew: false, isEmpty: false };
    inserted.add(c.contact.id);
  }
  return { isNew: held.every((c) => inserted.has(c.id)), isEmpty: false };
}

/** The usrloc table a packet is about. */
export function ulDomainOf(p: UlPacket): string {
  switch (p.kind) {
    case 'aor_insert':
      return p.record.domain;
    case 'aor_delete':
      return p.domain;
    case 'contact_delete':
      return p.ref.domain;
    default:
      return p.contact.domain;
  }
}

/** What an OpenSIPS packet means for the bindings held. */
export type UlApply =
  | { readonly kind: 'change'; readonly change: RemoteChange }
  | { readonly kind: 'expired' }
  /** Nothing to do: an AoR packet, a delete of what is not held, a stale delete. */
  | { readonly kind: 'none' };

/**
 * The remote change an OpenSIPS packet from node `src` makes, against `held` (the bindings of
 * its AoR held now). AoR packets change nothing here: an OpenSIPS node creates the AoR with its
 * first contact and deletes it only once its contacts are gone (each by its own packet, or by
 * expiry, which every node does itself).
 */
export function ulApplyOf(
  p: UlPacket,
  src: number,
  held: (aor: string) => readonly ContactRecord[],
  now: number,
): UlApply {
  switch (p.kind) {
    case 'aor_insert':
    case 'aor_delete':
      return { kind: 'none' };
    case 'contact_delete': {
      const r = p.ref;
      const local = findOpenSipsContact(held(r.aor), r.contact, r.callId, r.match.mode);
      // OpenSIPS drops a delete older than the binding it names (same Call-ID, lower CSeq)
      if (local === undefined || (local.callId === r.callId && r.cseq < local.cseq))
        return { kind: 'none' };
      return { kind: 'change', change: { type: 'delete', contact: local, at: now, nodeId: src } };
    }
    case 'contact_insert':
    case 'contact_update': {
      const c = p.contact;
      const id = openSipsIdOf(held(c.aor), c);
      const contact = openSipsRecord(c, id, src);
      if (contact.expires !== 0 && contact.expires <= now) return { kind: 'expired' };
      return {
        kind: 'change',
        change: { type: 'put', contact, at: contact.lastModified, nodeId: src },
      };
    }
  }
}

/**
 * The binding held that an OpenSIPS contact names: by the OpenSIPS contact id stored with it,
 * else by Contact (and Call-ID) as `findOpenSipsContact`.
 */
export function findOpenSipsContactById(
  held: readonly ContactRecord[],
  c: UlContact,
): ContactRecord | undefined {
  if (c.contactId !== 0n) {
    const id = c.contactId.toString();
    const byId = held.find((x) => x.opensips?.contactId === id && x.uri === c.contact);
    if (byId !== undefined) return byId;
  }
  return findOpenSipsContact(held, c.contact, c.callId, c.match.mode);
}

/** The sipedge id of an OpenSIPS contact: the binding's held under it, else a new one. */
export function openSipsIdOf(held: readonly ContactRecord[], c: UlContact): string {
  return findOpenSipsContactById(held, c)?.id ?? openSipsContactId(c.aor, c.contact, c.callId);
}

/** An OpenSIPS contact as the record sipedge stores, its OpenSIPS-only fields kept with it. */
export function openSipsRecord(c: UlContact, id: string, src: number): ContactRecord {
  const { record, extras } = contactFromOpenSips(c, { id, nodeId: src });
  return { ...record, opensips: extras };
}

/** What OpenSIPS's own sync chunks carry as the contact matching rule. */
const SYNC_MATCH = { mode: ContactMatchMode.CONTACT_CALLID, params: [] } as const;

/**
 * The bindings as an OpenSIPS 3.x donor sends them (docs/protocols/usrloc-replication.md §8):
 * per AoR with a valid binding at `now`, an AoR chunk, then one chunk per valid binding
 * (`onContact` counts them). No tombstones: OpenSIPS has none.
 */
export function* ulSyncChunks(
  aors: Iterable<[string, readonly ContactRecord[]]>,
  now: number,
  domain: string,
  onContact: () => void,
): Generator<Buffer> {
  for (const [aor, list] of aors) {
    const valid = list.filter((c) => isValid(c, now));
    if (valid.length === 0) continue;
    yield encodeUlSyncChunk({
      kind: 'aor',
      record: { domain, aor, label: 0, nextContactLabel: 0, kvStore: '' },
    });
    for (const c of valid) {
      onContact();
      const contact = contactToOpenSips(c, c.opensips, { domain, match: SYNC_MATCH });
      yield encodeUlSyncChunk({ kind: 'contact', contact });
    }
  }
}
