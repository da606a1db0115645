/**
 * A stand-in for an OpenSIPS 3.6 usrloc on a simulator node: it speaks only the capability
 * `usrloc-contact-repl` in layout 5 (live packets and sync chunks), keeps its bindings keyed by
 * AoR and Contact (`matching_mode` 0) and refuses any other layout, as OpenSIPS does.
 */
import type { Clusterer } from '@sipedge/clusterer';
import {
  decodeUlPacket,
  decodeUlSyncChunk,
  encodeUlPacket,
  encodeUlSyncChunk,
  ulPacketType,
} from '../src/cluster/opensips/codec.js';
import {
  ContactMatchMode,
  UL_BIN_VERSION,
  type UlContact,
  type UlPacket,
} from '../src/cluster/opensips/packets.js';

const CAP = 'usrloc-contact-repl';

export class OpenSipsUsrloc {
  /** Bindings by `aor contact`. */
  readonly contacts = new Map<string, UlContact>();
  /** Live packets of another layout, refused. */
  refused = 0;
  readonly #node: Clusterer;

  constructor(node: Clusterer) {
    this.#node = node;
    node.registerCapability(
      CAP,
      {
        onPacket: (p) => {
          if (p.version !== UL_BIN_VERSION) this.refused++;
          else this.#apply(decodeUlPacket(p.type, p.body));
        },
        openSync: () => ({ items: this.#chunks(), dataVersion: UL_BIN_VERSION }),
        onSyncChunk: (chunk) => {
          const c = decodeUlSyncChunk(chunk);
          if (c.kind === 'contact') this.#put(c.contact);
        },
      },
      { clusterId: 1, startupSync: true, syncMode: 'merge', dataVersion: UL_BIN_VERSION },
    );
  }

  /** A REGISTER saved here: stored and replicated as an insert or an update. */
  save(c: UlContact): void {
    const known = this.contacts.has(key(c.aor, c.contact));
    this.#put(c);
    this.#send(
      known ? { kind: 'contact_update', contact: c } : { kind: 'contact_insert', contact: c },
    );
  }

  /** An un-REGISTER saved here. */
  remove(aor: string, contact: string): void {
    const c = this.contacts.get(key(aor, contact));
    if (c === undefined) return;
    this.contacts.delete(key(aor, contact));
    this.#send({
      kind: 'contact_delete',
      ref: {
        domain: c.domain,
        aor,
        contact,
        callId: c.callId,
        cseq: c.cseq,
        match: { mode: ContactMatchMode.CONTACT_ONLY, params: [] },
      },
    });
  }

  get(aor: string, contact: string): UlContact | undefined {
    return this.contacts.get(key(aor, contact));
  }

  #put(c: UlContact): void {
    this.contacts.set(key(c.aor, c.contact), c);
  }

  #apply(p: UlPacket): void {
    switch (p.kind) {
      case 'contact_insert':
      case 'contact_update':
        this.#put(p.contact);
        break;
      case 'contact_delete':
        this.contacts.delete(key(p.ref.aor, p.ref.contact));
        break;
      case 'aor_delete':
        for (const [k, c] of this.contacts) if (c.aor === p.aor) this.contacts.delete(k);
        break;
      case 'aor_insert':
        break;
    }
  }

  #send(p: UlPacket): void {
    this.#node.sendAll(1, {
      capability: CAP,
      version: UL_BIN_VERSION,
      type: ulPacketType(p),
      body: encodeUlPacket(p),
    });
  }

  *#chunks(): Generator<Buffer> {
    for (const c of this.contacts.values()) {
      const record = { domain: c.domain, aor: c.aor, label: 0, nextContactLabel: 0, kvStore: '' };
      yield encodeUlSyncChunk({ kind: 'aor', record });
      yield encodeUlSyncChunk({ kind: 'contact', contact: c });
    }
  }
}

function key(aor: string, contact: string): string {
  return `${aor} ${contact}`;
}
