/**
 * The node's TLS material, per place (SIP, BIN, MI, metrics), loaded from the files the
 * configuration names. `reload()` (SIGHUP) re-reads every file and hands the new material to
 * each running listener and client (`setSecureContext`): new connections get the renewed
 * certificate, open ones keep theirs. If any file fails, nothing changes.
 */
import { loadTlsMaterial, type TlsMaterial } from '@sipedge/core';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { type TlsPlace, tlsNeeds, tlsSettingsFor } from '../tls-config.js';
import { resolvePath } from './storage.js';

const PLACES: readonly TlsPlace[] = ['sip', 'clusterer', 'mi', 'metrics'];

export class NodeTls {
  readonly #config: Readonly<NodeConfig>;
  readonly #configFile: string | undefined;
  #material: Map<TlsPlace, TlsMaterial>;
  readonly #apply = new Map<TlsPlace, Array<(m: TlsMaterial) => void>>();
  /** Places whose settings name files (the others have nothing to re-read). */
  readonly #withFiles = new Set<TlsPlace>();

  /** Reads every file the configuration uses; throws `TlsConfigError` naming the bad one. */
  constructor(config: Readonly<NodeConfig>, configFile: string | undefined) {
    this.#config = config;
    this.#configFile = configFile;
    this.#material = this.#load();
  }

  #load(): Map<TlsPlace, TlsMaterial> {
    const out = new Map<TlsPlace, TlsMaterial>();
    for (const place of PLACES) {
      const needs = tlsNeeds(this.#config, place);
      if (!needs.used) continue;
      const settings = tlsSettingsFor(this.#config, place, (p) => resolvePath(p, this.#configFile));
      if (settings === undefined) continue;
      out.set(place, loadTlsMaterial(settings, { server: needs.server }));
      const { certificate, caList } = settings;
      if (certificate !== undefined || caList !== undefined) this.#withFiles.add(place);
    }
    return out;
  }

  /** The material of a place, if it uses TLS. */
  material(place: TlsPlace): TlsMaterial | undefined {
    return this.#material.get(place);
  }

  /** `apply` gets the place's material after each successful reload. */
  onReload(place: TlsPlace, apply: (m: TlsMaterial) => void): void {
    const list = this.#apply.get(place) ?? [];
    list.push(apply);
    this.#apply.set(place, list);
  }

  /**
   * Re-reads every file; on success applies the new material to the running places and
   * returns what was renewed (`tls.sip`…). Throws `TlsConfigError` with nothing applied.
   */
  reload(logger: Logger): string[] {
    const next = this.#load();
    this.#material = next;
    const renewed: string[] = [];
    for (const [place, m] of next) {
      const appliers = this.#apply.get(place);
      if (appliers === undefined || !this.#withFiles.has(place)) continue;
      for (const apply of appliers) apply(m);
      renewed.push(`tls.${place}`);
      logger.info(
        {
          place,
          ...(m.certificate === undefined
            ? {}
            : {
                subject: m.certificate.subject,
                valid_to: m.certificate.validTo,
                fingerprint256: m.certificate.fingerprint256,
              }),
        },
        'TLS certificates re-read',
      );
    }
    return renewed;
  }
}
