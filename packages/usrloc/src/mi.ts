import { fnv1aPair } from '@sipedge/core';
import {
  defineCommand,
  type MiCommand,
  MiCommandError,
  type StatisticsRegistry,
} from '@sipedge/mi';
import { parseUri, uriEquals } from '@sipedge/sip';
import { z } from 'zod';
import { type AorOptions, canonicalAor } from './aor.js';
import { methodsFromBits, methodsToBits } from './cluster/opensips/record.js';
import type { ReplCounters } from './cluster/replicator.js';
import type { Location } from './location/location.js';
import { type ContactRecord, isValid } from './model.js';
import { ulSearchCommand } from './search.js';

export interface UsrlocMiOptions {
  /** The usrloc table (domain) name callers pass as `table_name` (default: the location's). */
  readonly table?: string;
  /** Hash size shown by ul_dump (informational; default 512, as OpenSIPS). */
  readonly hashSize?: number;
  /** The cluster replicator, for `ul_cluster_sync` (absent: "Clustering not enabled"). */
  readonly replicator?: { clusterSync(): boolean };
  /**
   * How AoRs are keyed, as the registrar keys them (OpenSIPS `use_domain` …). With `useDomain`
   * false an AOR given with a domain has it cut off; with it true an AOR must have one.
   */
  readonly aor?: AorOptions;
  /** Print each contact's KV-Store (OpenSIPS `mi_dump_kv_store`, default false). */
  readonly dumpKvStore?: boolean;
}

/** Where a binding stands with the database, as OpenSIPS's `State` says it. */
export type ContactDbState = 'CS_NEW' | 'CS_SYNC' | 'CS_DIRTY';

function sameUri(a: string, b: string): boolean {
  try {
    return uriEquals(parseUri(a), parseUri(b));
  } catch {
    return a === b;
  }
}

const MI_CALLID = 'mi-added-contact@sipedge.mi';

/** What `miContact` prints beyond the binding. */
export interface MiContactOptions {
  /** Where it stands with the database (default CS_NEW: memory only, as OpenSIPS db_mode 0). */
  readonly state?: ContactDbState;
  /** Print the KV-Store (OpenSIPS `mi_dump_kv_store`, default off). */
  readonly kvStore?: boolean;
}

/**
 * The contact id OpenSIPS prints: a u64 in decimal. A binding an OpenSIPS node wrote shows the
 * id it came with; one sipedge wrote, a 63-bit hash of its sipedge id (the same on every node).
 */
export function miContactId(c: ContactRecord): string {
  if (c.opensips !== undefined) return c.opensips.contactId;
  const [hi, lo] = fnv1aPair(c.id);
  return ((BigInt(hi & 0x7fffffff) << 32n) | BigInt(lo)).toString();
}

/** One contact as OpenSIPS's MI prints it (`state`: where it stands with the database). */
export function miContact(
  c: ContactRecord,
  now: number,
  opts: MiContactOptions = {},
): Record<string, unknown> {
  const os = c.opensips;
  let expires: number | string;
  if (c.expires === 0) expires = 'permanent';
  else if (!isValid(c, now)) expires = 'expired';
  else expires = Math.ceil((c.expires - now) / 1000);
  // field order and presence as OpenSIPS 3.x mi_add_aor_node: optional fields only when set
  const out: Record<string, unknown> = {
    Contact: c.uri,
    ContactID: miContactId(c),
    Expires: expires,
    Q: c.q === null ? '' : String(c.q),
    Callid: c.callId,
    Cseq: c.cseq,
  };
  if (c.userAgent !== null && c.userAgent !== '') out['User-agent'] = c.userAgent;
  if (c.received !== null && c.received !== '') out.Received = c.received;
  if (c.path.length > 0) out.Path = c.path.join(',');
  out.State = opts.state ?? 'CS_NEW';
  // usrloc's own flags and the branch flags by name, as an OpenSIPS node wrote them
  out.Flags = os?.flags ?? c.flags;
  out.Cflags = os?.cflags ?? '';
  if (c.socket !== null) out.Socket = c.socket;
  out.Methods = os?.methods ?? methodsToBits(c.methods);
  if (os !== undefined && os.attr !== '') out.Attr = os.attr;
  if (c.instance !== null) out.SIP_instance = os === undefined ? `<${c.instance}>` : os.instance;
  if (opts.kvStore === true) {
    const kv = os?.kvStore ?? (c.shtag === null ? '' : JSON.stringify({ _st: c.shtag }));
    if (kv !== '') out['KV-Store'] = kv;
  }
  return out;
}

/**
 * The usrloc MI commands with OpenSIPS names, params and result shapes: ul_dump,
 * ul_show_contact, ul_rm, ul_rm_contact, ul_add, ul_flush, ul_cluster_sync. Register them with
 * `registry.register(...miCommands(location))`.
 */
export function miCommands(location: Location, options: UsrlocMiOptions = {}): MiCommand[] {
  const table = options.table ?? location.domain;
  const hashSize = options.hashSize ?? 512;
  const checkTable = (name: string): void => {
    if (name !== table) throw new MiCommandError(404, 'Table not found');
  };
  const aorOptions = options.aor ?? {};
  const aorOf = (raw: string): string => {
    // as OpenSIPS: a domain is required with use_domain, and cut off without it
    const at = raw.indexOf('@');
    if (aorOptions.useDomain !== false && at < 0)
      throw new MiCommandError(400, 'Domain missing in AOR');
    if (aorOptions.useDomain === false && at < 0 && !raw.includes(':')) return raw;
    try {
      return canonicalAor(raw, aorOptions);
    } catch {
      throw new MiCommandError(400, 'Bad AOR');
    }
  };
  const DB_STATE = { new: 'CS_NEW', synced: 'CS_SYNC', dirty: 'CS_DIRTY' } as const;
  const show = (c: ContactRecord, now: number): Record<string, unknown> =>
    miContact(c, now, {
      state: DB_STATE[location.dbState(c.id)],
      kvStore: options.dumpKvStore === true,
    });
  const needAor = (aor: string): readonly ContactRecord[] => {
    const list = location.contacts(aor);
    if (list.length === 0) throw new MiCommandError(404, 'AOR not found');
    return list;
  };
  return [
    defineCommand({
      name: 'ul_dump',
      readOnly: true,
      module: 'usrloc',
      description: 'Dump the user location table',
      params: z.object({ brief: z.coerce.number().int().optional() }),
      handler: ({ brief }) => {
        const now = location.clock.now();
        const AORs: unknown[] = [];
        for (const aor of location.aors()) {
          if (brief !== undefined && brief !== 0) AORs.push({ AOR: aor });
          else AORs.push({ AOR: aor, Contacts: location.contacts(aor).map((c) => show(c, now)) });
        }
        return { Domains: [{ name: table, hash_size: hashSize, AORs }] };
      },
    }),
    defineCommand({
      name: 'ul_show_contact',
      readOnly: true,
      module: 'usrloc',
      description: 'Show the contacts of an AOR',
      params: z.object({ table_name: z.string(), aor: z.string() }),
      handler: ({ table_name, aor }) => {
        checkTable(table_name);
        const now = location.clock.now();
        const key = aorOf(aor);
        return { AOR: key, Contacts: needAor(key).map((c) => show(c, now)) };
      },
    }),
    defineCommand({
      name: 'ul_rm',
      module: 'usrloc',
      description: 'Delete an AOR with all its contacts',
      params: z.object({ table_name: z.string(), aor: z.string() }),
      handler: ({ table_name, aor }) => {
        checkTable(table_name);
        if (!location.removeAor(aorOf(aor), 'mi')) throw new MiCommandError(404, 'AOR not found');
        return 'OK';
      },
    }),
    defineCommand({
      name: 'ul_rm_contact',
      module: 'usrloc',
      description: 'Delete one contact of an AOR',
      params: z.object({ table_name: z.string(), aor: z.string(), contact: z.string() }),
      handler: ({ table_name, aor, contact }) => {
        checkTable(table_name);
        const key = aorOf(aor);
        const c = needAor(key).find((x) => sameUri(x.uri, contact));
        if (c === undefined) throw new MiCommandError(404, 'Contact not found');
        location.removeContact(key, c.id, 'mi');
        return 'OK';
      },
    }),
    defineCommand({
      name: 'ul_add',
      module: 'usrloc',
      description:
        'Add or replace a contact of an AOR (expires 0 = permanent; flags, cflags, methods as OpenSIPS)',
      params: z.object({
        table_name: z.string(),
        aor: z.string(),
        contact: z.string(),
        expires: z.coerce
          .number()
          .int()
          .min(0)
          .max(2 ** 32 - 1),
        q: z.coerce.number().min(0).max(1),
        flags: z.coerce.number().int().min(0).optional(),
        cflags: z.coerce.number().int().min(0).optional(),
        methods: z.coerce.number().int().min(0).optional(),
      }),
      handler: (p) => {
        checkTable(p.table_name);
        const aor = aorOf(p.aor);
        try {
          parseUri(p.contact);
        } catch {
          throw new MiCommandError(400, 'Bad contact');
        }
        const now = location.clock.now();
        const list = location.contacts(aor).filter((c) => isValid(c, now));
        const old = list.find((c) => sameUri(c.uri, p.contact));
        const rec: ContactRecord = {
          id: old?.id ?? location.ids.next(),
          aor,
          uri: p.contact,
          params: '',
          received: null,
          path: [],
          expires: p.expires === 0 ? 0 : now + p.expires * 1000,
          q: p.q,
          callId: old?.callId ?? MI_CALLID,
          cseq: old?.cseq ?? 1,
          flags: p.flags ?? 0,
          userAgent: 'sipedge MI Server',
          socket: null,
          methods: p.methods === undefined ? null : methodsFromBits(p.methods),
          instance: null,
          regId: null,
          lastModified: now,
          nodeId: location.nodeId,
          shtag: null,
        };
        const next = old === undefined ? [...list, rec] : list.map((c) => (c === old ? rec : c));
        const expired = location.contacts(aor).filter((c) => !isValid(c, now));
        location.commit(aor, next, [
          ...expired.map((c) => ({
            type: 'delete' as const,
            contact: c,
            reason: 'expired' as const,
          })),
          { type: old === undefined ? 'insert' : 'update', contact: rec, reason: 'mi' },
        ]);
        return 'OK';
      },
    }),
    defineCommand({
      name: 'ul_flush',
      module: 'usrloc',
      description: 'Write buffered (write-back) changes to the database now',
      handler: () => {
        location.flush();
        return 'OK';
      },
    }),
    defineCommand({
      name: 'ul_cluster_sync',
      module: 'usrloc',
      description: 'Ask a cluster donor for every binding again (merged with what is here)',
      handler: () => {
        const r = options.replicator;
        if (r === undefined) throw new MiCommandError(400, 'Clustering not enabled');
        if (!r.clusterSync()) throw new MiCommandError(400, 'Failed to send sync request');
        return 'OK';
      },
    }),
    ulSearchCommand(location, table, show),
  ];
}

/** The replicator's counters with what each counts: `usrloc_repl:<name>`. */
const REPLICATION_STATS: readonly [keyof ReplCounters, string][] = [
  ['sent', 'Replication packets sent for local changes'],
  ['send_failures', 'Local changes not sent: no node reachable, or the send failed'],
  ['received', 'Replication packets received'],
  ['applied', 'Replicated or synced changes applied to the location table'],
  ['ignored', 'Replicated or synced changes ignored as older than what is held'],
  ['expired_skipped', 'Replicated or synced bindings already expired when they arrived'],
  ['drop_malformed', 'Replication packets dropped: they did not decode'],
  ['drop_version', 'Replication packets dropped: a layout version this node cannot read'],
  ['drop_forged', 'Replication packets dropped: their origin is not the node that sent them'],
  ['drop_domain', 'Replication packets dropped: another location table (domain)'],
  ['apply_errors', 'Replicated changes the store refused'],
  ['sync_items_sent', 'Bindings and tombstones sent in full syncs as donor'],
  ['sync_items_received', 'Bindings and tombstones received in full syncs'],
];

/** Registers the replicator's counters as statistics of group `usrloc_repl`. */
export function registerReplicationStatistics(
  stats: StatisticsRegistry,
  replicator: { readonly counters: Readonly<ReplCounters> },
): void {
  for (const [name, help] of REPLICATION_STATS)
    stats.counter('usrloc_repl', name, { help, read: () => replicator.counters[name] });
}
