/**
 * The federation section of a node's configuration: this site, every site's SIP address, the
 * Redis Cluster that holds presence, and the publisher's and lookup's limits. Durations are in
 * seconds, as in the rest of the node's configuration.
 */
import { parseHostPort } from '@sipedge/core';
import { z } from 'zod';

const hostPort = z
  .string()
  .refine((s) => parseHostPort(s) !== undefined, 'host:port (an IPv6 host in brackets)');

export const federationConfigSchema = z
  .object({
    /** This site's id, as the store and the other sites name it. */
    site: z.string().min(1).max(64),
    /** Every site (this one included): its id and the SIP address other sites reach it at. */
    sites: z
      .array(
        z
          .object({
            id: z.string().min(1).max(64),
            /** `host:port` of the site's service address (UDP). */
            address: hostPort,
          })
          .strict(),
      )
      .min(1)
      .max(64),
    /** The Redis Cluster holding presence. */
    store: z
      .object({
        /** Seed nodes, `host:port`; the client learns the others from them. */
        nodes: z.array(hostPort).min(1).max(32),
        /** TLS to every node; `ca`: a PEM file of the authority that signed their certificates. */
        tls: z
          .object({
            ca: z.string().min(1).optional(),
            servername: z.string().min(1).optional(),
          })
          .strict()
          .optional(),
        username: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
      })
      .strict(),
    /** How long a lookup answer naming sites is reused (s). */
    lookup_cache: z.number().min(0).max(60).default(2),
    /** How long a "no other site" answer is reused (s). */
    negative_cache: z.number().min(0).max(60).default(1),
    /** A store read slower than this counts as failed (s). */
    lookup_timeout: z.number().min(0.01).max(10).default(0.5),
    /** AoRs per store batch. */
    batch_size: z.number().int().min(1).max(10_000).default(500),
    /** AoR changes queued at most while the store is away. */
    queue_max: z.number().int().min(1).max(10_000_000).default(100_000),
    /** How often the store is probed (s; 0: only writes tell). */
    probe_interval: z.number().min(0).max(3600).default(1),
    /** A full resync this often (s; 0: never). */
    resync_interval: z.number().min(0).max(86_400).default(600),
    /** The lifetime given to permanent contacts (`ul_add` with expires 0), refreshed by resync (s). */
    permanent_ttl: z
      .number()
      .int()
      .min(60)
      .max(86_400 * 30)
      .default(3600),
  })
  .strict()
  .superRefine((c, ctx) => {
    const ids = c.sites.map((s) => s.id);
    if (new Set(ids).size !== ids.length) {
      ctx.addIssue({ code: 'custom', path: ['sites'], message: 'a site id appears twice' });
    }
    if (!ids.includes(c.site)) {
      ctx.addIssue({ code: 'custom', path: ['site'], message: `site ${c.site} is not in sites[]` });
    }
  });

export type FederationConfig = z.infer<typeof federationConfigSchema>;

/** Validates and fills defaults; the result is frozen. */
export function parseFederationConfig(input: unknown): Readonly<FederationConfig> {
  return Object.freeze(federationConfigSchema.parse(input));
}
