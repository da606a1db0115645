/**
 * The node's TLS configuration: one shape (OpenSIPS tls_mgm names where they exist:
 * `certificate`, `private_key`, `ca_list`, `ciphers`, `verify_client`…) at the top level
 * (`tls:`), used by every TLS listener and client of the node, and the same shape as a partial
 * override in each section that speaks TLS (`sip.tls`, `clusterer.tls`, `mi.tls`,
 * `metrics.tls`), its keys taking precedence. `@sipedge/core`'s `loadTlsMaterial` reads the
 * files.
 */
import type { TlsSettings } from '@sipedge/core';
import { z } from 'zod';

/** The one TLS shape; every key optional (defaults come from where it is used). */
export const tlsShape = z
  .object({
    /** PEM file with the node's certificate (its chain, the node's own first). */
    certificate: z.string().min(1).optional(),
    /** PEM file with the certificate's private key (unencrypted). */
    private_key: z.string().min(1).optional(),
    /** PEM bundle of the CAs peers' certificates must chain to (default: Node's root CAs). */
    ca_list: z.string().min(1).optional(),
    /** Lowest TLS version accepted (default TLSv1.2). */
    min_version: z.enum(['TLSv1.2', 'TLSv1.3']).optional(),
    /** OpenSSL cipher list for TLS 1.2 (default: Node's). */
    ciphers: z.string().min(1).optional(),
    /**
     * Listeners: ask for a client certificate? `none`, `optional` (asked, not required) or
     * `required` (the handshake fails without one from `ca_list`). Default `none`, except
     * BIN: `required` (both ends of a cluster link are nodes with certificates).
     */
    verify_client: z.enum(['none', 'optional', 'required']).optional(),
    /** Outbound connections: refuse a server whose certificate does not verify (default true). */
    verify_server: z.boolean().optional(),
  })
  .strict();

export type TlsShape = z.output<typeof tlsShape>;

/** Where the node speaks TLS. */
export type TlsPlace = 'sip' | 'clusterer' | 'mi' | 'metrics';

/** `mi.tls` / `metrics.tls`: `true` (HTTPS with the node's settings), or an override (HTTPS too). */
export const httpsSwitch = z.union([z.boolean(), tlsShape]).default(false);

/** The parts of the node config this file reads (kept narrow so the schema can use it). */
export interface TlsUse {
  tls: TlsShape;
  sip: { listeners: ReadonlyArray<{ proto: string }>; tls?: TlsShape | undefined };
  clusterer: {
    listen: string;
    neighbours: ReadonlyArray<{ url: string }>;
    tls?: TlsShape | undefined;
  };
  mi: { tls: boolean | TlsShape };
  metrics: { enabled: boolean; tls: boolean | TlsShape };
}

/** A place's override (`undefined` when the place does not speak TLS at all). */
function overrideOf(c: TlsUse, place: TlsPlace): TlsShape | undefined {
  switch (place) {
    case 'sip':
      return c.sip.tls ?? {};
    case 'clusterer':
      return c.clusterer.tls ?? {};
    case 'mi':
      return c.mi.tls === false ? undefined : c.mi.tls === true ? {} : c.mi.tls;
    case 'metrics':
      return !c.metrics.enabled || c.metrics.tls === false
        ? undefined
        : c.metrics.tls === true
          ? {}
          : c.metrics.tls;
  }
}

/** Does the place run a TLS listener (so it needs a certificate)? */
export function tlsListens(c: TlsUse, place: TlsPlace): boolean {
  switch (place) {
    case 'sip':
      return c.sip.listeners.some((l) => l.proto === 'tls' || l.proto === 'wss');
    case 'clusterer':
      return /^bins:/.test(c.clusterer.listen);
    case 'mi':
    case 'metrics':
      return overrideOf(c, place) !== undefined;
  }
}

/** Does the place open TLS connections (BIN to a `bins:` neighbour)? SIP may at any time. */
function tlsDials(c: TlsUse, place: TlsPlace): boolean {
  if (place === 'sip') return true;
  if (place === 'clusterer') return c.clusterer.neighbours.some((n) => /^bins:/.test(n.url));
  return false;
}

/**
 * A place's settings: its override over the top-level `tls`, the place's defaults, paths made
 * absolute by `resolve` (relative to the config file). `undefined` when the place does not use
 * TLS.
 */
export function tlsSettingsFor(
  c: TlsUse,
  place: TlsPlace,
  resolve: (path: string) => string = (p) => p,
): TlsSettings | undefined {
  const own = overrideOf(c, place);
  if (own === undefined) return undefined;
  const m: TlsShape = { ...c.tls, ...own };
  const verifyClient = m.verify_client ?? (place === 'clusterer' ? 'required' : 'none');
  return {
    ...(m.certificate === undefined ? {} : { certificate: resolve(m.certificate) }),
    ...(m.private_key === undefined ? {} : { privateKey: resolve(m.private_key) }),
    ...(m.ca_list === undefined ? {} : { caList: resolve(m.ca_list) }),
    ...(m.min_version === undefined ? {} : { minVersion: m.min_version }),
    ...(m.ciphers === undefined ? {} : { ciphers: m.ciphers }),
    verifyClient,
    verifyServer: m.verify_server ?? true,
  };
}

/** Is TLS used at `place`, and must it have a certificate? (`server`: it listens.) */
export function tlsNeeds(c: TlsUse, place: TlsPlace): { used: boolean; server: boolean } {
  const server = tlsListens(c, place);
  return { used: server || tlsDials(c, place), server };
}

const KEY_OF: Record<TlsPlace, string> = {
  sip: 'sip.listeners',
  clusterer: 'clusterer.listen',
  mi: 'mi.tls',
  metrics: 'metrics.tls',
};

/**
 * The configuration problems of TLS use, one line each naming the key: a TLS listener (or a
 * `bins:` neighbour, whose link is mutual TLS) without certificate and key.
 */
export function tlsProblems(c: TlsUse): Array<{ path: string[]; message: string }> {
  const out: Array<{ path: string[]; message: string }> = [];
  for (const place of ['sip', 'clusterer', 'mi', 'metrics'] as const) {
    const s = tlsSettingsFor(c, place);
    if (s === undefined || (s.certificate !== undefined && s.privateKey !== undefined)) continue;
    const listens = tlsListens(c, place);
    const binPeer =
      place === 'clusterer' && c.clusterer.neighbours.find((n) => /^bins:/.test(n.url));
    if (!listens && !binPeer) continue;
    const what =
      place === 'sip'
        ? 'a tls/wss listener'
        : place === 'clusterer'
          ? listens
            ? `the bins: listener ${c.clusterer.listen}`
            : `the bins: neighbour ${binPeer === false || binPeer === undefined ? '' : binPeer.url}`
          : `HTTPS for ${place}`;
    const path = (place === 'clusterer' && !listens ? 'clusterer.neighbours' : KEY_OF[place]).split(
      '.',
    );
    out.push({
      path,
      message: `${what} needs a certificate: set tls.certificate and tls.private_key (or ${place}.tls.certificate and ${place}.tls.private_key)`,
    });
  }
  return out;
}
