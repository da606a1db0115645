import { z } from 'zod';
import { UsrlocError } from './errors.js';
import type { RegistrarOptions } from './registrar/options.js';
import type { PersistenceOptions } from './store/create.js';

/**
 * usrloc + registrar configuration with OpenSIPS modparam names (usrloc, registrar,
 * nathelper) and their defaults, except where noted. Times in seconds unless named `_ms`.
 */
export const usrlocConfigSchema = z
  .object({
    /** usrloc working mode: memory only, or SQLite write-through / write-back. */
    sql_write_mode: z.enum(['none', 'write-through', 'write-back']).default('write-through'),
    /** SQLite file (required unless sql_write_mode is none). */
    db_url: z.string().min(1).optional(),
    /** Write-back flush and expiry timer interval (OpenSIPS default 60; here 10). */
    timer_interval: z.number().positive().max(3600).default(10),
    /** Keep the domain in the AoR (`alice@example.com`, not `alice`); false as in OpenSIPS. */
    use_domain: z.boolean().default(false),
    case_sensitive: z.boolean().default(true),
    /** ul_dump / ul_show_contact print each contact's KV-Store (sharing tag as `_st`). */
    mi_dump_kv_store: z.boolean().default(false),
    max_aor_len: z.number().int().positive().max(4096).default(256),
    default_expires: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1)
      .default(3600),
    min_expires: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(60),
    /** 0 = no maximum. */
    max_expires: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    /** 0 = no limit. */
    max_contacts: z.number().int().min(0).max(10_000).default(0),
    /** OpenSIPS `force-registration`: evict the oldest instead of 503. */
    max_contacts_mode: z.enum(['reject', 'replace-oldest']).default('reject'),
    max_contacts_per_request: z.number().int().positive().max(1000).default(32),
    /** RFC 3327 mode (OpenSIPS path-strict / path-lazy / path-off). */
    path_mode: z.enum(['strict', 'lazy', 'off']).default('strict'),
    /** Same Call-ID and CSeq within this many seconds is a retransmission (OpenSIPS cseq_delay). */
    cseq_delay: z.number().min(0).max(3600).default(20),
    /** Cluster node id stamped on changes. */
    node_id: z.number().int().positive().max(65535).default(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.sql_write_mode !== 'none' && c.db_url === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['db_url'],
        message: 'required unless sql_write_mode is none',
      });
    }
  });

export type UsrlocConfig = z.output<typeof usrlocConfigSchema>;

/** Validate and fill defaults; throws `UsrlocError` (`USRLOC_CONFIG`) with zod's readable message. */
export function parseUsrlocConfig(input: unknown): Readonly<UsrlocConfig> {
  const r = usrlocConfigSchema.safeParse(input);
  if (!r.success)
    throw new UsrlocError('USRLOC_CONFIG', z.prettifyError(r.error), { cause: r.error });
  return Object.freeze(r.data);
}

/** Registrar options from a parsed config. */
export function registrarOptionsFromConfig(c: UsrlocConfig): RegistrarOptions {
  return {
    defaultExpires: c.default_expires,
    minExpires: c.min_expires,
    maxExpires: c.max_expires,
    maxContacts: c.max_contacts,
    maxContactsMode: c.max_contacts_mode,
    maxContactsPerRequest: c.max_contacts_per_request,
    pathMode: c.path_mode,
    retransmissionWindowMs: c.cseq_delay * 1000,
    aor: {
      useDomain: c.use_domain,
      caseInsensitiveUser: !c.case_sensitive,
      maxLength: c.max_aor_len,
    },
  };
}

/** Persistence options (for `createContactStore`) from a parsed config. */
export function persistenceOptionsFromConfig(c: UsrlocConfig): PersistenceOptions {
  const mode = c.sql_write_mode === 'none' ? 'memory-only' : c.sql_write_mode;
  return c.db_url === undefined
    ? { mode, flushIntervalMs: c.timer_interval * 1000 }
    : { mode, path: c.db_url, flushIntervalMs: c.timer_interval * 1000 };
}
