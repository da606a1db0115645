/**
 * The `sip` section of the cluster-node configuration (listeners, registrar or edge mode, NAT
 * pings, connection limits, pike) and the address forms other sections share.
 */
import { parseHostPort } from '@sipedge/core';
import { parseSourceList } from '@sipedge/rtpp';
import { z } from 'zod';
import { tlsShape } from './tls-config.js';

/** `host:port` / `[v6]:port`, port 0–65535 (core's parseHostPort). */
export const splitAddress = parseHostPort;

export const address = z.string().refine((s) => splitAddress(s) !== undefined, {
  message: 'must be host:port (IPv6 as [addr]:port)',
});

const sipListener = z
  .object({
    /** `tls` and `wss` use the node's TLS settings (`tls`, overridden by `sip.tls`). */
    proto: z.enum(['udp', 'tcp', 'ws', 'tls', 'wss']),
    address,
  })
  .strict();

const upstream = z
  .object({
    proto: z.enum(['udp', 'tcp']).default('udp'),
    address,
  })
  .strict();

const natPingSection = z
  .object({
    /** Keep NAT bindings of contacts this node owns open (nathelper `natping_interval`). */
    enabled: z.boolean().default(true),
    /** Seconds between two pings of one contact (each contact has its own due time). */
    interval: z.number().int().min(1).max(3600).default(30),
    /** SIP OPTIONS (answered, so lost pings are seen) or a CRLF keep-alive. */
    kind: z.enum(['options', 'crlf']).default('options'),
    /**
     * Remove a contact after this many pings in a row went unanswered (0 = never, the default,
     * as OpenSIPS without `remove_on_timeout_bflag`).
     */
    remove_after_lost: z.number().int().min(0).max(100).default(0),
    /** Seconds a ping waits for its reply before it counts as lost (at most interval / 2). */
    timeout: z.number().min(0.1).max(60).default(3),
    /** Ping every contact, not only those behind NAT (nathelper pings only `nat_bflag` ones). */
    all_contacts: z.boolean().default(false),
  })
  .strict();

/**
 * An IPv4/IPv6 address, or a subnet in CIDR form (`192.0.2.0/24`, `2001:db8::/32`), as the
 * rtpp allow-lists read them.
 */
export const addressOrSubnet = z.string().refine(
  (s) => {
    try {
      parseSourceList([s]);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IP address or CIDR block such as 192.0.2.0/24' },
);

/**
 * Flood detection per source address, as OpenSIPS/Kamailio `pike` (names and defaults from
 * there; `remove_latency` here is how long a blocked source must stay under the density).
 * Requests from cluster peers (the hosts of `clusterer` neighbour urls) and `trusted`
 * addresses are not counted; replies never are.
 */
const pikeSection = z
  .object({
    enabled: z.boolean().default(false),
    /** Seconds in one sampling unit. */
    sampling_time_unit: z.number().int().min(1).max(3600).default(2),
    /** More requests than this from one source in one unit block it. */
    reqs_density_per_unit: z.number().int().min(1).max(10_000_000).default(30),
    /** Seconds a blocked source must stay at or under the density to be unblocked. */
    remove_latency: z.number().int().min(1).max(86_400).default(120),
    /** `drop` what a blocked source sends, or `reply` 503 with Retry-After. */
    action: z.enum(['drop', 'reply']).default('drop'),
    /** Most sources counted per unit, and most blocked at once (memory bound). */
    max_sources: z.number().int().min(16).max(1_000_000).default(16_384),
    /** Sources never counted (upstream proxies, trunks): addresses or subnets. */
    trusted: z.array(addressOrSubnet).max(1024).default([]),
  })
  .strict();

export const sipSection = z
  .object({
    listeners: z.array(sipListener).max(32).default([]),
    /**
     * `registrar`: REGISTERs are saved here (and replicated), calls to local users are looked
     * up. `edge`: REGISTERs get Path and go to `upstream`; everything else is proxied.
     */
    mode: z.enum(['registrar', 'edge']).default('registrar'),
    /** The registrar an edge node forwards REGISTERs (and calls to unknown users) to. */
    upstream: upstream.optional(),
    /** Domains served by this registrar (empty: every domain). */
    domains: z.array(z.string().min(1).max(255)).max(256).default([]),
    /** Add Record-Route to initial requests so the dialog stays on this edge. */
    record_route: z.boolean().default(true),
    /** Most live server transactions; beyond it new requests get 503. */
    max_transactions: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Seconds SIGTERM waits for in-flight transactions before closing. */
    drain_timeout: z.number().min(0).max(600).default(5),
    /** Seconds a forked INVITE waits for a final answer (tm `fr_inv_timeout`). */
    fr_inv_timeout: z.number().int().min(1).max(600).default(120),
    nat_ping: natPingSection.prefault({}),
    /**
     * Most simultaneous TCP/WS connections (WebSocket handshakes included). At the cap a new
     * connection closes an idle one of the source holding the most, instead of being refused.
     */
    max_connections: z.number().int().min(1).max(1_000_000).default(4096),
    /** Most TCP/WS connections from one source address (Kamailio `tcp_accept_iplimit`; 0 = no cap). */
    tcp_accept_iplimit: z.number().int().min(0).max(1_000_000).default(64),
    /**
     * Seconds a TCP/WS connection stays open with no complete message (or keep-alive) either
     * way (OpenSIPS/Kamailio `tcp_connection_lifetime`; 0 = forever).
     */
    tcp_connection_lifetime: z.number().int().min(0).max(86_400).default(120),
    /**
     * Seconds from the first byte of a message on TCP to its last; later bytes do not restart
     * it (Kamailio `tcp_msg_read_timeout`).
     */
    tcp_msg_read_timeout: z.number().min(0.1).max(600).default(10),
    /** Milliseconds a WebSocket connection has to complete its upgrade (OpenSIPS `ws_handshake_timeout`). */
    ws_handshake_timeout: z.number().int().min(100).max(600_000).default(10_000),
    pike: pikeSection.prefault({}),
    /** Largest SIP message in bytes. */
    max_message_bytes: z.number().int().min(1024).max(65_535).default(65_535),
    /** TLS settings of SIP (tls/wss listeners, connections to sips: targets) over `tls`. */
    tls: tlsShape.optional(),
  })
  .strict()
  .prefault({});
