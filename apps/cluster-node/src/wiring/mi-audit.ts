/**
 * Every MI command that changes state (not `readOnly`) is logged at info when it runs: which
 * command, its params, over which transport (`ws` with the session id, `http`, `internal` for a
 * peer's `cluster_send_mi`), and whether it succeeded. Operators see who changed what, whether
 * it came from the dashboard, the CLI or a script.
 */
import type { MiCommand, MiRegistry } from '@sipedge/mi';
import type { Logger } from 'pino';

function audited(cmd: MiCommand, logger: Logger): MiCommand {
  return {
    ...cmd,
    handler: async (params, ctx) => {
      const who = {
        mi_command: cmd.name,
        params,
        transport: ctx.transport,
        ...(ctx.session === undefined ? {} : { session: ctx.session.id }),
      };
      try {
        const result = await cmd.handler(params, ctx);
        logger.info({ ...who, ok: true }, `MI ${cmd.name} over ${ctx.transport}`);
        return result;
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        logger.info(
          { ...who, ok: false, error: message },
          `MI ${cmd.name} over ${ctx.transport} failed`,
        );
        throw err;
      }
    },
  };
}

/** Wraps the state-changing commands registered so far, keeping the registry's order. */
export function auditStateChanges(registry: MiRegistry, logger: Logger): void {
  const commands = registry.commands();
  for (const c of commands) registry.unregister(c.name);
  registry.register(commands.map((c) => (c.readOnly ? c : audited(c, logger))));
}
