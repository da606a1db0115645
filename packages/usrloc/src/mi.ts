import {
  defineCommand,
  type MiCommand,
  MiCommandError,
  type StatisticsRegistry,
} from '@sipedge/mi';
import { parseUri, uriEquals } from '@sipedge/sip';
import { z } from 'zod';
import { canonicalAor } from './aor.js';
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
}

function sameUri(a: string, b: string): boolean {
  try {
    return uriEquals(parseUri(a), parseUri(b));
  } catch {
    return a === b;
  }
}

/** OpenSIPS prints the methods bitmask; every bit set means all methods. */
const ALL_METHODS = 4294967295;
const MI_CALLID = 'mi-added-contact@sipedge.mi';

/** One contact as OpenSIPS's MI prints it. */
export function miContact(c: ContactRecord, now: number): Record<string, unknown> {
  let expires: number | string;
  if (c.expires === 0) expires = 'permanent';
  else if (!isValid(c, now)) expires = 'expired';
  else expires = Math.ceil((c.expires - now) / 1000);
  // field order and presence as OpenSIPS 3.x mi_add_aor_node: optional fields only when set
  const out: Record<string, unknown> = {
    Contact: c.uri,
    ContactID: c.id,
    Expires: expires,
    Q: c.q === null ? '' : String(c.q),
    Callid: c.callId,
    Cseq: c.cseq,
  };
  if (c.userAgent !== null && c.userAgent !== '') out['User-agent'] = c.userAgent;
  if (c.received !== null && c.received !== '') out.Received = c.received;
  if (c.path.length > 0) out.Path = c.path.join(',');
  out.State = 'CS_SYNC';
  out.Flags = c.flags;
  out.Cflags = '';
  if (c.socket !== null) out.Socket = c.socket;
  out.Methods = c.methods ?? ALL_METHODS;
  if (c.instance !== null) out.SIP_instance = c.instance;
  if (c.regId !== null) out.Reg_ID = c.regId;
  if (c.shtag !== null) out.Sharing_tag = c.shtag;
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
  const aorOf = (raw: string): string => {
    if (!raw.includes('@')) throw new MiCommandError(400, 'Domain missing in AOR');
    try {
      return canonicalAor(raw);
    } catch {
      throw new MiCommandError(400, 'Bad AOR');
    }
  };
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
          else
            AORs.push({ AOR: aor, Contacts: location.contacts(aor).map((c) => miContact(c, now)) });
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
        return { AOR: key, Contacts: needAor(key).map((c) => miContact(c, now)) };
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
          methods: p.methods === undefined || p.methods === ALL_METHODS ? null : String(p.methods),
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
    ulSearchCommand(location, table),
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
