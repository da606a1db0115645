/** MI commands of the federation: `ul_federation_status` and `ul_federation_resync`. */
import { defineCommand, type MiCommand, MiCommandError } from '@sipedge/mi';
import { z } from 'zod';
import type { Federation } from '../federation.js';

export function federationMiCommands(federation: Federation): MiCommand[] {
  return [
    defineCommand({
      name: 'ul_federation_status',
      readOnly: true,
      module: 'federation',
      description: 'The federation: this site, the writer, the store, the queue and the lookups',
      params: z.object({}),
      handler: () => federation.status(),
    }),
    defineCommand({
      name: 'ul_federation_resync',
      module: 'federation',
      description: "Write every AoR of this site to the presence store again (the site's writer)",
      params: z.object({}),
      handler: () => {
        if (!federation.publisher.writer) {
          throw new MiCommandError(403, 'Not the writer of this site (no vip tag here)');
        }
        federation.publisher.resync();
        return { queued: federation.publisher.queueDepth };
      },
    }),
  ];
}
